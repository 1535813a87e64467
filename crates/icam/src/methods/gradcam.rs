//! Grad-CAM (Selvaraju et al.): channel weights are the spatial mean of the gradient.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct GradCam;

/// Eq. 15: `w_k = (1/N) Σ_ij g_ij^k`.
pub fn gradcam_weights(x: &LayerInput) -> Vec<f64> {
    (0..x.k)
        .map(|ch| x.channel(ch).1.iter().sum::<f64>() / x.hw() as f64)
        .collect()
}

impl CamMethod for GradCam {
    fn name(&self) -> &'static str {
        "gradcam"
    }

    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Channel(gradcam_weights(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn by_hand() {
        // w = (0.5, -0.75): [0.5·1 − 0.75·2, 0.5·3 − 0.75·0].
        close(&raw(&super::GradCam), &[-1.0, 1.5]);
    }
}
