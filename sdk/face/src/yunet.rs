//! YuNet (libfacedetection, OpenCV Zoo's 2023mar export): a frame in, faces
//! out. The network is fully convolutional, so any frame size works once it
//! is padded to a multiple of its coarsest stride (32); three heads, at
//! strides 8, 16 and 32, score one anchor per cell, and overlapping boxes
//! are then reduced by non-maximum suppression.

use crate::graph::Graph;
use crate::ops::Tensor;
use crate::Error;

/// One detected face, in the frame's pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Face {
    /// 0..1: the geometric mean of the class and objectness scores.
    pub score: f32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Right eye, left eye, nose tip, right and left mouth corners (x, y).
    pub landmarks: [(f32, f32); 5],
}

impl Face {
    fn iou(&self, other: &Face) -> f32 {
        let w = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let h = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        if w <= 0.0 || h <= 0.0 {
            return 0.0;
        }
        let inter = w * h;
        inter / (self.width * self.height + other.width * other.height - inter)
    }
}

/// Boxes overlapping a better one by more than this are the same face.
const NMS_IOU: f32 = 0.3;
const STRIDES: [usize; 3] = [8, 16, 32];

pub struct Detector {
    graph: Graph,
}

impl Detector {
    /// Loads the model (fp32, or int8 with block-quantised weights, which are
    /// dequantised here once).
    pub fn new(model: &[u8]) -> Result<Detector, Error> {
        let graph = Graph::load(model)?;
        let detector = Detector { graph };
        // Prove the graph is YuNet-shaped now rather than on the first frame.
        detector.detect_rgba(&[0; 32 * 32 * 4], 32, 32, 1.0)?;
        Ok(detector)
    }

    /// Faces scoring at least `threshold` in an RGBA frame (as a canvas's
    /// `getImageData` gives it), best first.
    pub fn detect_rgba(&self, rgba: &[u8], width: usize, height: usize, threshold: f32) -> Result<Vec<Face>, Error> {
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return Err(Error::Input("the frame's bytes are not width × height × 4"));
        }
        if width > 4096 || height > 4096 {
            return Err(Error::Input("the frame is larger than 4096 pixels on a side"));
        }
        let (pw, ph) = (width.div_ceil(32) * 32, height.div_ceil(32) * 32);
        // BGR planes, 0..255, zero padding right and below: the training input.
        let plane = pw * ph;
        let mut input = vec![0f32; 3 * plane];
        for y in 0..height {
            for x in 0..width {
                let px = &rgba[(y * width + x) * 4..][..3];
                let at = y * pw + x;
                input[at] = f32::from(px[2]);
                input[plane + at] = f32::from(px[1]);
                input[2 * plane + at] = f32::from(px[0]);
            }
        }
        let outputs = self.graph.run(Tensor::new(vec![1, 3, ph, pw], input)?)?;
        let find = |name: String| {
            outputs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.data.as_slice())
                .ok_or(Error::Model("the model lacks one of YuNet's outputs"))
        };
        let mut faces = Vec::new();
        for stride in STRIDES {
            let (cls, obj) = (find(format!("cls_{stride}"))?, find(format!("obj_{stride}"))?);
            let (bbox, kps) = (find(format!("bbox_{stride}"))?, find(format!("kps_{stride}"))?);
            let cols = pw / stride;
            let cells = cols * (ph / stride);
            if cls.len() != cells || obj.len() != cells || bbox.len() != cells * 4 || kps.len() != cells * 10 {
                return Err(Error::Model("YuNet's outputs do not match the frame size"));
            }
            let s = stride as f32;
            for i in 0..cells {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < threshold {
                    continue;
                }
                let (col, row) = ((i % cols) as f32, (i / cols) as f32);
                let b = &bbox[i * 4..][..4];
                let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
                let (w, h) = (b[2].exp() * s, b[3].exp() * s);
                let k = &kps[i * 10..][..10];
                let landmarks = core::array::from_fn(|n| ((k[2 * n] + col) * s, (k[2 * n + 1] + row) * s));
                faces.push(Face { score, x: cx - w / 2.0, y: cy - h / 2.0, width: w, height: h, landmarks });
            }
        }
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Face> = Vec::new();
        for face in faces {
            if kept.iter().all(|k| k.iou(&face) <= NMS_IOU) {
                kept.push(face);
            }
        }
        Ok(kept)
    }
}
