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
    gradient_with(gy, w, g, plane_kernel::<T>())
}

/// [`input_gradient`] with a given per-plane kernel (the tests run every one this CPU has).
fn gradient_with<T>(gy: &[T], w: &[T], g: &Geometry, kernel: PlaneFn<T>) -> Vec<T>
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
    let plan = Plan {
        taps,
        rows,
        kw,
        ow,
        sw,
        iw,
        run,
        phases: (0..sw.min(iw)).map(phase_len).collect(),
    };
    gx.par_chunks_mut(ih * iw).enumerate().for_each_init(
        || vec![T::default(); sw * run],
        |buf, (plane, gxp)| {
            let wk = &w[(plane % g.channels) * kh * kw..][..kh * kw];
            let gyp = &gy[plane * oh * ow..][..oh * ow];
            kernel(&plan, gxp, gyp, wk, buf);
        },
    );
    gx
}

/// What every plane shares: the kernel columns' taps, the output rows each input row reached,
/// and the phases' lengths.
struct Plan {
    /// Per kernel column: (kx, start in the phase buffer, first and last + 1 output column).
    taps: Vec<(usize, usize, usize, usize)>,
    /// Per input row: the (ky, oy) that reached it.
    rows: Vec<Vec<(usize, usize)>>,
    kw: usize,
    ow: usize,
    sw: usize,
    /// The input width.
    iw: usize,
    /// Length of a phase's slot in the buffer.
    run: usize,
    /// Columns of each phase.
    phases: Vec<usize>,
}

type PlaneFn<T> = fn(&Plan, &mut [T], &[T], &[T], &mut [T]);

/// One plane's gradient, compiled for the widest vector unit this CPU has: the loops are plain
/// Rust that the compiler vectorises, and a build for the baseline x86-64 target would use
/// 4-wide SSE only (the profile showed it), so the same code is compiled again under
/// `target_feature` and chosen at run time.
fn plane_kernel<T>() -> PlaneFn<T>
where
    T: Copy + Default + Mul<Output = T> + AddAssign,
{
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return |p, gx, gy, w, buf| {
                // SAFETY: the CPU has AVX-512F (checked just above).
                unsafe { plane_avx512(p, gx, gy, w, buf) }
            };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return |p, gx, gy, w, buf| {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                unsafe { plane_avx2(p, gx, gy, w, buf) }
            };
        }
    }
    plane
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn plane_avx512<T>(p: &Plan, gx: &mut [T], gy: &[T], w: &[T], buf: &mut [T])
where
    T: Copy + Default + Mul<Output = T> + AddAssign,
{
    plane(p, gx, gy, w, buf)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn plane_avx2<T>(p: &Plan, gx: &mut [T], gy: &[T], w: &[T], buf: &mut [T])
where
    T: Copy + Default + Mul<Output = T> + AddAssign,
{
    plane(p, gx, gy, w, buf)
}

/// One plane: every input row gathers its reached output rows tap by tap into the phase
/// buffer, whose phases are then interleaved into the row.
#[inline(always)]
fn plane<T>(p: &Plan, gx: &mut [T], gy: &[T], w: &[T], buf: &mut [T])
where
    T: Copy + Default + Mul<Output = T> + AddAssign,
{
    let (ow, run) = (p.ow, p.run);
    for (row, reached) in gx.chunks_exact_mut(p.iw).zip(&p.rows) {
        if reached.is_empty() || p.taps.is_empty() {
            continue;
        }
        buf.fill(T::default());
        for &(ky, oy) in reached {
            let grow = &gy[oy * ow..][..ow];
            for &(kx, at, lo, hi) in &p.taps {
                let wv = w[ky * p.kw + kx];
                let dst = &mut buf[at..][..hi - lo];
                for (o, &gv) in dst.iter_mut().zip(&grow[lo..hi]) {
                    *o += gv * wv;
                }
            }
        }
        if p.sw == 2 && p.phases.len() == 2 {
            // Stride 2: the two phases alternate, one pair of columns at a time.
            let (even, odd) = buf.split_at(run);
            let (even, odd) = (&even[..p.phases[0]], &odd[..p.phases[1]]);
            let mut pairs = row.chunks_exact_mut(2);
            for ((pair, &e), &o) in (&mut pairs).zip(even).zip(odd) {
                pair[0] = e;
                pair[1] = o;
            }
            if let [last] = pairs.into_remainder() {
                *last = even[p.phases[1]];
            }
        } else {
            for (r, &len) in p.phases.iter().enumerate() {
                let src = &buf[r * run..][..len];
                for (dst, &v) in row[r..].iter_mut().step_by(p.sw).zip(src) {
                    *dst = v;
                }
            }
        }
    }
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
            // The portable kernel and the one this CPU dispatches to (AVX-512 or AVX2 on
            // x86-64).
            for kernel in [plane as PlaneFn<f64>, plane_kernel::<f64>()] {
                let got = gradient_with(&gy, &w, &g, kernel);
                let d = want
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(d < 1e-12, "{g:?}: differs by {d}");
            }
            assert!(want.iter().any(|v| v.abs() > 0.5), "{g:?}: a trivial case");
        }
    }
}
