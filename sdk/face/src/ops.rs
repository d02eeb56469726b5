//! The kernels: dense f32 tensors in NCHW order, batch 1. Each one is written
//! so its innermost loop runs over contiguous memory, which LLVM turns into
//! SIMD (SSE/AVX natively, simd128 in the browser) without intrinsics.

use crate::Error;

/// A dense f32 tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, Error> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(Error::Model("a tensor's data does not match its shape"));
        }
        Ok(Tensor { shape, data })
    }

    /// (channels, height, width) of a batch-1 NCHW tensor.
    fn chw(&self, op: &'static str) -> Result<(usize, usize, usize), Error> {
        match self.shape[..] {
            [1, c, h, w] => Ok((c, h, w)),
            _ => Err(Error::Shape(op)),
        }
    }
}

/// A 2-D convolution with its weights, bias and an optional fused ReLU.
#[derive(Clone, Debug)]
pub struct Conv {
    /// `[out_channels][in_channels / group][kernel_h][kernel_w]`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub out_channels: usize,
    pub group: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// Top, left, bottom, right.
    pub pads: [usize; 4],
    pub relu: bool,
}

impl Conv {
    pub fn run(&self, input: &Tensor) -> Result<Tensor, Error> {
        let (c, h, w) = input.chw("Conv")?;
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let [pt, pl, pb, pr] = self.pads;
        let in_per_group = c / self.group;
        let out_per_group = self.out_channels / self.group;
        if c % self.group != 0 || self.weight.len() != self.out_channels * in_per_group * kh * kw {
            return Err(Error::Shape("Conv"));
        }
        if h + pt + pb < kh || w + pl + pr < kw {
            return Err(Error::Shape("Conv"));
        }
        let oh = (h + pt + pb - kh) / sh + 1;
        let ow = (w + pl + pr - kw) / sw + 1;
        let mut out = vec![0f32; self.out_channels * oh * ow];
        let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && self.pads == [0; 4];
        if pointwise && self.group == 1 {
            self.pointwise(&input.data, c, h * w, &mut out);
            return Tensor::new(vec![1, self.out_channels, oh, ow], out);
        }
        // Each input row split into its `sw` column phases (phase p holds
        // columns p, p + sw, p + 2sw, …): a tap then reads one phase
        // contiguously, whatever the stride. Stride 1 has one phase, the row.
        let phase_len: Vec<usize> = (0..sw).map(|p| (w + sw - 1 - p) / sw).collect();
        let phase_at: Vec<usize> =
            phase_len.iter().scan(0, |at, len| Some(core::mem::replace(at, *at + len))).collect();
        let split;
        let rows: &[f32] = if sw == 1 {
            &input.data
        } else {
            let mut phases = vec![0f32; input.data.len()];
            for (src, dst) in input.data.chunks_exact(w).zip(phases.chunks_exact_mut(w)) {
                for (x, &v) in src.iter().enumerate() {
                    dst[phase_at[x % sw] + x / sw] = v;
                }
            }
            split = phases;
            &split
        };
        // Per kernel column: its phase, and the shift from output column to phase index.
        let column_taps: Vec<(usize, isize)> = (0..kw)
            .map(|kx| {
                let d = kx as isize - pl as isize;
                (d.rem_euclid(sw as isize) as usize, d.div_euclid(sw as isize))
            })
            .collect();
        for oc in 0..self.out_channels {
            let plane = &mut out[oc * oh * ow..(oc + 1) * oh * ow];
            plane.fill(self.bias.get(oc).copied().unwrap_or(0.0));
            let g = oc / out_per_group;
            // Row by row, every tap of every input channel: the output row
            // stays in L1 while it is summed.
            for (oy, dst_row) in plane.chunks_exact_mut(ow).enumerate() {
                for i in 0..in_per_group {
                    let ic = g * in_per_group + i;
                    let taps = &self.weight[(oc * in_per_group + i) * kh * kw..][..kh * kw];
                    for ky in 0..kh {
                        let iy = oy * sh + ky;
                        if iy < pt || iy - pt >= h {
                            continue;
                        }
                        let row = &rows[(ic * h + iy - pt) * w..][..w];
                        for (kx, &(phase, shift)) in column_taps.iter().enumerate() {
                            let k = taps[ky * kw + kx];
                            let len = phase_len[phase] as isize;
                            // Output columns whose phase index ox + shift lies in the phase.
                            let ox_lo = (-shift).max(0) as usize;
                            let ox_hi = (len - shift).clamp(0, ow as isize) as usize;
                            if ox_lo >= ox_hi {
                                continue;
                            }
                            let first = phase_at[phase] + (ox_lo as isize + shift) as usize;
                            for (o, s) in dst_row[ox_lo..ox_hi].iter_mut().zip(&row[first..]) {
                                *o += k * s;
                            }
                        }
                    }
                }
            }
            if self.relu {
                for v in plane.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
        Tensor::new(vec![1, self.out_channels, oh, ow], out)
    }
}

impl Conv {
    /// A 1×1 convolution is a matrix product, `out[oc] = bias + W · in`,
    /// computed in tiles of 4 output channels × 8 positions held in
    /// registers across the whole input-channel sum: one load of the input
    /// per four multiply-adds, one store per output.
    fn pointwise(&self, input: &[f32], channels: usize, positions: usize, out: &mut [f32]) {
        const OC: usize = 4;
        const P: usize = 8;
        let bias = |oc: usize| self.bias.get(oc).copied().unwrap_or(0.0);
        let mut oc0 = 0;
        while oc0 < self.out_channels {
            let block = OC.min(self.out_channels - oc0);
            let mut p0 = 0;
            while p0 < positions {
                let n = P.min(positions - p0);
                let mut acc = [[0f32; P]; OC];
                for (j, row) in acc.iter_mut().enumerate().take(block) {
                    *row = [bias(oc0 + j); P];
                }
                if n == P && block == OC {
                    for ic in 0..channels {
                        let src: &[f32; P] = input[ic * positions + p0..][..P].try_into().unwrap_or(&[0.0; P]);
                        for (j, row) in acc.iter_mut().enumerate() {
                            let k = self.weight[(oc0 + j) * channels + ic];
                            for (a, s) in row.iter_mut().zip(src) {
                                *a += k * s;
                            }
                        }
                    }
                } else {
                    for ic in 0..channels {
                        let src = &input[ic * positions + p0..][..n];
                        for (j, row) in acc.iter_mut().enumerate().take(block) {
                            let k = self.weight[(oc0 + j) * channels + ic];
                            for (a, s) in row.iter_mut().zip(src) {
                                *a += k * s;
                            }
                        }
                    }
                }
                for (j, row) in acc.iter().enumerate().take(block) {
                    let dst = &mut out[(oc0 + j) * positions + p0..][..n];
                    for (o, a) in dst.iter_mut().zip(row) {
                        *o = if self.relu { a.max(0.0) } else { *a };
                    }
                }
                p0 += P;
            }
            oc0 += OC;
        }
    }
}

pub fn relu(mut t: Tensor) -> Tensor {
    t.data.iter_mut().for_each(|v| *v = v.max(0.0));
    t
}

pub fn sigmoid(mut t: Tensor) -> Tensor {
    t.data.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
    t
}

/// Max pooling without padding (what the supported graphs use).
pub fn max_pool(input: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor, Error> {
    let (c, h, w) = input.chw("MaxPool")?;
    let (kh, kw) = kernel;
    let (sh, sw) = stride;
    if h < kh || w < kw {
        return Err(Error::Shape("MaxPool"));
    }
    let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
    let span = (ow - 1) * sw + kw;
    let mut out = Vec::with_capacity(c * oh * ow);
    let mut row_max = vec![0f32; span];
    for ch in input.data.chunks_exact(h * w) {
        for oy in 0..oh {
            // Maxima down the kernel's rows first (contiguous passes), then across its columns.
            row_max.copy_from_slice(&ch[oy * sh * w..][..span]);
            for ky in 1..kh {
                for (m, v) in row_max.iter_mut().zip(&ch[(oy * sh + ky) * w..][..span]) {
                    *m = m.max(*v);
                }
            }
            out.extend((0..ow).map(|ox| row_max[ox * sw..][..kw].iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v))));
        }
    }
    Tensor::new(vec![1, c, oh, ow], out)
}

/// Nearest-neighbour upsampling by whole factors, `asymmetric` coordinates
/// with `floor` rounding: output pixel (y, x) takes input (y / fy, x / fx).
pub fn upsample_nearest(input: &Tensor, factor: (usize, usize)) -> Result<Tensor, Error> {
    let (c, h, w) = input.chw("Resize")?;
    let (fy, fx) = factor;
    let (oh, ow) = (h * fy, w * fx);
    let mut out = Vec::with_capacity(c * oh * ow);
    for ch in input.data.chunks_exact(h * w) {
        for oy in 0..oh {
            let row = &ch[(oy / fy) * w..][..w];
            out.extend((0..ow).map(|ox| row[ox / fx]));
        }
    }
    Tensor::new(vec![1, c, oh, ow], out)
}

pub fn add(mut a: Tensor, b: &Tensor) -> Result<Tensor, Error> {
    if a.shape != b.shape {
        return Err(Error::Shape("Add (broadcasting is not supported)"));
    }
    a.data.iter_mut().zip(&b.data).for_each(|(x, y)| *x += y);
    Ok(a)
}

pub fn transpose(input: &Tensor, perm: &[usize]) -> Result<Tensor, Error> {
    let rank = input.shape.len();
    if perm.len() != rank || (0..rank).any(|d| !perm.contains(&d)) {
        return Err(Error::Shape("Transpose"));
    }
    let mut strides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * input.shape[d + 1];
    }
    let shape: Vec<usize> = perm.iter().map(|&p| input.shape[p]).collect();
    let moved: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    let mut out = Vec::with_capacity(input.data.len());
    let mut index = vec![0usize; rank];
    for _ in 0..input.data.len() {
        out.push(input.data[index.iter().zip(&moved).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..rank).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Tensor::new(shape, out)
}

/// ONNX Reshape: 0 copies the input's dimension, -1 takes what is left.
pub fn reshape(mut t: Tensor, spec: &[i64]) -> Result<Tensor, Error> {
    let total = t.data.len();
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            0 => shape.push(*t.shape.get(i).ok_or(Error::Shape("Reshape"))?),
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            d if d > 0 => shape.push(d as usize),
            _ => return Err(Error::Shape("Reshape")),
        }
    }
    let known: usize = shape.iter().product();
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(Error::Shape("Reshape"));
        }
        shape[i] = total / known;
    }
    t.shape = shape;
    if t.shape.iter().product::<usize>() != total {
        return Err(Error::Shape("Reshape"));
    }
    Ok(t)
}

