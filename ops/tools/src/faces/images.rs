//! Images in and out: JPEG files decoded to RGBA frames, frames encoded
//! back to JPEG at a chosen quality (the sweep's compression step), and
//! the few drawing primitives the made-up frames need.

use std::path::Path;

use anyhow::Context;
use invigil_face::Frame;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// A JPEG file as an RGBA frame.
pub fn read_jpeg(path: &Path) -> anyhow::Result<Frame> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    decode_jpeg(&bytes).with_context(|| format!("decoding {} (JPEG files only)", path.display()))
}

pub fn decode_jpeg(bytes: &[u8]) -> anyhow::Result<Frame> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGBA);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let rgba = decoder.decode().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let info = decoder.info().context("no image header")?;
    Frame::from_rgba(usize::from(info.width), usize::from(info.height), rgba).context("decoded size mismatch")
}

/// The frame after a JPEG round trip at `quality` (1..100), as a camera
/// snapshot or a low-bandwidth stream would deliver it.
pub fn jpeg_round_trip(frame: &Frame, quality: u8) -> anyhow::Result<Frame> {
    let rgb: Vec<u8> = frame.rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut out = Vec::new();
    let (w, h) = (u16::try_from(frame.width)?, u16::try_from(frame.height)?);
    jpeg_encoder::Encoder::new(&mut out, quality).encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)?;
    decode_jpeg(&out)
}

/// Fills the ellipse centred at `(cx, cy)` with radii `(rx, ry)`.
pub fn ellipse(frame: &mut Frame, (cx, cy): (f32, f32), (rx, ry): (f32, f32), rgb: [u8; 3]) {
    for y in 0..frame.height {
        for x in 0..frame.width {
            let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
            if dx * dx + dy * dy <= 1.0 {
                let at = (y * frame.width + x) * 4;
                frame.rgba[at..at + 3].copy_from_slice(&rgb);
            }
        }
    }
}

/// A ring (the outline of a circle), `width` pixels thick.
pub fn ring(frame: &mut Frame, (cx, cy): (f32, f32), r: f32, width: f32, rgb: [u8; 3]) {
    for y in 0..frame.height {
        for x in 0..frame.width {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            if (d - r).abs() <= width / 2.0 {
                let at = (y * frame.width + x) * 4;
                frame.rgba[at..at + 3].copy_from_slice(&rgb);
            }
        }
    }
}

/// The frame turned by `degrees` about its centre (counter-clockwise),
/// corners filled with `fill`, sampled bilinearly.
pub fn rotated(frame: &Frame, degrees: f32, fill: [u8; 3]) -> Frame {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (frame.width as f32 / 2.0, frame.height as f32 / 2.0);
    let mut out = Frame::filled(frame.width, frame.height, fill);
    for y in 0..frame.height {
        for x in 0..frame.width {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let (sx, sy) = (cos * dx - sin * dy + cx - 0.5, sin * dx + cos * dy + cy - 0.5);
            if sx < 0.0 || sy < 0.0 || sx > (frame.width - 1) as f32 || sy > (frame.height - 1) as f32 {
                continue;
            }
            let colour = invigil_face::frame::bilinear(&frame.rgba, frame.width, frame.height, sx, sy);
            let o = (y * frame.width + x) * 4;
            for (value, sample) in out.rgba[o..o + 3].iter_mut().zip(colour) {
                *value = sample.round() as u8;
            }
        }
    }
    out
}
