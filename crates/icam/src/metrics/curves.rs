//! Deletion and insertion (RISE): causal curves of the class probability as pixels are
//! removed from or revealed on the image in the map's order.

use serde::{Deserialize, Serialize};

use super::scorer::{Scorer, check_inputs, score};
use crate::error::{IcamError, Result};
use crate::maps::Map;

/// Pixel indices by decreasing map value, ties by increasing index.
pub(super) fn rank_descending(map: &Map) -> Vec<u32> {
    let mut order: Vec<u32> = (0..map.data.len() as u32).collect();
    let d = &map.data;
    order.sort_unstable_by(|&a, &b| d[b as usize].total_cmp(&d[a as usize]).then(a.cmp(&b)));
    order
}

/// Pixel indices by increasing map value, ties by increasing index.
pub(super) fn rank_ascending(map: &Map) -> Vec<u32> {
    let mut order: Vec<u32> = (0..map.data.len() as u32).collect();
    let d = &map.data;
    order.sort_unstable_by(|&a, &b| d[a as usize].total_cmp(&d[b as usize]).then(a.cmp(&b)));
    order
}

/// What removed (deletion) or not-yet-inserted (insertion) pixels are replaced with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// Black: every channel 0 in pixel space (RISE's deletion substrate).
    Zeros,
    /// Every channel set to this pixel value (e.g. 0.5 for grey).
    Constant(f32),
    /// The image blurred by a separable Gaussian of standard deviation `sigma` pixels, cut at
    /// `radius` pixels and renormalised, edges replicated (RISE's insertion substrate is
    /// `sigma = 5` on an 11×11 kernel, i.e. `radius = 5`; RISE builds its kernel with
    /// scipy's reflecting filter and zero-pads the normalised tensor, so borders differ).
    Blur { sigma: f64, radius: usize },
}

impl Baseline {
    /// RISE's insertion substrate: Gaussian blur, σ = 5, 11×11.
    pub const RISE_BLUR: Baseline = Baseline::Blur {
        sigma: 5.0,
        radius: 5,
    };

    /// The baseline image for `image` (`(3, h, w)`).
    pub fn image(&self, image: &[f32], h: usize, w: usize) -> Vec<f32> {
        match *self {
            Baseline::Zeros => vec![0.0; image.len()],
            Baseline::Constant(v) => vec![v; image.len()],
            Baseline::Blur { sigma, radius } => gaussian_blur(image, h, w, sigma, radius),
        }
    }
}

/// Separable Gaussian blur of a `(3, h, w)` image, kernel `exp(−d²/2σ²)` for `|d| ≤ radius`
/// normalised to sum 1, edges replicated (clamped indices); accumulated in float64.
pub fn gaussian_blur(image: &[f32], h: usize, w: usize, sigma: f64, radius: usize) -> Vec<f32> {
    let kernel: Vec<f64> = if sigma > 0.0 {
        let k: Vec<f64> = (0..=2 * radius)
            .map(|i| {
                let d = i as f64 - radius as f64;
                (-d * d / (2.0 * sigma * sigma)).exp()
            })
            .collect();
        let s: f64 = k.iter().sum();
        k.into_iter().map(|v| v / s).collect()
    } else {
        let mut k = vec![0.0; 2 * radius + 1];
        k[radius] = 1.0;
        k
    };
    let r = radius as isize;
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0.0f64; h * w];
    let mut out = vec![0.0f32; image.len()];
    for c in 0..3 {
        let src = &image[c * h * w..(c + 1) * h * w];
        // Horizontal pass into `tmp`.
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for x in 0..w {
                let mut acc = 0.0;
                for (k, &kv) in kernel.iter().enumerate() {
                    acc += kv * row[clamp(x as isize + k as isize - r, w)] as f64;
                }
                tmp[y * w + x] = acc;
            }
        }
        // Vertical pass into the output channel.
        let dst = &mut out[c * h * w..(c + 1) * h * w];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (k, &kv) in kernel.iter().enumerate() {
                    acc += kv * tmp[clamp(y as isize + k as isize - r, h) * w + x];
                }
                dst[y * w + x] = acc as f32;
            }
        }
    }
    out
}

