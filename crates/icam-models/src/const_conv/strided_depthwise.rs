//! The input gradient of a strided depthwise convolution, computed directly.
//!
//! At stride 1 [`super`] turns the input gradient into a convolution that Flex runs with its
//! direct depthwise kernel; at stride 2 that identity needs the output gradient dilated with
//! zeros, and burn's own path (a transposed convolution: an outer product per channel into a
//! column buffer, then a col2im scatter) was 10 % of an EfficientNet-Lite0 forward + backward
//! (docs/performance.md). Here every input row gathers from the output rows it reached:
//! `gx[c, iy, ix] = Σ gy[c, oy, ox] · w[c, ky, kx]` over `iy = s·oy − p + ky`,
//! `ix = s·ox − p + kx`. Within a row the columns are split by their phase `ix mod s`, so each
//! kernel tap is one contiguous multiply-add over the output row (vectorised by the compiler),
//! and the phases are interleaved once per row. Planes (image × channel) run in parallel.

use rayon::prelude::*;
use std::ops::{AddAssign, Mul};

/// The shape of a depthwise convolution (one filter per channel, no dilation).
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    /// Planes: batch × channels.
    pub planes: usize,
    pub channels: usize,
    pub input: [usize; 2],
    pub output: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before the first row and column.
    pub pad: [usize; 2],
}

/// `∂L/∂x` of a depthwise convolution from `gy` (`[planes, oh, ow]`) and the weights
/// (`[channels, kh, kw]`); `[planes, ih, iw]`.
pub(super) fn input_gradient<T>(gy: &[T], w: &[T], g: &Geometry) -> Vec<T>
where
    T: Copy + Default + Send + Sync + Mul<Output = T> + AddAssign,
{
    let [ih, iw] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    debug_assert_eq!(gy.len(), g.planes * oh * ow);
    debug_assert_eq!(w.len(), g.channels * kh * kw);
    // Columns of one phase: `ix = r + sw·j`, `j < phase_len(r)`.
    let phase_len = |r: usize| if r < iw { (iw - r).div_ceil(sw) } else { 0 };
    let run = iw.div_ceil(sw);
    let mut gx = vec![T::default(); g.planes * ih * iw];
    if ih * iw == 0 {
        return gx;
    }
    // Per kernel column kx: ix = sw·ox + e with e = kx − pw = r + sw·d, so the tap adds
    // `gy[ox]·w` to phase r's column j = ox + d, for ox in lo..hi; as
    // (kx, start of the destination in the phase buffer, lo, hi).
    let taps: Vec<(usize, usize, usize, usize)> = (0..kw)
        .filter_map(|kx| {
            let e = kx as isize - pw as isize;
            let r = e.rem_euclid(sw as isize) as usize;
            let d = e.div_euclid(sw as isize);
            let lo = (-d).max(0);
            let hi = (phase_len(r) as isize - d).min(ow as isize);
            (lo < hi).then(|| {
                let at = (r * run) as isize + lo + d;
                (kx, at as usize, lo as usize, hi as usize)
            })
        })
        .collect();
    // Per input row iy: the (ky, oy) with iy = sh·oy − ph + ky.
    let rows: Vec<Vec<(usize, usize)>> = (0..ih)
        .map(|iy| {
            (0..kh)
                .filter_map(|ky| {
                    let t = (iy + ph).checked_sub(ky)?;
                    (t % sh == 0 && t / sh < oh).then_some((ky, t / sh))
                })
                .collect()
        })
        .collect();
    gx.par_chunks_mut(ih * iw).enumerate().for_each_init(
        || vec![T::default(); sw * run],
        |buf, (plane, gxp)| {
            let wk = &w[(plane % g.channels) * kh * kw..][..kh * kw];
            let gyp = &gy[plane * oh * ow..][..oh * ow];
            for (row, reached) in gxp.chunks_exact_mut(iw).zip(&rows) {
                if reached.is_empty() || taps.is_empty() {
                    continue;
                }
                buf.fill(T::default());
                for &(ky, oy) in reached {
                    let grow = &gyp[oy * ow..][..ow];
                    for &(kx, at, lo, hi) in &taps {
                        let wv = wk[ky * kw + kx];
                        let dst = &mut buf[at..][..hi - lo];
                        for (o, &gv) in dst.iter_mut().zip(&grow[lo..hi]) {
                            *o += gv * wv;
                        }
                    }
                }
                for r in 0..sw.min(iw) {
                    let src = &buf[r * run..][..phase_len(r)];
                    for (dst, &v) in row[r..].iter_mut().step_by(sw).zip(src) {
                        *dst = v;
                    }
                }
            }
        },
    );
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, summed tap by tap over the output positions.
    fn naive(gy: &[f64], w: &[f64], g: &Geometry) -> Vec<f64> {
        let [ih, iw] = g.input;
        let [oh, ow] = g.output;
        let [kh, kw] = g.kernel;
        let mut gx = vec![0.0; g.planes * ih * iw];
        for p in 0..g.planes {
            let c = p % g.channels;
            for oy in 0..oh {
                for ox in 0..ow {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (g.stride[0] * oy + ky) as isize - g.pad[0] as isize;
                            let ix = (g.stride[1] * ox + kx) as isize - g.pad[1] as isize;
                            if iy < 0 || ix < 0 || iy >= ih as isize || ix >= iw as isize {
                                continue;
                            }
                            gx[(p * ih + iy as usize) * iw + ix as usize] +=
                                gy[(p * oh + oy) * ow + ox] * w[(c * kh + ky) * kw + kx];
                        }
                    }
                }
            }
        }
        gx
    }

    /// Against the definition: strides 1–3, odd and even sizes, kernels 1–5, padding on one
    /// side, both sides or none, and output sizes that leave input rows and columns unreached.
    #[test]
    fn equals_the_definition() {
        for (input, kernel, stride, pad) in [
            ([9, 8], [3, 3], [2, 2], [0, 0]),
            ([9, 8], [3, 3], [2, 2], [1, 1]),
            ([10, 7], [5, 5], [2, 2], [2, 1]),
            ([11, 11], [5, 3], [3, 2], [2, 0]),
            ([6, 6], [1, 1], [2, 2], [0, 0]),
            ([7, 5], [3, 3], [1, 1], [1, 1]),
            ([4, 3], [5, 5], [2, 2], [2, 2]),
        ] {
            let out = |i: usize| {
                let (k, s, p) = (kernel[i], stride[i], pad[i]);
                // The largest output with its last window inside input + padding on both
                // sides (the far side padded like the near one).
                (input[i] + 2 * p - k) / s + 1
            };
            let g = Geometry {
                planes: 6,
                channels: 3,
                input,
                output: [out(0), out(1)],
                kernel,
                stride,
                pad,
            };
            let gy: Vec<f64> = (0..g.planes * g.output[0] * g.output[1])
                .map(|i| ((i * 7919 % 113) as f64 / 56.0) - 1.0)
                .collect();
            let w: Vec<f64> = (0..g.channels * kernel[0] * kernel[1])
                .map(|i| ((i * 31 % 17) as f64 / 8.0) - 1.0)
                .collect();
            let want = naive(&gy, &w, &g);
            let got = input_gradient(&gy, &w, &g);
            let d = want
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(d < 1e-12, "{g:?}: differs by {d}");
            assert!(want.iter().any(|v| v.abs() > 0.5), "{g:?}: a trivial case");
        }
    }
}
