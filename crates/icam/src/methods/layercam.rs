//! LayerCAM (Jiang et al.): element-wise positive gradients as weights.

use super::{CamMethod, LayerInput};
use crate::maps::Map;

pub struct LayerCam;

impl CamMethod for LayerCam {
    fn name(&self) -> &'static str {
        "layercam"
    }

    /// Eq. 19: `w_ij^k = relu(g_ij^k)`; the map is `Σ_k w_ij^k A_ij^k`.
    fn layer_cam(&self, x: &LayerInput) -> Map {
        let mut out = vec![0.0; x.hw()];
        for ch in 0..x.k {
            let (a, g) = x.channel(ch);
            for ((o, &av), &gv) in out.iter_mut().zip(a).zip(g) {
                *o += gv.max(0.0) * av;
            }
        }
        Map::new(x.h, x.w, out)
    }
}
