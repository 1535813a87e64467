//! Evaluation metrics of saliency maps (issue 5): the paper's saliency score (Eq. 32), the
//! pointing game, CAM-style localisation IoU (the paper's §3.2 / Table 1), and the
//! faithfulness metrics that query the model: deletion/insertion (RISE), Average Drop and
//! Increase in Confidence (Grad-CAM++) and ROAD.
//!
//! Conventions shared by every function:
//!
//! - A map is a [`Map`] (row-major float64, `h × w`) in model-input pixel coordinates, e.g. an
//!   icam heatmap (min-max normalised to [0, 1]).
//! - A box is a [`Box2`] in continuous pixel coordinates of the same map (pixel `(x, y)`
//!   covers `[x, x+1) × [y, y+1)`). Pixel `(x, y)` is *inside* a box when its centre
//!   `(x + 0.5, y + 0.5)` lies in the half-open box `[x0, x1) × [y0, y1)`, so that boxes
//!   meeting at an edge never share a pixel; a box with integer corners covers exactly the
//!   pixels `x0..x1 × y0..y1`.
//! - An image is a pixel-space float32 `(3, h, w)` vector in [0, 1], the layout of
//!   `icam_models::PixelImage::data`. The model is reached only through the [`Scorer`] trait
//!   (softmax probability of one class per image), so the metrics know nothing about networks;
//!   [`NetworkScorer`] adapts an `icam_models::Network`.
//!
//! Every metric is per image; dataset means are taken by the caller.

use icam_models::{HostTensor, Network, Normalization, Precision};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{IcamError, Result};
use crate::maps::Map;
use crate::similarity::log_softmax;

// ---------------------------------------------------------------------------------------
// Boxes
// ---------------------------------------------------------------------------------------

/// An axis-aligned box in continuous pixel coordinates: `[x0, x1) × [y0, y1)` (see the module
/// documentation for which pixels it contains). A box with `x1 ≤ x0` or `y1 ≤ y0` is empty.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Box2 {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Box2 {
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        Self { x0, y0, x1, y1 }
    }

    /// Continuous area, `max(0, x1 − x0) · max(0, y1 − y0)`.
    pub fn area(&self) -> f64 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    /// The pixels inside the box, as half-open column and row ranges clipped to a `h × w`
    /// map: `x` is inside iff `x0 ≤ x + 0.5 < x1`, i.e. `⌈x0 − 0.5⌉ ≤ x < ⌈x1 − 0.5⌉`.
    pub fn pixel_ranges(
        &self,
        h: usize,
        w: usize,
    ) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let axis = |a0: f64, a1: f64, n: usize| {
            // `as usize` saturates (negative → 0) and maps NaN to 0.
            let lo = ((a0 - 0.5).ceil().max(0.0) as usize).min(n);
            let hi = ((a1 - 0.5).ceil().max(0.0) as usize).min(n);
            lo..hi.max(lo)
        };
        (axis(self.x0, self.x1, w), axis(self.y0, self.y1, h))
    }
}

/// Intersection over union of two boxes (continuous areas); `0` when the union is empty.
pub fn iou(a: &Box2, b: &Box2) -> f64 {
    let iw = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let ih = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    let inter = iw * ih;
    let union = a.area() + b.area() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// The union of `boxes` as a row-major `h × w` pixel mask (pixel centres, see [`Box2`]).
pub fn box_mask(h: usize, w: usize, boxes: &[Box2]) -> Vec<bool> {
    let mut mask = vec![false; h * w];
    for b in boxes {
        let (xs, ys) = b.pixel_ranges(h, w);
        for y in ys {
            mask[y * w + xs.start..y * w + xs.end].fill(true);
        }
    }
    mask
}

// ---------------------------------------------------------------------------------------
// Map-only metrics
// ---------------------------------------------------------------------------------------

/// The paper's saliency score, Eq. 32: `S = Σ_ij L ∘ L_Bbox / Σ_ij L`, the fraction of the
/// map's energy inside the ground truth, where `L_Bbox` is the union of `boxes` as a 0/1 mask
/// (pixel centres, see [`Box2`]).
///
/// The map is used as given (icam heatmaps are ≥ 0, so `S ∈ [0, 1]`; negative values are not
/// clipped). **An all-zero map returns `0.0`** (it puts no energy in the boxes), not NaN, so
/// that a dataset mean stays finite; a map containing NaN returns NaN.
pub fn energy_in_boxes(map: &Map, boxes: &[Box2]) -> f64 {
    let total = map.sum();
    if total == 0.0 {
        return 0.0;
    }
    let mask = box_mask(map.h, map.w, boxes);
    let inside: f64 = map
        .data
        .iter()
        .zip(&mask)
        .filter(|(_, m)| **m)
        .map(|(v, _)| v)
        .sum();
    inside / total
}

/// Index of the map's maximum: the first one in row-major order (as `torch.argmax`); NaN
/// values never win.
fn argmax_first(data: &[f64]) -> usize {
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    for (i, &v) in data.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

/// The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop",
/// ECCV 2016): a hit when the map's maximum — the first one in row-major order — lies inside
/// any of `boxes` (pixel centre inside, see [`Box2`]). No tolerance margin (the original adds
/// 15 pixels; enlarge the boxes to get it). A constant map points at pixel `(0, 0)`.
pub fn pointing_game(map: &Map, boxes: &[Box2]) -> bool {
    if map.data.is_empty() {
        return false;
    }
    let i = argmax_first(&map.data);
    let (x, y) = (i % map.w, i / map.w);
    boxes.iter().any(|b| {
        let (xs, ys) = b.pixel_ranges(map.h, map.w);
        xs.contains(&x) && ys.contains(&y)
    })
}

/// The foreground of the CAM localisation: pixels with `v > threshold · max(map)` — strictly
/// greater, as OpenCV's `THRESH_BINARY` used by the CAM / WSOL evaluation code, so that an
/// all-zero map has no foreground. Empty when the maximum is not positive and finite.
fn threshold_mask(map: &Map, threshold: f64) -> Option<Vec<bool>> {
    let mx = map.max();
    if !(mx > 0.0 && mx.is_finite()) {
        return None;
    }
    let t = threshold * mx;
    Some(map.data.iter().map(|&v| v > t).collect())
}

/// The CAM localisation box (Zhou et al., "Learning Deep Features for Discriminative
/// Localization", CVPR 2016, §3; the protocol behind the paper's §3.2 / Table 1): keep the
/// pixels with `v > threshold · max(map)` (**strictly greater**), take the largest
/// 8-connected component (most pixels; ties: the component found first in a row-major scan,
/// i.e. whose first pixel comes first), and return its bounding box covering whole pixels:
/// `x0 = min x`, `x1 = max x + 1` (likewise y).
///
/// `None` when no pixel passes: an all-zero map, a map whose maximum is ≤ 0 or not finite, or
/// `threshold ≥ 1`. Typical thresholds: 0.15–0.5 (CAM used 0.2).
pub fn localisation_box(map: &Map, threshold: f64) -> Option<Box2> {
    let mask = threshold_mask(map, threshold)?;
    largest_component_box(&mask, map.h, map.w)
}

/// Bounding box of the largest 8-connected component of `mask` (ties: first in row-major
/// order), by an iterative flood fill with one explicit stack.
fn largest_component_box(mask: &[bool], h: usize, w: usize) -> Option<Box2> {
    let mut seen = vec![false; h * w];
    let mut stack: Vec<u32> = Vec::new();
    // (count, x0, y0, x1, y1) of the best component so far, inclusive pixel bounds.
    let mut best: Option<(usize, usize, usize, usize, usize)> = None;
    for start in 0..h * w {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start as u32);
        let (mut count, mut x0, mut y0, mut x1, mut y1) = (0, w, h, 0, 0);
        while let Some(p) = stack.pop() {
            let p = p as usize;
            let (x, y) = (p % w, p / w);
            count += 1;
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let q = ny * w + nx;
                    if mask[q] && !seen[q] {
                        seen[q] = true;
                        stack.push(q as u32);
                    }
                }
            }
        }
        if best.is_none_or(|b| count > b.0) {
            best = Some((count, x0, y0, x1, y1));
        }
    }
    best.map(|(_, x0, y0, x1, y1)| {
        Box2::new(x0 as f64, y0 as f64, (x1 + 1) as f64, (y1 + 1) as f64)
    })
}

