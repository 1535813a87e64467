//! Test helpers shared by the metrics' unit tests: a fake [`Scorer`] and a 4×4 geometry.

use super::Scorer;
use crate::error::Result;
use crate::maps::Map;

pub(super) fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// A fake model: the probability is `f(image)`; records the size of every call.
pub(super) struct FnScorer<F: FnMut(&[f32]) -> f64> {
    f: F,
    pub(super) calls: Vec<usize>,
}

impl<F: FnMut(&[f32]) -> f64> FnScorer<F> {
    pub(super) fn new(f: F) -> Self {
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
pub(super) fn in_r(p: usize) -> bool {
    p % W4 < 2
}

/// Mean of the red channel over R.
pub(super) fn red_in_r(im: &[f32]) -> f64 {
    (0..16)
        .filter(|&p| in_r(p))
        .map(|p| im[p] as f64)
        .sum::<f64>()
        / 8.0
}

/// 1 on R, 0 elsewhere.
pub(super) fn map_r() -> Map {
    Map::new(
        4,
        4,
        (0..16).map(|p| f64::from(u8::from(in_r(p)))).collect(),
    )
}