/// Options of [`deletion_curve`] and [`insertion_curve`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveOptions {
    /// Number of chunks the `h·w` pixels are changed in; the curve has `steps + 1` points.
    /// (RISE changes 224 pixels per step: `steps = h·w/224`, 224 at 224×224.)
    pub steps: usize,
    /// Images per scorer call.
    pub batch: usize,
    /// Replacement of removed / not yet inserted pixels.
    pub baseline: Baseline,
}

impl CurveOptions {
    /// Deletion as RISE: black baseline; 100 steps, batches of 16.
    pub fn deletion() -> Self {
        Self {
            steps: 100,
            batch: 16,
            baseline: Baseline::Zeros,
        }
    }

    /// Insertion as RISE: pixels revealed on the blurred image (σ = 5, 11×11); 100 steps,
    /// batches of 16.
    pub fn insertion() -> Self {
        Self {
            steps: 100,
            batch: 16,
            baseline: Baseline::RISE_BLUR,
        }
    }
}

/// A deletion or insertion curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Curve {
    /// Fraction of pixels removed (deletion) or inserted (insertion) at each point, from 0
    /// to 1: `n_k/(h·w)` with `n_k = ⌊k·h·w/steps⌋`.
    pub fractions: Vec<f64>,
    /// Probability of the class at each point.
    pub probabilities: Vec<f64>,
    /// Trapezoidal area under `probabilities` over `fractions`.
    pub auc: f64,
}

/// Trapezoidal rule `Σ_k (x_k − x_{k−1})·(y_k + y_{k−1})/2`.
pub fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[1] + ys[0]) / 2.0)
        .sum()
}

/// The deletion curve (Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of
/// Black-box Models", BMVC 2018, §4.2; as torch-cam's and pytorch-grad-cam's deletion
/// metric): rank the pixels by the map, descending (ties by increasing row-major index),
/// replace them, all three channels, by `opts.baseline` (black for RISE) in `opts.steps`
/// chunks — after step `k` the first `⌊k·h·w/steps⌋` pixels are replaced — and score the
/// class after each step (step 0 is the original image). Lower AUC is better.
pub fn deletion_curve(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
    opts: &CurveOptions,
) -> Result<Curve> {
    check_inputs(image, map)?;
    let end = opts.baseline.image(image, map.h, map.w);
    causal_curve(scorer, image, &end, map, class, opts)
}

/// The area under [`deletion_curve`].
pub fn deletion_auc(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
    opts: &CurveOptions,
) -> Result<f64> {
    Ok(deletion_curve(scorer, image, map, class, opts)?.auc)
}

/// The insertion curve (RISE §4.2, as [`deletion_curve`]): start from `opts.baseline` (the
/// blurred image for RISE, [`CurveOptions::insertion`]; `Baseline::Zeros` for a black
/// canvas) and reveal the original pixels in decreasing map order, `opts.steps` chunks. Step
/// 0 is the baseline, the last step the original image. Higher AUC is better.
pub fn insertion_curve(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
    opts: &CurveOptions,
) -> Result<Curve> {
    check_inputs(image, map)?;
    let start = opts.baseline.image(image, map.h, map.w);
    causal_curve(scorer, &start, image, map, class, opts)
}

/// The area under [`insertion_curve`].
pub fn insertion_auc(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
    opts: &CurveOptions,
) -> Result<f64> {
    Ok(insertion_curve(scorer, image, map, class, opts)?.auc)
}

