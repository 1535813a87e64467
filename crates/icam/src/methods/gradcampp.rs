//! Grad-CAM++ (Chattopadhay et al.) with the exponential target, whose higher derivatives
//! reduce to powers of the logit gradient (A21).

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

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

    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Channel(gradcampp_weights(x, self.eps)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn by_hand() {
        // ch0: ΣA = 4, α(1) = 1/(2 + 4) → w0 = 1/6; ch1: ΣA = 2, α(.5) = .25/(.5 + .25) = 1/3
        // → w1 = 1/6 (g = −2 has relu 0). Map: [1/6 + 2/6, 3/6].
        close(&raw(&super::GradCamPlusPlus { eps: 0.0 }), &[0.5, 0.5]);
    }
}