/// `x * scale[c] + shift[c]` along axis 1, whatever follows it.
pub fn channel_affine(mut t: Tensor, scale: &[f32], shift: &[f32]) -> Result<Tensor, Error> {
    let channels = *t.shape.get(1).ok_or(Error::Shape("BatchNormalization"))?;
    if t.shape[0] != 1 || channels != scale.len() {
        return Err(Error::Shape("BatchNormalization"));
    }
    let plane = t.data.len() / channels.max(1);
    for (c, values) in t.data.chunks_exact_mut(plane.max(1)).enumerate() {
        let (s, b) = (scale[c], shift[c]);
        values.iter_mut().for_each(|v| *v = *v * s + b);
    }
    Ok(t)
}

pub fn scalar_affine(mut t: Tensor, mul: f32, add: f32) -> Tensor {
    t.data.iter_mut().for_each(|v| *v = *v * mul + add);
    t
}

/// Negative values times their channel's slope (one slope for all if one is given).
pub fn prelu(mut t: Tensor, slope: &[f32]) -> Result<Tensor, Error> {
    let channels = *t.shape.get(1).unwrap_or(&1);
    if slope.len() != 1 && slope.len() != channels {
        return Err(Error::Shape("PRelu"));
    }
    let plane = t.data.len() / channels.max(1);
    for (c, values) in t.data.chunks_exact_mut(plane.max(1)).enumerate() {
        let k = if slope.len() == 1 { slope[0] } else { slope[c] };
        values.iter_mut().for_each(|v| {
            if *v < 0.0 {
                *v *= k;
            }
        });
    }
    Ok(t)
}

