//! Grad-CAM++ (Chattopadhay et al.) with the exponential target, whose higher derivatives
//! reduce to powers of the logit gradient (A21).

use super::{CamMethod, LayerInput, channel_weighted_sum};
use crate::maps::Map;

/// `eps` is added to the α denominator: 0 as the paper (default), 1e-6 as pytorch-grad-cam.
pub struct GradCamPlusPlus {
    pub eps: f64,
}

/// Eqs. 16–17 with `Y = exp(S)`: `α_ij = g² / (2g² + Σ_ab A_ab · g³ + eps)` (0 where the
/// denominator is 0) and `w_k = Σ_ij α_ij relu(g_ij)`.
pub fn gradcampp_weights(x: &LayerInput, eps: f64) -> Vec<f64> {
    (0..x.k)
        .map(|ch| {
            let (a, g) = x.channel(ch);
            let sum_a: f64 = a.iter().sum();
            g.iter()
                .map(|&gv| {
                    let g2 = gv * gv;
                    let den = 2.0 * g2 + sum_a * (g2 * gv) + eps;
                    let alpha = if den != 0.0 { g2 / den } else { 0.0 };
                    alpha * gv.max(0.0)
                })
                .sum()
        })
        .collect()
}

impl CamMethod for GradCamPlusPlus {
    fn name(&self) -> &'static str {
        "gradcampp"
    }

    fn layer_cam(&self, x: &LayerInput) -> Map {
        channel_weighted_sum(x, &gradcampp_weights(x, self.eps))
    }
}