/// Localisation IoU (the paper's §3.2, summed over correct predictions into `IoU_avg` by the
/// caller): the best [`iou`] of [`localisation_box`]`(map, threshold)` against any of
/// `gt_boxes`. `0.0` when there is no localisation box or no ground-truth box. The usual
/// accuracy is `localisation_iou ≥ 0.5`.
pub fn localisation_iou(map: &Map, gt_boxes: &[Box2], threshold: f64) -> f64 {
    match localisation_box(map, threshold) {
        Some(b) => best_iou(&b, gt_boxes),
        None => 0.0,
    }
}

fn best_iou(b: &Box2, gt_boxes: &[Box2]) -> f64 {
    gt_boxes.iter().map(|g| iou(b, g)).fold(0.0, f64::max)
}

/// [`localisation_iou`] at each of `thresholds` (e.g. the WSOL sweep 0.00, 0.01, …, 0.99), in
/// order; the threshold mask buffer and the flood-fill stack are reused between thresholds.
pub fn localisation_ious(map: &Map, gt_boxes: &[Box2], thresholds: &[f64]) -> Vec<f64> {
    let mx = map.max();
    if !(mx > 0.0 && mx.is_finite()) {
        return vec![0.0; thresholds.len()];
    }
    let mut mask = vec![false; map.h * map.w];
    thresholds
        .iter()
        .map(|&t| {
            let cut = t * mx;
            for (m, &v) in mask.iter_mut().zip(&map.data) {
                *m = v > cut;
            }
            largest_component_box(&mask, map.h, map.w).map_or(0.0, |b| best_iou(&b, gt_boxes))
        })
        .collect()
}

/// The literal pixel-mask reading of the paper's §3.2 formula `L ∩ L_Bbox / L ∪ L_Bbox`: IoU,
/// in pixel counts, of the thresholded map (`v > threshold · max`, every component) against
/// the union of the boxes' pixels. `0.0` when both are empty. Given for comparison; the CAM
/// literature's box protocol is [`localisation_iou`].
pub fn mask_iou(map: &Map, boxes: &[Box2], threshold: f64) -> f64 {
    let gt = box_mask(map.h, map.w, boxes);
    let fg = threshold_mask(map, threshold).unwrap_or_else(|| vec![false; map.h * map.w]);
    let (mut inter, mut union) = (0usize, 0usize);
    for (&a, &b) in fg.iter().zip(&gt) {
        inter += usize::from(a && b);
        union += usize::from(a || b);
    }
    if union > 0 {
        inter as f64 / union as f64
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------
// The model callback
// ---------------------------------------------------------------------------------------

/// What the faithfulness metrics need from a model: the softmax probability of `class` for
/// each image of a batch. Each image is a pixel-space float32 `(3, h, w)` vector in [0, 1]
/// (the layout of `icam_models::PixelImage::data`); the metrics call it with batches of at
/// most their `batch` option, all images of one size.
pub trait Scorer {
    fn probabilities(&mut self, images: &[Vec<f32>], class: usize) -> Result<Vec<f64>>;
}

/// A [`Scorer`] running an icam network: normalise, forward (no taps, no gradients), softmax
/// in float64.
pub struct NetworkScorer<'a> {
    pub net: &'a dyn Network,
    pub normalization: Normalization,
    pub height: usize,
    pub width: usize,
}

impl Scorer for NetworkScorer<'_> {
    fn probabilities(&mut self, images: &[Vec<f32>], class: usize) -> Result<Vec<f64>> {
        let classes = self.net.num_classes();
        if class >= classes {
            return Err(IcamError::Config(format!(
                "class {class} is out of range: the model has {classes} classes"
            )));
        }
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let hw = self.height * self.width;
        let len = 3 * hw;
        if let Some(bad) = images.iter().find(|im| im.len() != len) {
            return Err(IcamError::Config(format!(
                "image of {} values, expected 3·{}·{} = {len}",
                bad.len(),
                self.height,
                self.width
            )));
        }
        let shape = vec![images.len(), 3, self.height, self.width];
        let n = self.normalization;
        let input = match self.net.precision() {
            Precision::F32 => HostTensor::f32(
                shape,
                images
                    .iter()
                    .flat_map(|im| im.iter().enumerate())
                    .map(|(i, &x)| n.apply_f32(x, i / hw))
                    .collect(),
            ),
            Precision::F64 => HostTensor::f64(
                shape,
                images
                    .iter()
                    .flat_map(|im| im.iter().enumerate())
                    .map(|(i, &x)| n.apply_f64(x as f64, i / hw))
                    .collect(),
            ),
        };
        let logits = icam_models::logits(self.net, &input)?;
        Ok((0..images.len())
            .map(|b| log_softmax(&logits.sample_f64(b))[class].exp())
            .collect())
    }
}

/// Call the scorer and check its answer: one finite probability per image.
fn score(scorer: &mut dyn Scorer, images: &[Vec<f32>], class: usize) -> Result<Vec<f64>> {
    let p = scorer.probabilities(images, class)?;
    if p.len() != images.len() {
        return Err(IcamError::Numeric(format!(
            "the scorer returned {} probabilities for {} images",
            p.len(),
            images.len()
        )));
    }
    if p.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(
            "the scorer returned a NaN or infinite probability".into(),
        ));
    }
    Ok(p)
}

/// Score `images` in chunks of `batch`.
fn score_batched(
    scorer: &mut dyn Scorer,
    images: &[Vec<f32>],
    class: usize,
    batch: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch.max(1)) {
        out.extend(score(scorer, chunk, class)?);
    }
    Ok(out)
}

