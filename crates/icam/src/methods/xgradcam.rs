//! XGrad-CAM (Fu et al.): channel weights are the activation-weighted gradient.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct XGradCam;

/// The package's ε in the denominator.
pub const XGRADCAM_EPS: f64 = 1e-7;

/// `w_k = Σ_ij g_ij^k A_ij^k / (Σ_ij A_ij^k + ε)` (Fu et al., Eq. 11).
pub fn xgradcam_weights(x: &LayerInput) -> Vec<f64> {
    (0..x.k)
        .map(|ch| {
            let (a, g) = x.channel(ch);
            let sum_a: f64 = a.iter().sum();
            a.iter().zip(g).map(|(a, g)| a * g).sum::<f64>() / (sum_a + XGRADCAM_EPS)
        })
        .collect()
}

impl CamMethod for XGradCam {
    fn name(&self) -> &'static str {
        "xgradcam"
    }

    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Channel(xgradcam_weights(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn by_hand() {
        // ch0: Σ gA = 1, ΣA = 4 → w0 = 1/(4 + ε); ch1: Σ gA = 1, ΣA = 2 → w1 = 1/(2 + ε).
        let (w0, w1) = (1.0 / (4.0 + XGRADCAM_EPS), 1.0 / (2.0 + XGRADCAM_EPS));
        close(&xgradcam_weights(&input()), &[w0, w1]);
        close(&raw(&XGradCam), &[w0 + 2.0 * w1, 3.0 * w0]);
    }
}