/// Move from `start` to `end` pixel by pixel in decreasing map order, `opts.steps` chunks,
/// scoring `steps + 1` images in batches of `opts.batch` (the batch buffers are allocated
/// once and refilled).
fn causal_curve(
    scorer: &mut dyn Scorer,
    start: &[f32],
    end: &[f32],
    map: &Map,
    class: usize,
    opts: &CurveOptions,
) -> Result<Curve> {
    if opts.steps == 0 || opts.batch == 0 {
        return Err(IcamError::Config(
            "deletion/insertion need steps ≥ 1 and batch ≥ 1".into(),
        ));
    }
    let n = map.h * map.w;
    let order = rank_descending(map);
    let steps = opts.steps;
    let counts: Vec<usize> = (0..=steps).map(|k| k * n / steps).collect();
    let mut current = start.to_vec();
    let mut buf: Vec<Vec<f32>> = Vec::with_capacity(opts.batch.min(steps + 1));
    let mut filled = 0;
    let mut probabilities = Vec::with_capacity(steps + 1);
    for k in 0..=steps {
        if k > 0 {
            for &p in &order[counts[k - 1]..counts[k]] {
                let p = p as usize;
                for c in 0..3 {
                    current[c * n + p] = end[c * n + p];
                }
            }
        }
        if filled < buf.len() {
            buf[filled].copy_from_slice(&current);
        } else {
            buf.push(current.clone());
        }
        filled += 1;
        if filled == opts.batch || k == steps {
            probabilities.extend(score(scorer, &buf[..filled], class)?);
            filled = 0;
        }
    }
    let fractions: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let auc = trapezoid(&fractions, &probabilities);
    Ok(Curve {
        fractions,
        probabilities,
        auc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_support::{FnScorer, close, map_r, red_in_r};

    #[test]
    fn deletion_curve_by_hand() {
        // All-ones 4×4 image; p = mean red over R. The map ranks R first (ties by index):
        // 0,1,4,5 | 8,9,12,13 | 2,3,6,7 | 10,11,14,15 in 4 steps of 4 px, so p =
        // 1, 1/2, 0, 0, 0 at fractions 0, 1/4, …, 1; AUC = ¼(1 + ½)/2 + ¼(½ + 0)/2 = 1/4.
        let image = vec![1.0f32; 48];
        let mut s = FnScorer::new(red_in_r);
        let opts = CurveOptions {
            steps: 4,
            batch: 2,
            baseline: Baseline::Zeros,
        };
        let c = deletion_curve(&mut s, &image, &map_r(), 0, &opts).unwrap();
        assert_eq!(c.fractions, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(c.probabilities, vec![1.0, 0.5, 0.0, 0.0, 0.0]);
        assert!(close(c.auc, 0.25, 1e-15));
        // 5 images in batches of 2.
        assert_eq!(s.calls, vec![2, 2, 1]);
        // One batch gives the same curve.
        let mut s16 = FnScorer::new(red_in_r);
        let opts16 = CurveOptions { batch: 16, ..opts };
        let c16 = deletion_curve(&mut s16, &image, &map_r(), 0, &opts16).unwrap();
        assert_eq!((c16.probabilities, s16.calls), (c.probabilities, vec![5]));
        // The inverted map removes R last: p = 1, 1, 1, ½, 0 → AUC = ¼ + ¼ + ¼·¾ + ¼·¼ = 3/4.
        let inv = Map::new(4, 4, map_r().data.iter().map(|v| 1.0 - v).collect());
        let mut s = FnScorer::new(red_in_r);
        assert!(close(
            deletion_auc(&mut s, &image, &inv, 0, &opts).unwrap(),
            0.75,
            1e-15
        ));
        // Grey baseline 0.5: p = 1, ¾, ½, ½, ½ → AUC = ¼(1.75/2 + 1.25/2 + ½ + ½) = 5/8.
        let grey = CurveOptions {
            baseline: Baseline::Constant(0.5),
            ..opts
        };
        let mut s = FnScorer::new(red_in_r);
        assert!(close(
            deletion_auc(&mut s, &image, &map_r(), 0, &grey).unwrap(),
            0.625,
            1e-15
        ));
        // 3 steps over 16 px: n_k = ⌊16k/3⌋ = 0, 5, 10, 16.
        let mut s = FnScorer::new(red_in_r);
        let c3 = deletion_curve(
            &mut s,
            &image,
            &map_r(),
            0,
            &CurveOptions { steps: 3, ..opts },
        )
        .unwrap();
        assert_eq!(c3.fractions, vec![0.0, 5.0 / 16.0, 10.0 / 16.0, 1.0]);
    }

    #[test]
    fn insertion_curve_by_hand() {
        // Black canvas, R revealed first: p = 0, ½, 1, 1, 1 → AUC =
        // ¼(0 + ½)/2 + ¼(½ + 1)/2 + ¼ + ¼ = 1/16 + 3/16 + 1/2 = 3/4.
        let image = vec![1.0f32; 48];
        let opts = CurveOptions {
            steps: 4,
            batch: 16,
            baseline: Baseline::Zeros,
        };
        let mut s = FnScorer::new(red_in_r);
        let c = insertion_curve(&mut s, &image, &map_r(), 0, &opts).unwrap();
        assert_eq!(c.probabilities, vec![0.0, 0.5, 1.0, 1.0, 1.0]);
        assert!(close(c.auc, 0.75, 1e-15));
        // RISE's blurred canvas of a constant image is the image itself: p ≡ 1, AUC 1.
        let mut s = FnScorer::new(red_in_r);
        let rise = CurveOptions {
            steps: 4,
            ..CurveOptions::insertion()
        };
        let c = insertion_curve(&mut s, &image, &map_r(), 0, &rise).unwrap();
        assert!(c.probabilities.iter().all(|&p| close(p, 1.0, 1e-6)));
        assert!(close(
            insertion_auc(&mut s, &image, &map_r(), 0, &rise).unwrap(),
            1.0,
            1e-6
        ));
    }

    #[test]
    fn curves_reject_bad_inputs() {
        let mut s = FnScorer::new(red_in_r);
        let opts = CurveOptions::deletion();
        assert!(deletion_auc(&mut s, &[0.0; 47], &map_r(), 0, &opts).is_err());
        let nan = Map::new(4, 4, vec![f64::NAN; 16]);
        assert!(deletion_auc(&mut s, &[0.0; 48], &nan, 0, &opts).is_err());
        let zero_steps = CurveOptions { steps: 0, ..opts };
        assert!(deletion_auc(&mut s, &[0.0; 48], &map_r(), 0, &zero_steps).is_err());
        // A scorer that answers the wrong number of probabilities is caught.
        struct Short;
        impl Scorer for Short {
            fn probabilities(&mut self, _: &[Vec<f32>], _: usize) -> Result<Vec<f64>> {
                Ok(vec![0.5])
            }
        }
        assert!(deletion_auc(&mut Short, &[0.0; 48], &map_r(), 0, &opts).is_err());
    }

    #[test]
    fn gaussian_blur_by_hand() {
        // 1×3 red [0, 1, 0], σ = 1, radius 1: kernel (e, 1, e)/(1 + 2e), e = exp(−½). Centre
        // → 1/(1 + 2e) ≈ 0.4519; each side (edge replicated: taps 0, 0, 1) → e/(1 + 2e) ≈
        // 0.2741. One row: the vertical pass replicates it and changes nothing.
        let e = (-0.5f64).exp();
        let img = [0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0];
        let b = gaussian_blur(&img, 1, 3, 1.0, 1);
        let (k0, k1) = (1.0 / (1.0 + 2.0 * e), e / (1.0 + 2.0 * e));
        for (got, want) in b[..3].iter().zip([k1, k0, k1]) {
            assert!(close(*got as f64, want, 1e-6), "{b:?}");
        }
        // A constant channel stays constant.
        assert!(b[3..6].iter().all(|&v| close(v as f64, 0.5, 1e-6)));
        assert!(b[6..].iter().all(|&v| v == 0.0));
    }
}