/// The image must be `(3, h, w)` for the map's `h × w`, and the map finite and non-empty.
fn check_inputs(image: &[f32], map: &Map) -> Result<()> {
    if map.data.is_empty() {
        return Err(IcamError::Config("the map is empty".into()));
    }
    if image.len() != 3 * map.h * map.w {
        return Err(IcamError::Config(format!(
            "image of {} values does not match the {}×{} map (expected 3·{}·{})",
            image.len(),
            map.h,
            map.w,
            map.h,
            map.w
        )));
    }
    if map.data.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(
            "the map has NaN or infinite values".into(),
        ));
    }
    Ok(())
}

/// Pixel indices by decreasing map value, ties by increasing index.
fn rank_descending(map: &Map) -> Vec<u32> {
    let mut order: Vec<u32> = (0..map.data.len() as u32).collect();
    let d = &map.data;
    order.sort_unstable_by(|&a, &b| d[b as usize].total_cmp(&d[a as usize]).then(a.cmp(&b)));
    order
}

/// Pixel indices by increasing map value, ties by increasing index.
fn rank_ascending(map: &Map) -> Vec<u32> {
    let mut order: Vec<u32> = (0..map.data.len() as u32).collect();
    let d = &map.data;
    order.sort_unstable_by(|&a, &b| d[a as usize].total_cmp(&d[b as usize]).then(a.cmp(&b)));
    order
}

// ---------------------------------------------------------------------------------------
// Deletion and insertion (RISE)
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Average Drop and Increase in Confidence (Grad-CAM++)
// ---------------------------------------------------------------------------------------

/// The class probability on the original image and on the explanation image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConfidenceChange {
    /// `Y`: probability on the original image.
    pub original: f64,
    /// `O`: probability on the explanation image `E = L ∘ I`.
    pub explained: f64,
    /// [`average_drop`]`(Y, O)`.
    pub drop: f64,
    /// [`increase_in_confidence`]`(Y, O)`.
    pub increase: bool,
}

/// One image's term of Average Drop (Chattopadhay et al., "Grad-CAM++", WACV 2018, §5.1):
/// `max(0, Y − O)/Y`, a fraction (the paper's "Average Drop %" is `100/N · Σ_i` of it over
/// the dataset, taken by the caller). `Y ≤ 0` (a probability that underflowed) gives `0`.
pub fn average_drop(original: f64, explained: f64) -> f64 {
    if original > 0.0 {
        (original - explained).max(0.0) / original
    } else {
        0.0
    }
}

/// One image's term of "% Increase in Confidence" (Grad-CAM++ §5.1): `[O > Y]`, strictly
/// (the paper's figure is `100/N · Σ_i` of it).
pub fn increase_in_confidence(original: f64, explained: f64) -> bool {
    explained > original
}

/// `Y` and `O` for one image in one scorer call of two images: the original, and the
/// explanation image `E = L ∘ I` (Grad-CAM++ §5.1), every channel of pixel `i` multiplied by
/// `map[i]` in pixel space. The map must already be at the image size and in [0, 1] (an icam
/// heatmap; otherwise `Map::minmax` it first) — values outside are an error. (pytorch-grad-cam's
/// `DropInConfidence` multiplies the *normalised* model input instead, which is not the
/// paper's `L ∘ I` when the normalisation has an offset.)
pub fn explanation_confidence(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
) -> Result<ConfidenceChange> {
    check_inputs(image, map)?;
    if map.data.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(IcamError::Config(
            "Average Drop needs a map in [0, 1] (min-max normalise it first)".into(),
        ));
    }
    let n = map.h * map.w;
    let mut explained = image.to_vec();
    for c in 0..3 {
        for (v, &m) in explained[c * n..(c + 1) * n].iter_mut().zip(&map.data) {
            *v = (*v as f64 * m) as f32;
        }
    }
    let p = score(scorer, &[image.to_vec(), explained], class)?;
    let (y, o) = (p[0], p[1]);
    Ok(ConfidenceChange {
        original: y,
        explained: o,
        drop: average_drop(y, o),
        increase: increase_in_confidence(y, o),
    })
}

// ---------------------------------------------------------------------------------------
// ROAD: remove and debias (Rong et al. 2022)
// ---------------------------------------------------------------------------------------

/// The 8 neighbour offsets `(dy, dx)` and weights of the noisy linear imputer (ROAD's
/// `neighbors_weights`): 1/6 for the four edge neighbours, 1/12 for the diagonals.
const NEIGHBOURS: [(isize, isize, f64); 8] = [
    (-1, -1, 1.0 / 12.0),
    (-1, 0, 1.0 / 6.0),
    (-1, 1, 1.0 / 12.0),
    (0, -1, 1.0 / 6.0),
    (0, 1, 1.0 / 6.0),
    (1, -1, 1.0 / 12.0),
    (1, 0, 1.0 / 6.0),
    (1, 1, 1.0 / 12.0),
];

const NO_NEIGHBOUR: u32 = u32::MAX;

