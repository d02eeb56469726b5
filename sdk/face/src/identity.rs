//! Identity continuity's measuring stick: SFace (OpenCV Zoo, 2021dec,
//! Apache-2.0), a 128-number embedding of a face aligned to 112×112 by its
//! five landmarks; two embeddings whose cosine similarity reaches
//! [`SAME_PERSON_COSINE`] are the same person by OpenCV's published
//! threshold for this model.
//!
//! This is biometric processing. Nothing here stores an embedding; where
//! one may be kept, and for how long, is the caller's decision under the
//! test's settings and the institution's legal basis.

use crate::graph::Graph;
use crate::ops::Tensor;
use crate::{Error, Face};

/// OpenCV's cosine threshold for SFace (FaceRecognizerSF, `FR_COSINE`).
pub const SAME_PERSON_COSINE: f32 = 0.363;

/// The fewest frame pixels between the eyes at which a face is compared:
/// the aligned crop puts them 35 px apart, so a smaller face is upsampled
/// past what its pixels can tell (about a face 15 % of a 320-px frame).
pub const MIN_EYE_DISTANCE: f32 = 16.0;

/// The largest tilt of the eye line, in degrees, at which a face is compared.
pub const MAX_ROLL_DEGREES: f32 = 25.0;

/// Where the nose tip may lie along the eye line, from one eye (0) to the
/// other (1), for a face to count as frontal: outside this the head is
/// turned by roughly 40° or more, and similarity falls for the same person.
pub const FRONTAL_NOSE: core::ops::RangeInclusive<f32> = 0.25..=0.75;

/// A frame darker than this (mean of 0..255) is never compared: too little
/// of the face is left to tell one person from another.
pub const MIN_LIGHT: f32 = 30.0;

/// Why a face was not compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsuitable {
    /// No face, or more than one, at the test's threshold.
    NotOneFace,
    TooSmall,
    Tilted,
    Turned,
    TooDark,
}

/// What one identity check found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// The single face's cosine similarity to the reference face.
    Compared(f32),
    /// The single face became the reference (there was none).
    Reference,
    NotCompared(Unsuitable),
}

/// A page's identity continuity: the recogniser and the reference face,
/// which lives only as long as this value (the Worker's memory).
pub struct Continuity {
    recognizer: Recognizer,
    reference: Option<Vec<f32>>,
}

impl Continuity {
    pub fn new(recognizer: Recognizer) -> Self {
        Self { recognizer, reference: None }
    }

    /// Compares the single face among `faces` (a detection of this frame)
    /// scoring at least `threshold` with the reference, or takes it as the
    /// reference when there is none; a frame with no comparable single face
    /// changes nothing.
    pub fn check(
        &mut self,
        rgba: &[u8],
        width: usize,
        height: usize,
        faces: &[Face],
        threshold: f32,
    ) -> Result<Outcome, Error> {
        let mut scored = faces.iter().filter(|f| f.score >= threshold);
        let (Some(face), None) = (scored.next(), scored.next()) else {
            return Ok(Outcome::NotCompared(Unsuitable::NotOneFace));
        };
        if let Err(why) = comparable(face) {
            return Ok(Outcome::NotCompared(why));
        }
        if crate::light::measure(rgba).mean < MIN_LIGHT {
            return Ok(Outcome::NotCompared(Unsuitable::TooDark));
        }
        let embedding = self.recognizer.embed(rgba, width, height, face)?;
        Ok(match &self.reference {
            Some(reference) => Outcome::Compared(cosine(reference, &embedding)),
            None => {
                self.reference = Some(embedding);
                Outcome::Reference
            }
        })
    }
}

/// Whether `face` is fit to compare (or to become the reference): big
/// enough, level enough, and facing the camera, judged by its landmarks.
/// Comparing a turned or tiny face would call the candidate someone else.
pub fn comparable(face: &Face) -> Result<(), Unsuitable> {
    let [(ax, ay), (bx, by), (nx, ny), _, _] = face.landmarks;
    let (dx, dy) = (bx - ax, by - ay);
    let eyes = (dx * dx + dy * dy).sqrt();
    if eyes.is_nan() || eyes < MIN_EYE_DISTANCE {
        return Err(Unsuitable::TooSmall);
    }
    // The eye line from either eye: a roll near 180° is the same tilt.
    let roll = dy.atan2(dx).to_degrees().abs();
    if roll.min(180.0 - roll) > MAX_ROLL_DEGREES {
        return Err(Unsuitable::Tilted);
    }
    let along = ((nx - ax) * dx + (ny - ay) * dy) / (eyes * eyes);
    if !FRONTAL_NOSE.contains(&along) {
        return Err(Unsuitable::Turned);
    }
    Ok(())
}

/// Where the five landmarks sit in the 112×112 crop SFace was trained on
/// (eyes, nose tip, mouth corners; the ArcFace template).
const TEMPLATE: [(f32, f32); 5] =
    [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)];
const SIDE: usize = 112;

pub struct Recognizer {
    graph: Graph,
}

impl Recognizer {
    pub fn new(model: &[u8]) -> Result<Recognizer, Error> {
        let recognizer = Recognizer { graph: Graph::load(model)? };
        // Prove the graph takes a crop and gives a vector now, not on first use.
        recognizer.embed_crop(&[0; SIDE * SIDE * 4])?;
        Ok(recognizer)
    }

