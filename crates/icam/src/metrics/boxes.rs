//! Boxes and the map-only metrics: the saliency score (Eq. 32), the pointing game and the
//! CAM-style localisation IoU (the paper's §3.2 / Table 1).

use serde::{Deserialize, Serialize};

use crate::maps::Map;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_support::close;

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
}