/// ROAD's noisy linear imputation (Rong, Leemann, Borisov, Kasneci, Kasneci, "A Consistent
/// and Efficient Evaluation Strategy for Attribution Methods", ICML 2022, §4; pytorch-grad-cam's
/// `NoisyLinearImputer`): every removed pixel `i` (`removed[i]`, row-major `h × w`) takes,
/// per channel, the weighted mean of its in-image 8 neighbours (weights 1/6 edge, 1/12
/// diagonal, renormalised over the neighbours that exist), removed neighbours being unknowns
/// too:
///
/// `(Σ_{j∈N(i)} w_j) x_i − Σ_{j∈N(i) removed} w_j x_j = Σ_{j∈N(i) kept} w_j v_j`,
///
/// then `noise · N(0, 1)` is added to each imputed value (ChaCha8 seeded with `seed`, draws
/// channel by channel, pixels in row-major order) and the result clamped to [0, 1] (the
/// [`Scorer`] contract; pytorch-grad-cam does not clamp). `noise` is in pixel units;
/// pytorch-grad-cam adds 0.01 to the *normalised* input, i.e. about 0.01·0.226 ≈ 0.0023 pixel
/// units with ImageNet statistics (the imputation itself is the same in either space: it is
/// affine per channel and its weights sum to 1).
///
/// The system is symmetric positive definite (a graph Laplacian plus the positive weights of
/// kept neighbours; every 8-connected group of removed pixels touches a kept pixel unless
/// everything is removed, which is an error). The reference solves it with scipy's sparse
/// direct `spsolve`; here a matrix-free Jacobi-preconditioned conjugate gradient on the
/// 9-point stencil, all three channels in one sweep, to a relative residual of 1e-6 — written
/// by hand because the stencil needs no matrix storage and no sparse-solver crate (sprs,
/// nalgebra-sparse, faer) is a dependency of icam for this one solve.
pub fn noisy_linear_impute(
    image: &[f32],
    h: usize,
    w: usize,
    removed: &[bool],
    noise: f64,
    seed: u64,
) -> Result<Vec<f32>> {
    let n = h * w;
    if image.len() != 3 * n || removed.len() != n {
        return Err(IcamError::Config(format!(
            "imputation of a {h}×{w} image needs 3·{n} values and {n} mask entries, got {} and {}",
            image.len(),
            removed.len()
        )));
    }
    let mut out = image.to_vec();
    // Unknown index of each removed pixel, and its pixel index.
    let mut vidx = vec![NO_NEIGHBOUR; n];
    let mut pixels: Vec<u32> = Vec::new();
    for (p, &r) in removed.iter().enumerate() {
        if r {
            vidx[p] = pixels.len() as u32;
            pixels.push(p as u32);
        }
    }
    let m = pixels.len();
    if m == 0 {
        return Ok(out);
    }
    if m == n {
        return Err(IcamError::Config(
            "ROAD cannot impute an image with every pixel removed".into(),
        ));
    }
    // The stencil: per unknown, its diagonal, its unknown neighbours (8 slots) and the
    // right-hand side of each channel (interleaved: unknown i, channel c at 3i + c).
    let mut diag = vec![0.0f64; m];
    let mut nb = vec![NO_NEIGHBOUR; 8 * m];
    let mut rhs = vec![0.0f64; 3 * m];
    for (i, &p) in pixels.iter().enumerate() {
        let (y, x) = ((p as usize / w) as isize, (p as usize % w) as isize);
        for (k, &(dy, dx, wt)) in NEIGHBOURS.iter().enumerate() {
            let (ny, nx) = (y + dy, x + dx);
            if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                continue;
            }
            let q = ny as usize * w + nx as usize;
            diag[i] += wt;
            if removed[q] {
                nb[8 * i + k] = vidx[q];
            } else {
                for c in 0..3 {
                    rhs[3 * i + c] += wt * image[c * n + q] as f64;
                }
            }
        }
    }
    let x = solve_stencil(&diag, &nb, &rhs)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for c in 0..3 {
        for (i, &p) in pixels.iter().enumerate() {
            let eps: f64 = if noise > 0.0 {
                noise * rng.sample::<f64, _>(StandardNormal)
            } else {
                0.0
            };
            out[c * n + p as usize] = (x[3 * i + c] + eps).clamp(0.0, 1.0) as f32;
        }
    }
    Ok(out)
}

/// `y = A x` for the imputation stencil, three interleaved channels.
fn stencil_apply(diag: &[f64], nb: &[u32], x: &[f64], y: &mut [f64]) {
    for (i, &d) in diag.iter().enumerate() {
        let mut acc = [d * x[3 * i], d * x[3 * i + 1], d * x[3 * i + 2]];
        for (k, &(_, _, wt)) in NEIGHBOURS.iter().enumerate() {
            let j = nb[8 * i + k];
            if j != NO_NEIGHBOUR {
                let j = 3 * j as usize;
                acc[0] -= wt * x[j];
                acc[1] -= wt * x[j + 1];
                acc[2] -= wt * x[j + 2];
            }
        }
        y[3 * i..3 * i + 3].copy_from_slice(&acc);
    }
}

/// Relative residual at which the imputation's conjugate gradient stops, per channel. At
/// 224×224 it leaves the solution within ~1e-5 of the exact one (measured against a 1e-9
/// solve), far below an 8-bit step (0.004) and the default noise (0.01).
const CG_TOLERANCE: f64 = 1e-6;

/// Jacobi-preconditioned conjugate gradient for the three right-hand sides at once (each
/// channel its own step sizes), from the Jacobi guess `x = D⁻¹ b`, to `‖r‖ ≤ CG_TOLERANCE·‖b‖`
/// per channel. Five work vectors, no allocation inside the loop.
fn solve_stencil(diag: &[f64], nb: &[u32], b: &[f64]) -> Result<Vec<f64>> {
    let m = diag.len();
    let inv: Vec<f64> = diag.iter().map(|d| 1.0 / d).collect();
    let dot3 = |u: &[f64], v: &[f64]| {
        let mut s = [0.0f64; 3];
        for (a, b) in u.chunks_exact(3).zip(v.chunks_exact(3)) {
            s[0] += a[0] * b[0];
            s[1] += a[1] * b[1];
            s[2] += a[2] * b[2];
        }
        s
    };
    let mut x = vec![0.0f64; 3 * m];
    for ((xi, bi), &d) in x.chunks_exact_mut(3).zip(b.chunks_exact(3)).zip(&inv) {
        xi.iter_mut().zip(bi).for_each(|(x, b)| *x = b * d);
    }
    let mut r = vec![0.0f64; 3 * m];
    stencil_apply(diag, nb, &x, &mut r);
    r.iter_mut().zip(b).for_each(|(r, b)| *r = b - *r);
    let mut z = vec![0.0f64; 3 * m];
    for ((zi, ri), &d) in z.chunks_exact_mut(3).zip(r.chunks_exact(3)).zip(&inv) {
        zi.iter_mut().zip(ri).for_each(|(z, r)| *z = r * d);
    }
    let mut p = z.clone();
    let mut ap = vec![0.0f64; 3 * m];
    let bb = dot3(b, b);
    let tol: [f64; 3] = std::array::from_fn(|c| CG_TOLERANCE * CG_TOLERANCE * bb[c]);
    let mut rz = dot3(&r, &z);
    let mut rr = dot3(&r, &r);
    let max_iter = 10 * m + 100;
    for _ in 0..max_iter {
        let active: [bool; 3] = std::array::from_fn(|c| rr[c] > tol[c] && rr[c] > 0.0);
        if !active.iter().any(|&a| a) {
            return Ok(x);
        }
        stencil_apply(diag, nb, &p, &mut ap);
        let pap = dot3(&p, &ap);
        let alpha: [f64; 3] = std::array::from_fn(|c| if active[c] { rz[c] / pap[c] } else { 0.0 });
        let (mut rz_new, mut rr_new) = ([0.0f64; 3], [0.0f64; 3]);
        for ((((xi, ri), zi), (pi, api)), &d) in x
            .chunks_exact_mut(3)
            .zip(r.chunks_exact_mut(3))
            .zip(z.chunks_exact_mut(3))
            .zip(p.chunks_exact(3).zip(ap.chunks_exact(3)))
            .zip(&inv)
        {
            for c in 0..3 {
                xi[c] += alpha[c] * pi[c];
                ri[c] -= alpha[c] * api[c];
                zi[c] = ri[c] * d;
                rz_new[c] += ri[c] * zi[c];
                rr_new[c] += ri[c] * ri[c];
            }
        }
        let beta: [f64; 3] =
            std::array::from_fn(|c| if active[c] { rz_new[c] / rz[c] } else { 0.0 });
        for (pi, zi) in p.chunks_exact_mut(3).zip(z.chunks_exact(3)) {
            for c in 0..3 {
                pi[c] = zi[c] + beta[c] * pi[c];
            }
        }
        rz = rz_new;
        rr = rr_new;
    }
    Err(IcamError::Numeric(format!(
        "ROAD imputation: conjugate gradient did not converge in {max_iter} iterations"
    )))
}

