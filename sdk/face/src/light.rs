//! How much light a frame has: what tells "too dark to tell" apart from
//! "no face".

/// Mean and spread of a frame's luma (Rec. 601 weights), each 0..255.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Light {
    pub mean: f32,
    pub spread: f32,
}

/// Measures an RGBA frame, sampling every fourth pixel (plenty for a mean).
pub fn measure(rgba: &[u8]) -> Light {
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0u32);
    for px in rgba.chunks_exact(16) {
        let y = 0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2]);
        sum += y;
        sum_sq += y * y;
        n += 1;
    }
    if n == 0 {
        return Light { mean: 0.0, spread: 0.0 };
    }
    let mean = sum / f64::from(n);
    let var = (sum_sq / f64::from(n) - mean * mean).max(0.0);
    Light { mean: mean as f32, spread: var.sqrt() as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_split_frames() {
        let grey = [128u8, 128, 128, 255].repeat(64);
        let l = measure(&grey);
        assert!((l.mean - 128.0).abs() < 0.01 && l.spread < 0.01);
        // Alternate black and white in blocks of four pixels, so the sampled pixels alternate.
        let mut split = Vec::new();
        for i in 0..64 {
            let v = if i % 8 < 4 { 0 } else { 255 };
            split.extend([v, v, v, 255]);
        }
        let l = measure(&split);
        assert!((l.mean - 127.5).abs() < 0.5 && (l.spread - 127.5).abs() < 0.5, "{l:?}");
        assert_eq!(measure(&[]).mean, 0.0);
    }
}
