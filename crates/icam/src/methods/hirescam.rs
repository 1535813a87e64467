//! HiResCAM (Draelos & Carin): the gradient times the activation, element-wise, summed over
//! the channels — the exact contribution of each position for a linear head.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct HiResCam;

/// `g ⊙ A`, element-wise (shared with EigenGrad-CAM).
pub fn gradient_times_activation(x: &LayerInput) -> Vec<f64> {
    x.a.iter().zip(x.g).map(|(a, g)| a * g).collect()
}

impl CamMethod for HiResCam {
    fn name(&self) -> &'static str {
        "hirescam"
    }

    /// `L_ij = Σ_k g_ij^k A_ij^k`.
    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Element(gradient_times_activation(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn by_hand() {
        // g·A: ch0 [1, 0], ch1 [1, 0].
        close(&raw(&super::HiResCam), &[2.0, 0.0]);
    }
}