    /// The embedding of `face` found in an RGBA frame, unit length.
    pub fn embed(&self, rgba: &[u8], width: usize, height: usize, face: &Face) -> Result<Vec<f32>, Error> {
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return Err(Error::Input("the frame's bytes are not width × height × 4"));
        }
        self.embed_crop(&aligned(rgba, width, height, &face.landmarks))
    }

    /// The embedding of an already aligned 112×112 RGBA crop.
    pub fn embed_crop(&self, crop: &[u8]) -> Result<Vec<f32>, Error> {
        if crop.len() != SIDE * SIDE * 4 {
            return Err(Error::Input("an aligned crop is 112 × 112 × 4 bytes"));
        }
        // RGB planes, 0..255: the model normalises inside (Sub 127.5, Mul 1/128).
        let plane = SIDE * SIDE;
        let mut input = vec![0f32; 3 * plane];
        for (i, px) in crop.chunks_exact(4).enumerate() {
            for c in 0..3 {
                input[c * plane + i] = f32::from(px[c]);
            }
        }
        let outputs = self.graph.run(Tensor::new(vec![1, 3, SIDE, SIDE], input)?)?;
        let mut v = outputs.into_iter().next().ok_or(Error::Model("SFace gave no output"))?.1.data;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm.is_nan() || norm <= 0.0 {
            return Err(Error::Model("SFace gave a zero vector"));
        }
        v.iter_mut().for_each(|x| *x /= norm);
        Ok(v)
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The similarity transform (rotation, uniform scale, shift) that best maps
/// `from` onto `to` in the least-squares sense: `(a, b, tx, ty)` for
/// `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`.
fn similarity(from: &[(f32, f32); 5], to: &[(f32, f32); 5]) -> (f32, f32, f32, f32) {
    let mean = |p: &[(f32, f32); 5]| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |(ax, ay), (x, y)| (ax + x, ay + y));
        (sx / 5.0, sy / 5.0)
    };
    let ((fx, fy), (tx, ty)) = (mean(from), mean(to));
    let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
    for ((x, y), (u, v)) in from.iter().zip(to) {
        let (x, y, u, v) = (x - fx, y - fy, u - tx, v - ty);
        dot += x * u + y * v;
        cross += x * v - y * u;
        norm += x * x + y * y;
    }
    let (a, b) = if norm > 0.0 { (dot / norm, cross / norm) } else { (1.0, 0.0) };
    (a, b, tx - (a * fx - b * fy), ty - (b * fx + a * fy))
}

/// The 112×112 RGBA crop with the landmarks moved onto the template,
/// sampled bilinearly (black outside the frame).
pub fn aligned(rgba: &[u8], width: usize, height: usize, landmarks: &[(f32, f32); 5]) -> Vec<u8> {
    let (a, b, tx, ty) = similarity(landmarks, &TEMPLATE);
    // The inverse map: crop pixel → frame position.
    let det = a * a + b * b;
    let (ia, ib) = (a / det, -b / det);
    let mut out = vec![0u8; SIDE * SIDE * 4];
    for v in 0..SIDE {
        for u in 0..SIDE {
            let (du, dv) = (u as f32 - tx, v as f32 - ty);
            let (x, y) = (ia * du - ib * dv, ib * du + ia * dv);
            let at = (v * SIDE + u) * 4;
            out[at + 3] = 255;
            if x < 0.0 || y < 0.0 || x > (width - 1) as f32 || y > (height - 1) as f32 {
                continue;
            }
            let colour = crate::frame::bilinear(rgba, width, height, x, y);
            for (value, sample) in out[at..at + 3].iter_mut().zip(colour) {
                *value = sample.round() as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_with(landmarks: [(f32, f32); 5]) -> Face {
        Face { score: 0.9, x: 0.0, y: 0.0, width: 100.0, height: 120.0, landmarks }
    }

    #[test]
    fn only_big_level_frontal_faces_are_compared() {
        let frontal = face_with(TEMPLATE);
        assert_eq!(comparable(&frontal), Ok(()));
        // The template's eyes are 35 px apart: half of it is too small.
        assert_eq!(comparable(&face_with(TEMPLATE.map(|(x, y)| (x / 2.5, y / 2.5)))), Err(Unsuitable::TooSmall));
        // Rolled 20° is fine, 35° is not.
        let roll = |deg: f32| {
            let (s, c) = deg.to_radians().sin_cos();
            face_with(TEMPLATE.map(|(x, y)| (c * x - s * y, s * x + c * y)))
        };
        assert_eq!(comparable(&roll(20.0)), Ok(()));
        assert_eq!(comparable(&roll(-20.0)), Ok(()));
        assert_eq!(comparable(&roll(35.0)), Err(Unsuitable::Tilted));
        // The nose over one eye: a head turned far to the side.
        let mut turned = TEMPLATE;
        turned[2].0 = TEMPLATE[1].0 - 2.0;
        assert_eq!(comparable(&face_with(turned)), Err(Unsuitable::Turned));
        // Eyes listed the other way round (a mirrored camera): still frontal.
        let mut mirrored = TEMPLATE;
        mirrored.swap(0, 1);
        assert_eq!(comparable(&face_with(mirrored)), Ok(()));
    }

    #[test]
    fn the_fitted_similarity_recovers_a_known_one() {
        // Rotate by 30°, scale 1.5, shift (10, -4): the fit finds it back.
        let (s, c) = (30f32.to_radians().sin() * 1.5, 30f32.to_radians().cos() * 1.5);
        let to = TEMPLATE.map(|(x, y)| (c * x - s * y + 10.0, s * x + c * y - 4.0));
        let (a, b, tx, ty) = similarity(&TEMPLATE, &to);
        assert!((a - c).abs() < 1e-4 && (b - s).abs() < 1e-4 && (tx - 10.0).abs() < 1e-3 && (ty + 4.0).abs() < 1e-3);
    }
}