/// Which pixels ROAD removes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoadOrder {
    /// MoRF (pytorch-grad-cam's `ROADMostRelevantFirst`): the highest map values; a faithful
    /// map makes the probability fall fast.
    MostRelevantFirst,
    /// LeRF (`ROADLeastRelevantFirst`): the lowest map values; a faithful map keeps the
    /// probability.
    LeastRelevantFirst,
}

/// Options of [`road`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoadOptions {
    /// Standard deviation of the imputation noise, pixel units (see [`noisy_linear_impute`]).
    pub noise: f64,
    /// Seed of the noise; each percentage uses a generator seeded with it, so one
    /// percentage's image does not depend on the others in the list.
    pub seed: u64,
    /// Images per scorer call.
    pub batch: usize,
}

impl Default for RoadOptions {
    fn default() -> Self {
        Self {
            noise: 0.01,
            seed: 0,
            batch: 16,
        }
    }
}

/// ROAD at several removal percentages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoadResult {
    /// Probability of the class on the original image.
    pub original: f64,
    /// The percentages, as given.
    pub percents: Vec<f64>,
    /// Probability after removing and imputing each percentage.
    pub probabilities: Vec<f64>,
    /// `probability − original` for each (pytorch-grad-cam's `return_diff`); MoRF: more
    /// negative is better, LeRF: closer to 0 is better.
    pub changes: Vec<f64>,
}

/// ROAD (Rong et al. 2022, without retraining, as pytorch-grad-cam's
/// `ROADMostRelevantFirst` / `ROADLeastRelevantFirst`): for each `p` of `percents`, remove
/// `round(p/100 · h·w)` pixels — the most relevant (map descending) or the least relevant
/// (ascending), ties by increasing row-major index — impute them with
/// [`noisy_linear_impute`] (the percentages in parallel, one thread per core), and score the
/// class. One scorer pass over `[original, image_p…]` in batches of `opts.batch`.
///
/// `p` is the **percentage removed**, as in the ROAD paper's curves. pytorch-grad-cam's
/// `ROADMostRelevantFirst(percentile=q)` instead removes the pixels at or above the map's
/// `q`-th percentile (about `100 − q` % of them, and all ties at the cut), and
/// `ROADLeastRelevantFirst(q)` those at or below the `(100 − q)`-th; averaged over its
/// default `q = 10, 20, …, 90` both conventions give the same mean up to ties. `p` must lie
/// in `[0, 100)`; at least one pixel is always kept.
pub fn road(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
    order: RoadOrder,
    percents: &[f64],
    opts: &RoadOptions,
) -> Result<RoadResult> {
    check_inputs(image, map)?;
    if let Some(p) = percents.iter().find(|p| !(0.0..100.0).contains(*p)) {
        return Err(IcamError::Config(format!(
            "ROAD percentage {p} is outside [0, 100)"
        )));
    }
    let n = map.h * map.w;
    let ranking = match order {
        RoadOrder::MostRelevantFirst => rank_descending(map),
        RoadOrder::LeastRelevantFirst => rank_ascending(map),
    };
    // The imputations are independent: one scoped thread per core, percentage i on thread
    // i mod threads (the large percentages, the slow solves, spread out).
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(percents.len())
        .max(1);
    let ranking = &ranking;
    let mut imputed: Vec<Option<Result<Vec<f32>>>> = (0..percents.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut removed = vec![false; n];
                    let mut done = Vec::new();
                    for i in (t..percents.len()).step_by(threads) {
                        let count = ((percents[i] / 100.0 * n as f64).round() as usize).min(n - 1);
                        removed.fill(false);
                        for &q in &ranking[..count] {
                            removed[q as usize] = true;
                        }
                        let im = noisy_linear_impute(
                            image, map.h, map.w, &removed, opts.noise, opts.seed,
                        );
                        done.push((i, im));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            for (i, im) in h.join().expect("ROAD imputation thread panicked") {
                imputed[i] = Some(im);
            }
        }
    });
    let mut images = Vec::with_capacity(percents.len() + 1);
    images.push(image.to_vec());
    for im in imputed {
        images.push(im.expect("every percentage imputed")?);
    }
    let probs = score_batched(scorer, &images, class, opts.batch)?;
    let original = probs[0];
    let probabilities = probs[1..].to_vec();
    let changes = probabilities.iter().map(|p| p - original).collect();
    Ok(RoadResult {
        original,
        percents: percents.to_vec(),
        probabilities,
        changes,
    })
}

