//! EigenGrad-CAM (pytorch-grad-cam): Eigen-CAM on the gradient-weighted activations `g ⊙ A`.

use super::hirescam::gradient_times_activation;
use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct EigenGradCam;

impl CamMethod for EigenGradCam {
    fn name(&self) -> &'static str {
        "eigengradcam"
    }

    fn projects(&self) -> bool {
        true
    }

    /// `g ⊙ A`, projected on its first principal component by the base.
    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Element(gradient_times_activation(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn by_hand() {
        // g·A: ch0 [1, 0], ch1 [1, 0]; centred [.5, −.5] twice: projection ±[√.5, −√.5]
        // → the first entry (a tie) positive.
        let r = 0.5f64.sqrt();
        close(&raw(&super::EigenGradCam), &[r, -r]);
    }
}
