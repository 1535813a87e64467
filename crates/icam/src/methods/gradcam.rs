//! Grad-CAM (Selvaraju et al.): channel weights are the spatial mean of the gradient.

use super::{CamMethod, LayerInput, channel_weighted_sum};
use crate::maps::Map;

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

    fn layer_cam(&self, x: &LayerInput) -> Map {
        channel_weighted_sum(x, &gradcam_weights(x))
    }
}
