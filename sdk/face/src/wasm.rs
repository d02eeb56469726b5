//! The Worker's interface: plain C exports over the module's memory, no
//! wasm-bindgen. The Worker (sdk/js/face-worker.js) allocates one frame
//! buffer, writes RGBA into it, calls `face_detect` and reads the numbers
//! `face_results` points at.
//!
//! Results layout (f32): `[light_mean, light_spread, then per face: score,
//! x, y, width, height, 5 × (x, y) landmarks]`, faces best first.
//!
//! Identity continuity (`face_check.mode = "identity"`) loads the recogniser
//! with `face_load_recognizer` and calls `face_identify` on the frame just
//! detected. The reference embedding lives here, in the Worker's memory,
//! and nowhere else: only a similarity goes back to the page.

use std::cell::RefCell;

use crate::identity::{Continuity, Outcome};
use crate::{light, Detector, Face, Recognizer};

/// Floats written per face after the two light figures.
const PER_FACE: usize = 15;

#[derive(Default)]
struct State {
    detector: Option<Detector>,
    /// The recogniser and the page's reference face.
    continuity: Option<Continuity>,
    /// The last detection's faces (at the Worker's floor, best first).
    faces: Vec<Face>,
    results: Vec<f32>,
    error: String,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Memory for `len` bytes the Worker fills; freed with `face_free`.
#[no_mangle]
pub extern "C" fn face_alloc(len: usize) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len);
    let ptr = buf.as_mut_ptr();
    core::mem::forget(buf);
    ptr
}

/// # Safety
/// `ptr` and `len` must come from one `face_alloc` call.
#[no_mangle]
pub unsafe extern "C" fn face_free(ptr: *mut u8, len: usize) {
    drop(Vec::from_raw_parts(ptr, 0, len));
}

/// Loads the model from `len` bytes at `ptr`: 0 on success, 1 on error
/// (`face_error_ptr`/`face_error_len` say why).
///
/// # Safety
/// `ptr..ptr+len` must be memory from `face_alloc`, filled by the caller.
#[no_mangle]
pub unsafe extern "C" fn face_load(ptr: *const u8, len: usize) -> i32 {
    load(ptr, len, Detector::new, |state, detector| state.detector = Some(detector))
}

/// Reads a model from the caller's bytes with `read` and keeps it with
/// `keep`: 0, or 1 with the reason in the error.
unsafe fn load<T>(
    ptr: *const u8,
    len: usize,
    read: fn(&[u8]) -> Result<T, crate::Error>,
    keep: fn(&mut State, T),
) -> i32 {
    let bytes = core::slice::from_raw_parts(ptr, len);
    STATE.with_borrow_mut(|state| match read(bytes) {
        Ok(model) => {
            keep(state, model);
            0
        }
        Err(e) => {
            state.error = e.to_string();
            1
        }
    })
}

/// Detects faces in a `width × height` RGBA frame at `ptr`: the number of
/// faces at or above `threshold`, or -1 on error.
///
/// # Safety
/// `ptr` must point at `width * height * 4` bytes from `face_alloc`.
#[no_mangle]
pub unsafe extern "C" fn face_detect(ptr: *const u8, width: usize, height: usize, threshold: f32) -> i32 {
    let rgba = core::slice::from_raw_parts(ptr, width.saturating_mul(height).saturating_mul(4));
    STATE.with_borrow_mut(|state| {
        let Some(detector) = &state.detector else {
            state.error = "face model: not loaded".into();
            return -1;
        };
        state.faces.clear();
        match detector.detect_rgba(rgba, width, height, threshold) {
            Ok(faces) => {
                let light = light::measure(rgba);
                state.results.clear();
                state.results.extend([light.mean, light.spread]);
                for f in &faces {
                    state.results.extend([f.score, f.x, f.y, f.width, f.height]);
                    state.results.extend(f.landmarks.iter().flat_map(|&(x, y)| [x, y]));
                }
                debug_assert_eq!(state.results.len(), 2 + faces.len() * PER_FACE);
                state.faces = faces;
                state.faces.len() as i32
            }
            Err(e) => {
                state.error = e.to_string();
                -1
            }
        }
    })
}

/// Loads the recogniser (SFace) from `len` bytes at `ptr`: 0 on success,
/// 1 on error.
///
/// # Safety
/// As for `face_load`.
#[no_mangle]
pub unsafe extern "C" fn face_load_recognizer(ptr: *const u8, len: usize) -> i32 {
    load(ptr, len, Recognizer::new, |state, recognizer| state.continuity = Some(Continuity::new(recognizer)))
}

/// Compares the single face the last `face_detect` found at or above
/// `threshold` in the same frame with the reference face: 1 when compared
/// (`face_results()[0]` is the cosine similarity), 2 when it became the
/// reference, 0 when nothing was compared (not exactly one face, or one too
/// small, tilted, turned or dark to tell), -1 on error.
///
/// # Safety
/// As for `face_detect`, with the same frame.
#[no_mangle]
pub unsafe extern "C" fn face_identify(ptr: *const u8, width: usize, height: usize, threshold: f32) -> i32 {
    let rgba = core::slice::from_raw_parts(ptr, width.saturating_mul(height).saturating_mul(4));
    STATE.with_borrow_mut(|state| {
        let State { continuity, faces, results, error, .. } = state;
        let Some(continuity) = continuity else {
            *error = "face recogniser: not loaded".into();
            return -1;
        };
        match continuity.check(rgba, width, height, faces, threshold) {
            Ok(Outcome::Compared(similarity)) => {
                results.clear();
                results.push(similarity);
                1
            }
            Ok(Outcome::Reference) => 2,
            Ok(Outcome::NotCompared(_)) => 0,
            Err(e) => {
                *error = e.to_string();
                -1
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn face_results() -> *const f32 {
    STATE.with_borrow(|state| state.results.as_ptr())
}

#[no_mangle]
pub extern "C" fn face_error_ptr() -> *const u8 {
    STATE.with_borrow(|state| state.error.as_ptr())
}

#[no_mangle]
pub extern "C" fn face_error_len() -> usize {
    STATE.with_borrow(|state| state.error.len())
}
