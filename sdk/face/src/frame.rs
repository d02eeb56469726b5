//! RGBA frames for the native side: fitting photos into camera-sized
//! frames, composing several faces into one, and the degradations the
//! stress sweeps apply (dim light, backlight, noise, blur, occlusion).
//! The browser hands the detector frames its canvas already made; this is
//! for tests, sweeps and the fairness harness.

/// An RGBA image, row-major, 4 bytes a pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

/// An RGBA image's colour at `(x, y)`, a position within its pixel grid
/// (0..=width−1, 0..=height−1), each channel interpolated from the four
/// pixels around it: the one sampler resizing, rotating and face
/// alignment share.
pub fn bilinear(rgba: &[u8], width: usize, height: usize, x: f32, y: f32) -> [f32; 4] {
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let at = |x: usize, y: usize, c: usize| f32::from(rgba[(y * width + x) * 4 + c]);
    core::array::from_fn(|c| {
        let top = at(x0, y0, c) * (1.0 - tx) + at(x1, y0, c) * tx;
        let bottom = at(x0, y1, c) * (1.0 - tx) + at(x1, y1, c) * tx;
        top * (1.0 - ty) + bottom * ty
    })
}

/// Where a picture landed in a frame: `(x, y, width, height)` in pixels.
pub type Placement = (usize, usize, usize, usize);

impl Frame {
    /// A frame of one colour.
    pub fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Frame {
        Frame { width, height, rgba: [rgb[0], rgb[1], rgb[2], 255].repeat(width * height) }
    }

    pub fn from_rgba(width: usize, height: usize, rgba: Vec<u8>) -> Option<Frame> {
        (rgba.len() == width * height * 4).then_some(Frame { width, height, rgba })
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let at = (y * self.width + x) * 4;
        [self.rgba[at], self.rgba[at + 1], self.rgba[at + 2], self.rgba[at + 3]]
    }