/// The dimensions before `axis` in one, those from it in another.
pub fn flatten(mut t: Tensor, axis: usize) -> Result<Tensor, Error> {
    if axis > t.shape.len() {
        return Err(Error::Shape("Flatten"));
    }
    let outer: usize = t.shape[..axis].iter().product();
    t.shape = vec![outer, t.shape[axis..].iter().product()];
    Ok(t)
}

/// `x · weightᵀ + bias` for one row `x`.
pub fn dense(x: &Tensor, weight: &[f32], bias: &[f32], outputs: usize) -> Result<Tensor, Error> {
    let inputs = x.data.len();
    if weight.len() != outputs * inputs || x.shape.first().is_some_and(|b| *b != 1) {
        return Err(Error::Shape("Gemm"));
    }
    let y = weight
        .chunks_exact(inputs)
        .zip(bias)
        .map(|(row, b)| b + row.iter().zip(&x.data).map(|(w, v)| w * v).sum::<f32>())
        .collect();
    Tensor::new(vec![1, outputs], y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
    }

    /// The textbook definition, one output at a time, to check the fast paths against.
    fn conv_reference(conv: &Conv, input: &Tensor) -> Tensor {
        let (c, h, w) = input.chw("Conv").unwrap();
        let (kh, kw) = conv.kernel;
        let [pt, pl, pb, pr] = conv.pads;
        let oh = (h + pt + pb - kh) / conv.stride.0 + 1;
        let ow = (w + pl + pr - kw) / conv.stride.1 + 1;
        let ipg = c / conv.group;
        let opg = conv.out_channels / conv.group;
        let mut out = vec![];
        for oc in 0..conv.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = conv.bias[oc];
                    for i in 0..ipg {
                        let ic = oc / opg * ipg + i;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * conv.stride.0 + ky) as isize - pt as isize;
                                let ix = (ox * conv.stride.1 + kx) as isize - pl as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += conv.weight[((oc * ipg + i) * kh + ky) * kw + kx]
                                        * input.data[(ic * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                    }
                    out.push(if conv.relu { acc.max(0.0) } else { acc });
                }
            }
        }
        t(&[1, conv.out_channels, oh, ow], &out)
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_conv_shape_the_detector_uses_matches_the_definition() {
        // (in, out, group, kernel, stride, pad, relu) on odd and even sizes.
        let cases = [
            (3, 4, 1, 3, 2, 1, true),
            (4, 4, 4, 3, 1, 1, false),
            (4, 6, 1, 1, 1, 0, true),
            (8, 8, 2, 3, 1, 1, true),
            (2, 3, 1, 3, 1, 0, false),
            (2, 2, 2, 3, 2, 1, false),
        ];
        for (n, &(cin, cout, group, k, s, p, relu)) in cases.iter().enumerate() {
            for (h, w) in [(7, 9), (8, 8), (5, 12)] {
                let conv = Conv {
                    weight: pseudo(cout * cin / group * k * k, n as u32 + 1),
                    bias: pseudo(cout, n as u32 + 50),
                    out_channels: cout,
                    group,
                    kernel: (k, k),
                    stride: (s, s),
                    pads: [p; 4],
                    relu,
                };
                let input = t(&[1, cin, h, w], &pseudo(cin * h * w, n as u32 + 99));
                let fast = conv.run(&input).unwrap();
                let slow = conv_reference(&conv, &input);
                assert_eq!(fast.shape, slow.shape, "case {n} at {h}x{w}");
                for (a, b) in fast.data.iter().zip(&slow.data) {
                    assert!((a - b).abs() < 1e-4, "case {n} at {h}x{w}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn pooling_upsampling_and_layout_ops() {
        let x = t(&[1, 1, 2, 4], &[1., 5., 2., 0., 3., 4., 7., 8.]);
        assert_eq!(max_pool(&x, (2, 2), (2, 2)).unwrap(), t(&[1, 1, 1, 2], &[5., 8.]));
        let up = upsample_nearest(&t(&[1, 1, 1, 2], &[1., 2.]), (2, 2)).unwrap();
        assert_eq!(up, t(&[1, 1, 2, 4], &[1., 1., 2., 2., 1., 1., 2., 2.]));
        // NCHW (1,2,1,3) → NHWC (1,1,3,2).
        let nchw = t(&[1, 2, 1, 3], &[1., 2., 3., 10., 20., 30.]);
        assert_eq!(transpose(&nchw, &[0, 2, 3, 1]).unwrap(), t(&[1, 1, 3, 2], &[1., 10., 2., 20., 3., 30.]));
        let r = reshape(nchw.clone(), &[1, -1, 2]).unwrap();
        assert_eq!(r.shape, vec![1, 3, 2]);
        assert_eq!(reshape(nchw.clone(), &[0, 0, -1]).unwrap().shape, vec![1, 2, 3]);
        assert!(reshape(nchw.clone(), &[4, -1]).is_err());
        assert!(add(nchw.clone(), &x).is_err());
        assert_eq!(add(nchw.clone(), &nchw).unwrap().data[5], 60.);
        let bn = channel_affine(t(&[1, 2, 1, 2], &[1., 2., 3., 4.]), &[2., -1.], &[1., 0.]).unwrap();
        assert_eq!(bn.data, vec![3., 5., -3., -4.]);
        assert_eq!(channel_affine(t(&[1, 2], &[1., 2.]), &[2., 3.], &[0., 1.]).unwrap().data, vec![2., 7.]);
        assert_eq!(prelu(t(&[1, 2, 1, 2], &[-1., 2., -4., 1.]), &[0.5, 0.25]).unwrap().data, vec![-0.5, 2., -1., 1.]);
        assert_eq!(scalar_affine(t(&[2], &[127.5, 255.]), 0.0078125, -127.5 * 0.0078125).data, vec![0., 0.99609375]);
        assert_eq!(flatten(t(&[1, 2, 1, 2], &[0.; 4]), 1).unwrap().shape, vec![1, 4]);
        let y = dense(&t(&[1, 3], &[1., 2., 3.]), &[1., 0., 0., 1., 1., 1.], &[0.5, -1.], 2).unwrap();
        assert_eq!(y, t(&[1, 2], &[1.5, 5.]));
        let s = sigmoid(t(&[2], &[0., 100.]));
        assert_eq!(s.data, vec![0.5, 1.0]);
        assert_eq!(relu(t(&[2], &[-1., 2.])).data, vec![0., 2.]);
    }
}
