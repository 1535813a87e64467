//! Eigen-CAM (Muhammad & Yeasin): the first principal component of the activations; no
//! gradients, no target class.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct EigenCam;

impl CamMethod for EigenCam {
    fn name(&self) -> &'static str {
        "eigencam"
    }

    fn uses_gradients(&self) -> bool {
        false
    }

    fn uses_target(&self) -> bool {
        false
    }

    fn projects(&self) -> bool {
        true
    }

    /// `A` itself, projected by the base.
    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Element(x.a.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn by_hand() {
        // A: ch0 [1, 3] → centred [−1, 1]; ch1 [2, 0] → [1, −1]: rank one, projection
        // ±[−√2, √2] → the first entry (a tie) positive.
        let r = 2f64.sqrt();
        close(&raw(&super::EigenCam), &[r, -r]);
    }
}