    /// Bilinear resampling to `width × height`.
    pub fn resized(&self, width: usize, height: usize) -> Frame {
        let mut rgba = Vec::with_capacity(width * height * 4);
        let (sx, sy) = (self.width as f32 / width as f32, self.height as f32 / height as f32);
        for y in 0..height {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (self.height - 1) as f32);
            for x in 0..width {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (self.width - 1) as f32);
                rgba.extend(bilinear(&self.rgba, self.width, self.height, fx, fy).map(|v| v.round() as u8));
            }
        }
        Frame { width, height, rgba }
    }

    /// `picture` scaled to fit `w × h` (aspect kept) and centred in that
    /// box at `(x, y)`; returns where it landed.
    pub fn paste_fitted(&mut self, picture: &Frame, x: usize, y: usize, w: usize, h: usize) -> Placement {
        let scale = (w as f32 / picture.width as f32).min(h as f32 / picture.height as f32);
        let (pw, ph) =
            (((picture.width as f32 * scale) as usize).max(1), ((picture.height as f32 * scale) as usize).max(1));
        let scaled = picture.resized(pw, ph);
        let (px, py) = (x + (w - pw.min(w)) / 2, y + (h - ph.min(h)) / 2);
        for row in 0..ph.min(self.height.saturating_sub(py)) {
            let n = pw.min(self.width.saturating_sub(px));
            let dst = ((py + row) * self.width + px) * 4;
            self.rgba[dst..dst + n * 4].copy_from_slice(&scaled.rgba[row * pw * 4..][..n * 4]);
        }
        (px, py, pw, ph)
    }

    /// A new `width × height` grey frame with `picture` fitted inside.
    pub fn letterboxed(picture: &Frame, width: usize, height: usize) -> (Frame, Placement) {
        let mut frame = Frame::filled(width, height, [90, 90, 90]);
        let placed = frame.paste_fitted(picture, 0, 0, width, height);
        (frame, placed)
    }

    /// Every colour channel scaled by `gain` (0.1 = a tenth of the light).
    pub fn dimmed(&self, gain: f32) -> Frame {
        self.map_rgb(|v| (f32::from(v) * gain).round().clamp(0.0, 255.0) as u8)
    }

    /// A bright backlight: pixels outside `keep` pushed toward white by
    /// `amount` (0..1), the subject itself darkened by the camera's exposure.
    pub fn backlit(&self, keep: Placement, amount: f32) -> Frame {
        let mut out = self.clone();
        let (kx, ky, kw, kh) = keep;
        for y in 0..self.height {
            for x in 0..self.width {
                let inside = x >= kx && x < kx + kw && y >= ky && y < ky + kh;
                let at = (y * self.width + x) * 4;
                for ch in 0..3 {
                    let v = f32::from(out.rgba[at + ch]);
                    out.rgba[at + ch] = if inside { v * (1.0 - 0.6 * amount) } else { v + (255.0 - v) * amount } as u8;
                }
            }
        }
        out
    }

    /// Gaussian-like sensor noise of standard deviation `sigma` (levels),
    /// from a fixed seed so a sweep is repeatable.
    pub fn noisy(&self, sigma: f32, seed: u64) -> Frame {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32
        };
        let mut out = self.clone();
        for px in out.rgba.chunks_exact_mut(4) {
            for v in &mut px[..3] {
                // The sum of four uniforms, centred: close enough to normal here.
                let n = (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.732;
                *v = (f32::from(*v) + n * sigma).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// A box blur of `radius` pixels (two passes, separable).
    pub fn blurred(&self, radius: usize) -> Frame {
        if radius == 0 {
            return self.clone();
        }
        let pass = |src: &Frame, horizontal: bool| {
            let mut out = src.clone();
            for y in 0..src.height {
                for x in 0..src.width {
                    let mut sum = [0u32; 3];
                    let mut n = 0;
                    for d in -(radius as isize)..=radius as isize {
                        let (sx, sy) =
                            if horizontal { (x as isize + d, y as isize) } else { (x as isize, y as isize + d) };
                        if sx >= 0 && sy >= 0 && (sx as usize) < src.width && (sy as usize) < src.height {
                            let p = src.pixel(sx as usize, sy as usize);
                            for ch in 0..3 {
                                sum[ch] += u32::from(p[ch]);
                            }
                            n += 1;
                        }
                    }
                    let at = (y * src.width + x) * 4;
                    for (value, total) in out.rgba[at..at + 3].iter_mut().zip(sum) {
                        *value = (total / n) as u8;
                    }
                }
            }
            out
        };
        pass(&pass(self, true), false)
    }

    /// A flat patch over `(x, y, w, h)`: a hand, a mug, dark glasses.
    pub fn occluded(&self, area: Placement, rgb: [u8; 3]) -> Frame {
        let mut out = self.clone();
        let (x0, y0, w, h) = area;
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                let at = (y * self.width + x) * 4;
                out.rgba[at..at + 3].copy_from_slice(&rgb);
            }
        }
        out
    }

    fn map_rgb(&self, f: impl Fn(u8) -> u8) -> Frame {
        let mut out = self.clone();
        for px in out.rgba.chunks_exact_mut(4) {
            for v in &mut px[..3] {
                *v = f(*v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_aspect_and_centres() {
        let picture = Frame::filled(100, 50, [200, 10, 10]);
        let (frame, placed) = Frame::letterboxed(&picture, 320, 240);
        assert_eq!(placed, (0, 40, 320, 160));
        assert_eq!(frame.pixel(5, 5), [90, 90, 90, 255], "the border is grey");
        assert_eq!(frame.pixel(160, 120), [200, 10, 10, 255]);
    }

    #[test]
    fn degradations_do_what_they_say() {
        let f = Frame::filled(8, 8, [100, 100, 100]);
        assert_eq!(f.dimmed(0.5).pixel(0, 0), [50, 50, 50, 255]);
        let noisy = f.noisy(10.0, 1);
        assert_ne!(noisy, f);
        assert_eq!(noisy, f.noisy(10.0, 1), "a fixed seed repeats");
        let occluded = f.occluded((2, 2, 2, 2), [0, 0, 0]);
        assert_eq!((occluded.pixel(2, 2), occluded.pixel(4, 4)), ([0, 0, 0, 255], [100, 100, 100, 255]));
        let back = f.backlit((0, 0, 4, 8), 0.5);
        assert!(back.pixel(0, 0)[0] < 100 && back.pixel(7, 0)[0] > 100);
        // A blur spreads a bright dot.
        let mut dot = Frame::filled(9, 9, [0, 0, 0]);
        dot.rgba[(4 * 9 + 4) * 4] = 255;
        assert!(dot.blurred(1).pixel(3, 3)[0] > 0);
    }
}
