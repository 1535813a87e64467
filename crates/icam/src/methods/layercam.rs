//! LayerCAM (Jiang et al.): element-wise positive gradients as weights.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct LayerCam;

impl CamMethod for LayerCam {
    fn name(&self) -> &'static str {
        "layercam"
    }

    /// Eq. 19: `w_ij^k = relu(g_ij^k)`; contributions `w_ij^k A_ij^k`.
    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Element(
            x.a.iter().zip(x.g).map(|(&a, &g)| g.max(0.0) * a).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn by_hand() {
        // relu(g)·A: ch0 [1, 0], ch1 [1, 0].
        close(&raw(&super::LayerCam), &[2.0, 0.0]);
    }
}