/// pytorch-grad-cam's `ROADCombined` for one image: `(mean LeRF change − mean MoRF change)/2`
/// over the same percentages (higher is better). Empty lists give 0.
pub fn road_combined(morf: &RoadResult, lerf: &RoadResult) -> f64 {
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    (mean(&lerf.changes) - mean(&morf.changes)) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// A fake model: the probability is `f(image)`; records the size of every call.
    struct FnScorer<F: FnMut(&[f32]) -> f64> {
        f: F,
        calls: Vec<usize>,
    }

    impl<F: FnMut(&[f32]) -> f64> FnScorer<F> {
        fn new(f: F) -> Self {
            Self {
                f,
                calls: Vec::new(),
            }
        }
    }

    impl<F: FnMut(&[f32]) -> f64> Scorer for FnScorer<F> {
        fn probabilities(&mut self, images: &[Vec<f32>], _class: usize) -> Result<Vec<f64>> {
            self.calls.push(images.len());
            Ok(images.iter().map(|im| (self.f)(im)).collect())
        }
    }

    /// 4×4 test geometry: region R = the two left columns, row-major indices
    /// 0, 1, 4, 5, 8, 9, 12, 13.
    const W4: usize = 4;
    fn in_r(p: usize) -> bool {
        p % W4 < 2
    }

    /// Mean of the red channel over R.
    fn red_in_r(im: &[f32]) -> f64 {
        (0..16)
            .filter(|&p| in_r(p))
            .map(|p| im[p] as f64)
            .sum::<f64>()
            / 8.0
    }

    /// 1 on R, 0 elsewhere.
    fn map_r() -> Map {
        Map::new(
            4,
            4,
            (0..16).map(|p| f64::from(u8::from(in_r(p)))).collect(),
        )
    }

    #[test]
    fn box_pixels_use_half_open_centres() {
        // 3×4 map (h = 3, w = 4). Box [1, 3) × [0, 2): centres 1.5, 2.5 in x and 0.5, 1.5 in
        // y → pixels (1,0), (2,0), (1,1), (2,1) = indices 1, 2, 5, 6.
        let m = box_mask(3, 4, &[Box2::new(1.0, 0.0, 3.0, 2.0)]);
        let on: Vec<usize> = (0..12).filter(|&i| m[i]).collect();
        assert_eq!(on, vec![1, 2, 5, 6]);
        // [0.6, 1.4): neither centre 0.5 (< 0.6) nor 1.5 (≥ 1.4) → no column at all.
        assert!(!box_mask(3, 4, &[Box2::new(0.6, 0.0, 1.4, 3.0)]).contains(&true));
        // [0.5, 1.5): centre 0.5 is in (closed start), 1.5 is out (open end) → column 0.
        let (xs, ys) = Box2::new(0.5, 0.5, 1.5, 1.5).pixel_ranges(3, 4);
        assert_eq!((xs, ys), (0..1, 0..1));
        // Boxes beyond the map are clipped; inverted boxes are empty.
        assert_eq!(
            Box2::new(-5.0, -5.0, 100.0, 100.0).pixel_ranges(3, 4),
            (0..4, 0..3)
        );
        assert!(
            Box2::new(3.0, 2.0, 1.0, 0.0)
                .pixel_ranges(3, 4)
                .0
                .is_empty()
        );
        let json = serde_json::to_string(&Box2::new(1.0, 2.0, 3.0, 4.0)).unwrap();
        assert_eq!(json, r#"{"x0":1.0,"y0":2.0,"x1":3.0,"y1":4.0}"#);
        let back: Box2 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Box2::new(1.0, 2.0, 3.0, 4.0));
    }

    #[test]
    fn energy_in_boxes_is_eq_32() {
        // [[1, 2, 3], [4, 5, 6]], Σ = 21. Box [1, 3) × [0, 1) holds 2 + 3 = 5 → 5/21.
        let m = Map::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let a = Box2::new(1.0, 0.0, 3.0, 1.0);
        assert!(close(energy_in_boxes(&m, &[a]), 5.0 / 21.0, 1e-15));
        // Adding [2, 3) × [0, 2) (values 3, 6): the union {2, 3, 6} counts the shared 3
        // once → 11/21.
        let b = Box2::new(2.0, 0.0, 3.0, 2.0);
        assert!(close(energy_in_boxes(&m, &[a, b]), 11.0 / 21.0, 1e-15));
        // Whole map → 1; no box → 0; all-zero map → 0 (documented, not NaN).
        assert_eq!(energy_in_boxes(&m, &[Box2::new(0.0, 0.0, 3.0, 2.0)]), 1.0);
        assert_eq!(energy_in_boxes(&m, &[]), 0.0);
        assert_eq!(energy_in_boxes(&Map::zeros(2, 3), &[a]), 0.0);
    }

    #[test]
    fn pointing_game_uses_the_first_maximum() {
        // [[0, 5, 1], [5, 2, 0]]: the maximum 5 appears at (1,0) and (0,1); the first in
        // row-major order is (1,0).
        let m = Map::new(2, 3, vec![0.0, 5.0, 1.0, 5.0, 2.0, 0.0]);
        assert!(pointing_game(&m, &[Box2::new(1.0, 0.0, 2.0, 1.0)]));
        assert!(!pointing_game(&m, &[Box2::new(0.0, 1.0, 1.0, 2.0)]));
        assert!(pointing_game(
            &m,
            &[Box2::new(0.0, 1.0, 1.0, 2.0), Box2::new(0.0, 0.0, 3.0, 1.0)]
        ));
        assert!(!pointing_game(&m, &[]));
        // A constant map points at (0, 0).
        assert!(pointing_game(
            &Map::filled(2, 3, 1.0),
            &[Box2::new(0.0, 0.0, 1.0, 1.0)]
        ));
    }

    #[test]
    fn iou_of_boxes() {
        // [0,2)² vs [1,3)²: intersection 1, union 4 + 4 − 1 = 7.
        let a = Box2::new(0.0, 0.0, 2.0, 2.0);
        assert!(close(
            iou(&a, &Box2::new(1.0, 1.0, 3.0, 3.0)),
            1.0 / 7.0,
            1e-15
        ));
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &Box2::new(2.0, 0.0, 4.0, 2.0)), 0.0); // touching edges
        let empty = Box2::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(iou(&empty, &empty), 0.0);
    }

    /// 5 rows × 6 columns:
    /// ```text
    /// 0.0 0.9 0.8 0.0 0.0 0.0
    /// 0.0 1.0 0.0 0.0 0.0 0.0
    /// 0.0 0.0 0.0 0.0 0.6 0.0
    /// 0.7 0.0 0.0 0.0 0.0 0.7
    /// 0.0 0.0 0.0 0.0 0.0 0.7
    /// ```
    fn blobs() -> Map {
        #[rustfmt::skip]
        let d = vec![
            0.0, 0.9, 0.8, 0.0, 0.0, 0.0,
            0.0, 1.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.6, 0.0,
            0.7, 0.0, 0.0, 0.0, 0.0, 0.7,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.7,
        ];
        Map::new(5, 6, d)
    }

    #[test]
    fn localisation_box_takes_the_largest_component_first_on_ties() {
        let m = blobs();
        // Cut 0.5: A = {(1,0), (2,0), (1,1)} (3 px), B = {(4,2), (5,3), (5,4)} (3 px, joined
        // only diagonally), C = {(0,3)}. A and B tie; A is found first → x 1..=2, y 0..=1 →
        // [1, 3) × [0, 2).
        assert_eq!(
            localisation_box(&m, 0.5),
            Some(Box2::new(1.0, 0.0, 3.0, 2.0))
        );
        // Cut 0.8 is strict: the 0.8 at (2,0) is out, A = {(1,0), (1,1)} → [1, 2) × [0, 2).
        assert_eq!(
            localisation_box(&m, 0.8),
            Some(Box2::new(1.0, 0.0, 2.0, 2.0))
        );
        // Nothing is above the maximum; an all-zero map has no foreground.
        assert_eq!(localisation_box(&m, 1.0), None);
        assert_eq!(localisation_box(&Map::zeros(3, 3), 0.0), None);
    }

    #[test]
    fn components_are_8_connected() {
        // 3×5:
        // 1 0 0 0 1
        // 0 1 0 0 1
        // 0 0 1 0 0
        // The diagonal (3 px, 8-connected) beats the vertical pair (2 px) → [0, 3) × [0, 3).
        // (With 4-connectivity the pair would win: [4, 5) × [0, 2).)
        #[rustfmt::skip]
        let m = Map::new(3, 5, vec![
            1.0, 0.0, 0.0, 0.0, 1.0,
            0.0, 1.0, 0.0, 0.0, 1.0,
            0.0, 0.0, 1.0, 0.0, 0.0,
        ]);
        assert_eq!(
            localisation_box(&m, 0.5),
            Some(Box2::new(0.0, 0.0, 3.0, 3.0))
        );
    }

    #[test]
    fn localisation_iou_against_the_best_ground_truth() {
        let m = blobs();
        // Cut 0.5 → [1, 3) × [0, 2) (area 4) vs GT [1, 3) × [0, 3) (area 6): inter 4,
        // union 6 → 2/3; the far GT box gives 0.
        let gt = [
            Box2::new(10.0, 10.0, 12.0, 12.0),
            Box2::new(1.0, 0.0, 3.0, 3.0),
        ];
        assert!(close(localisation_iou(&m, &gt, 0.5), 2.0 / 3.0, 1e-15));
        // Cut 0.8 → [1, 2) × [0, 2) (area 2): inter 2, union 6 → 1/3. Cut 1 → no box → 0.
        let v = localisation_ious(&m, &gt, &[0.5, 0.8, 1.0]);
        assert!(close(v[0], 2.0 / 3.0, 1e-15) && close(v[1], 1.0 / 3.0, 1e-15));
        assert_eq!(v[2], 0.0);
        assert_eq!(localisation_iou(&m, &[], 0.5), 0.0);
        assert_eq!(localisation_ious(&Map::zeros(2, 2), &gt, &[0.1]), vec![0.0]);
    }

    #[test]
    fn mask_iou_counts_pixels() {
        // Cut 0.5: foreground A ∪ B ∪ C = 7 px; GT [1, 3) × [0, 3) = 6 px; intersection = A
        // = 3 px → 3/(7 + 6 − 3) = 0.3.
        let m = blobs();
        assert!(close(
            mask_iou(&m, &[Box2::new(1.0, 0.0, 3.0, 3.0)], 0.5),
            0.3,
            1e-15
        ));
        assert_eq!(mask_iou(&Map::zeros(2, 2), &[], 0.5), 0.0);
    }

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

    #[test]
    fn average_drop_and_increase_by_hand() {
        // max(0, 0.8 − 0.6)/0.8 = 0.25; a rise drops nothing; Y = 0 → 0.
        assert!(close(average_drop(0.8, 0.6), 0.25, 1e-15));
        assert_eq!(average_drop(0.5, 0.7), 0.0);
        assert_eq!(average_drop(0.0, 0.3), 0.0);
        assert!(increase_in_confidence(0.5, 0.7));
        assert!(!increase_in_confidence(0.5, 0.5));

        // All-ones image, p = mean red over R, map ½ on R and 1 elsewhere: Y = 1, O = ½ →
        // drop ½, no increase. One scorer call of 2 images.
        let image = vec![1.0f32; 48];
        let map = Map::new(
            4,
            4,
            (0..16).map(|p| if in_r(p) { 0.5 } else { 1.0 }).collect(),
        );
        let mut s = FnScorer::new(red_in_r);
        let c = explanation_confidence(&mut s, &image, &map, 0).unwrap();
        assert_eq!(
            (c.original, c.explained, c.drop, c.increase),
            (1.0, 0.5, 0.5, false)
        );
        assert_eq!(s.calls, vec![2]);

        // Red 0.5 everywhere, p = 1 − mean red outside R, map 1 on R and ¼ elsewhere:
        // Y = 1 − ½ = ½, O = 1 − ⅛ = ⅞ → drop 0, increase.
        let image = vec![0.5f32; 48];
        let map = Map::new(
            4,
            4,
            (0..16).map(|p| if in_r(p) { 1.0 } else { 0.25 }).collect(),
        );
        let mut s = FnScorer::new(|im: &[f32]| {
            1.0 - (0..16)
                .filter(|&p| !in_r(p))
                .map(|p| im[p] as f64)
                .sum::<f64>()
                / 8.0
        });
        let c = explanation_confidence(&mut s, &image, &map, 0).unwrap();
        assert_eq!(
            (c.original, c.explained, c.drop, c.increase),
            (0.5, 0.875, 0.0, true)
        );

        // A map outside [0, 1] is refused.
        let raw = Map::filled(4, 4, 2.0);
        assert!(explanation_confidence(&mut s, &image, &raw, 0).is_err());
    }

    /// A `(3, h, w)` image from per-channel row-major values.
    fn rgb(r: &[f32], g: &[f32], b: &[f32]) -> Vec<f32> {
        [r, g, b].concat()
    }

    #[test]
    fn imputation_of_one_pixel_is_the_weighted_neighbour_mean() {
        // 3×3, centre removed; its 8 neighbours all exist, weights 1/6 (edges) and 1/12
        // (diagonals), Σ = 1. Red: only the top edge is 0.6 → 0.6/6 = 0.1. Green: all 0.3
        // → 0.3. Blue: the four corners 1 → 4/12 = 1/3.
        let r = [0.0, 0.6, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0];
        let g = [0.3; 9];
        let b = [1.0, 0.0, 1.0, 0.0, 0.9, 0.0, 1.0, 0.0, 1.0];
        let mut removed = [false; 9];
        removed[4] = true;
        let out = noisy_linear_impute(&rgb(&r, &g, &b), 3, 3, &removed, 0.0, 0).unwrap();
        assert!(close(out[4] as f64, 0.1, 1e-6));
        assert!(close(out[9 + 4] as f64, 0.3, 1e-6));
        assert!(close(out[18 + 4] as f64, 1.0 / 3.0, 1e-6));
        // Everything else untouched.
        for i in (0..27).filter(|i| i % 9 != 4) {
            assert_eq!(out[i], rgb(&r, &g, &b)[i]);
        }
    }

    #[test]
    fn imputation_of_a_gap_in_a_row_is_linear() {
        // 1×4 red [0.2, ?, ?, 1.0]: only left/right neighbours exist (weight 1/6 each), so
        // x1 = (0.2 + x2)/2 and x2 = (x1 + 1)/2 → x1 = 1.4/3 ≈ 0.4667, x2 = 2.2/3 ≈ 0.7333.
        let img = rgb(&[0.2, 0.8, 0.4, 1.0], &[0.0; 4], &[0.0; 4]);
        let out = noisy_linear_impute(&img, 1, 4, &[false, true, true, false], 0.0, 0).unwrap();
        assert!(close(out[1] as f64, 1.4 / 3.0, 1e-6), "{out:?}");
        assert!(close(out[2] as f64, 2.2 / 3.0, 1e-6), "{out:?}");
        // A border pixel has one neighbour: [0.2, 0.8, 0.4, ?] → 0.4.
        let out = noisy_linear_impute(&img, 1, 4, &[false, false, false, true], 0.0, 0).unwrap();
        assert!(close(out[3] as f64, 0.4, 1e-6));
        // Nothing removed → unchanged; everything removed → error.
        assert_eq!(
            noisy_linear_impute(&img, 1, 4, &[false; 4], 0.1, 0).unwrap(),
            img
        );
        assert!(noisy_linear_impute(&img, 1, 4, &[true; 4], 0.0, 0).is_err());
    }

    #[test]
    fn conjugate_gradient_matches_a_dense_solve() {
        // 9×11 image, ~60% of the pixels removed at random; the same system assembled densely
        // and solved by Gaussian elimination with partial pivoting. The CG stops at a
        // relative residual of 1e-6, which leaves ≈ 2e-6 here; 1e-5 is checked.
        let (h, w) = (9, 11);
        let n = h * w;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let img: Vec<f32> = (0..3 * n).map(|_| rng.random::<f32>()).collect();
        let removed: Vec<bool> = (0..n).map(|_| rng.random::<f64>() < 0.6).collect();
        let out = noisy_linear_impute(&img, h, w, &removed, 0.0, 0).unwrap();

        let unknown: Vec<usize> = (0..n).filter(|&p| removed[p]).collect();
        let m = unknown.len();
        let pos = |p: usize| unknown.iter().position(|&u| u == p);
        for c in 0..3 {
            let mut a = vec![vec![0.0f64; m + 1]; m];
            for (i, &p) in unknown.iter().enumerate() {
                let (y, x) = ((p / w) as isize, (p % w) as isize);
                for &(dy, dx, wt) in &NEIGHBOURS {
                    let (ny, nx) = (y + dy, x + dx);
                    if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                        continue;
                    }
                    let q = ny as usize * w + nx as usize;
                    a[i][i] += wt;
                    match pos(q) {
                        Some(j) => a[i][j] -= wt,
                        None => a[i][m] += wt * img[c * n + q] as f64,
                    }
                }
            }
            for col in 0..m {
                let piv = (col..m)
                    .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
                    .unwrap();
                a.swap(col, piv);
                let pivot = a[col].clone();
                for (row, r) in a.iter_mut().enumerate() {
                    if row != col {
                        let f = r[col] / pivot[col];
                        for (v, pv) in r[col..].iter_mut().zip(&pivot[col..]) {
                            *v -= f * pv;
                        }
                    }
                }
            }
            for (i, &p) in unknown.iter().enumerate() {
                let want = a[i][m] / a[i][i];
                assert!(close(out[c * n + p] as f64, want, 1e-5));
            }
        }
    }

    #[test]
    fn imputation_noise_is_seeded_gaussian() {
        // A constant 0.5 image imputes to 0.5 exactly; what is left is the noise: 3·2048
        // draws of σ = 0.01 (standard error of the sample σ ≈ 1%).
        let (h, w) = (64, 64);
        let img = vec![0.5f32; 3 * h * w];
        let removed: Vec<bool> = (0..h * w).map(|p| (p / w + p % w) % 2 == 0).collect();
        let a = noisy_linear_impute(&img, h, w, &removed, 0.01, 3).unwrap();
        let b = noisy_linear_impute(&img, h, w, &removed, 0.01, 3).unwrap();
        let c = noisy_linear_impute(&img, h, w, &removed, 0.01, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let d: Vec<f64> = (0..3 * h * w)
            .filter(|&k| removed[k % (h * w)])
            .map(|k| a[k] as f64 - 0.5)
            .collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        assert!(
            mean.abs() < 1e-3 && (sd - 0.01).abs() < 0.001,
            "{mean} {sd}"
        );
        // Kept pixels are untouched.
        assert!(
            (0..3 * h * w)
                .filter(|&k| !removed[k % (h * w)])
                .all(|k| a[k] == 0.5)
        );
    }

    #[test]
    fn road_by_hand() {
        // 1×4 image, red [0.2, 0.8, 0.4, 1.0], map [0.1, 0.9, 0.8, 0.0], no noise.
        let img = rgb(&[0.2, 0.8, 0.4, 1.0], &[0.0; 4], &[0.0; 4]);
        let map = Map::new(1, 4, vec![0.1, 0.9, 0.8, 0.0]);
        let opts = RoadOptions {
            noise: 0.0,
            seed: 0,
            batch: 2,
        };
        // MoRF, p = red of pixel 1 (0.8). 0% → unchanged; 50% → round(2) = pixels 1, 2
        // removed, pixel 1 → 1.4/3 (see the row test) → change 1.4/3 − 0.8 = −1/3.
        let mut s = FnScorer::new(|im: &[f32]| im[1] as f64);
        let morf = road(
            &mut s,
            &img,
            &map,
            0,
            RoadOrder::MostRelevantFirst,
            &[0.0, 50.0],
            &opts,
        )
        .unwrap();
        assert!(close(morf.original, 0.8, 1e-7));
        assert!(close(morf.changes[0], 0.0, 1e-12));
        assert!(close(morf.changes[1], -1.0 / 3.0, 1e-6), "{morf:?}");
        // [original, 0%, 50%] in batches of 2.
        assert_eq!(s.calls, vec![2, 1]);
        // LeRF, p = red of pixel 3 (1.0). 30% → round(1.2) = 1 pixel: the least relevant is
        // pixel 3 (map 0) → 0.4 (its one neighbour) → −0.6. 50% → pixels 3 and 0 (map 0.1):
        // pixel 3 still → 0.4 → −0.6.
        let mut s = FnScorer::new(|im: &[f32]| im[3] as f64);
        let lerf = road(
            &mut s,
            &img,
            &map,
            0,
            RoadOrder::LeastRelevantFirst,
            &[30.0, 50.0],
            &opts,
        )
        .unwrap();
        assert!(close(lerf.changes[0], -0.6, 1e-6) && close(lerf.changes[1], -0.6, 1e-6));
        // Combined: (mean LeRF − mean MoRF)/2 = (−0.6 − (−1/6))/2 = −13/60.
        assert!(close(road_combined(&morf, &lerf), -13.0 / 60.0, 1e-6));
        // 100% is refused.
        assert!(
            road(
                &mut s,
                &img,
                &map,
                0,
                RoadOrder::MostRelevantFirst,
                &[100.0],
                &opts
            )
            .is_err()
        );
    }

    #[test]
    fn network_scorer_matches_single_image_forward() {
        use icam_models::preprocess::load_rgb;
        use icam_models::{PixelImage, cpu, load};
        let shared = std::env::var_os("ICAM_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
            });
        let fixtures = shared.join("reference/fixtures");
        let weights = fixtures.join("resnet50_seed0.safetensors");
        if !weights.exists() {
            eprintln!("SKIPPED: {} not found (set ICAM_SHARED)", weights.display());
            return;
        }
        let model = load(&weights, Some("resnet50"), &cpu(), Precision::F32).unwrap();
        let px = PixelImage::from_rgb(&load_rgb(&fixtures.join("chelsea224.png")).unwrap());
        let norm = model.preprocess.normalization;
        let mut dark = px.clone();
        dark.data.iter_mut().for_each(|v| *v *= 0.5);
        let mut s = NetworkScorer {
            net: model.net.as_ref(),
            normalization: norm,
            height: px.height,
            width: px.width,
        };
        let got = s
            .probabilities(&[px.data.clone(), dark.data.clone()], 281)
            .unwrap();
        for (im, g) in [&px, &dark].into_iter().zip(got) {
            let l =
                icam_models::logits(model.net.as_ref(), &norm.to_model_input(im, Precision::F32))
                    .unwrap()
                    .to_f64();
            let want = crate::explain::probability(&l, 281);
            assert!(((g - want) / want).abs() < 1e-4, "{g} vs {want}");
        }
        assert!(
            s.probabilities(std::slice::from_ref(&px.data), 5000)
                .is_err()
        );
    }
}
