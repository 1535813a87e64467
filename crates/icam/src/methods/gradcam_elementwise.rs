//! GradCAMElementWise (pytorch-grad-cam): HiResCAM with a ReLU on each product.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

pub struct GradCamElementWise;

impl CamMethod for GradCamElementWise {
    fn name(&self) -> &'static str {
        "gradcam-elementwise"
    }

    /// `L_ij = Σ_k relu(g_ij^k A_ij^k)`.
    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Element(
            x.a.iter().zip(x.g).map(|(a, g)| (a * g).max(0.0)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{LayerInput, NoPasses, layer_cam};

    #[test]
    fn by_hand() {
        // A = [[1, −3]], g = [[−1, −1]] (one channel): g·A = [−1, 3] → relu [0, 3];
        // HiResCAM would give [−1, 3].
        let x = LayerInput {
            a: &[1.0, -3.0],
            g: &[-1.0, -1.0],
            k: 1,
            h: 1,
            w: 2,
        };
        let m = layer_cam(&super::GradCamElementWise, &x, false, &mut NoPasses).unwrap();
        close(&m.data, &[0.0, 3.0]);
        close(&raw(&super::GradCamElementWise), &[2.0, 0.0]);
    }
}
