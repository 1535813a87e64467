//! Ablation-CAM (Desai & Ramaswamy): a channel's weight is the relative drop of the target
//! score when the channel is ablated. Gradient free; one pass per channel, from the layer on.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct AblationCam;

/// pytorch-grad-cam's ablation value: 0 when the layer's smallest activation is 0 (post-ReLU
/// layers), else that minimum minus 1e7. (The package re-reads the minimum after each
/// ablated row of a batch, so its i-th row gets `min − (i+1)·1e7`; with batch size 1 it
/// equals this rule, which icam applies to every channel.)
pub fn ablation_value(a: &[f64]) -> f64 {
    let mn = a.iter().copied().fold(f64::INFINITY, f64::min);
    if mn == 0.0 { 0.0 } else { mn - 1e7 }
}

/// Desai & Ramaswamy Eq. 3: `w_k = (y − y_k)/y`, with `y` the target score and `y_k` the score
/// with channel `k` ablated.
pub fn ablation_weights(y: f64, ablated: &[f64]) -> Vec<f64> {
    ablated.iter().map(|yk| (y - yk) / y).collect()
}

impl CamMethod for AblationCam {
    fn name(&self) -> &'static str {
        "ablationcam"
    }

    fn uses_gradients(&self) -> bool {
        false
    }

    fn batched(&self) -> bool {
        true
    }

    /// `K + 1` passes from the layer on: every channel ablated, then the layer unchanged,
    /// whose score is `y`. (Taking `y` from the same passes as the `y_k` cancels the float32
    /// rounding the two code paths, full network and tail, would leave in `y − y_k`.)
    fn contributions(&self, x: &LayerInput, passes: &mut dyn Passes) -> Result<Contributions> {
        let value = ablation_value(x.a);
        let (hw, k) = (x.hw(), x.k);
        let edit = |ch: usize, buf: &mut [f64]| {
            if ch < k {
                buf[ch * hw..(ch + 1) * hw].fill(value)
            }
        };
        let mut scores = passes.layer_scores(k + 1, &edit)?;
        let y = scores.pop().expect("k + 1 scores");
        Ok(Contributions::Channel(ablation_weights(y, &scores)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        assert_eq!(ablation_value(&[0.0, 3.0]), 0.0);
        assert_eq!(ablation_value(&[-2.0, 3.0]), -2.0 - 1e7);
        assert_eq!(ablation_weights(4.0, &[3.0, 5.0]), vec![0.25, -0.25]);
    }
}
