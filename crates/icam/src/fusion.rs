//! Fusion of the selected layers' maps (Eq. 21, A17) and the final map (A18).

use crate::maps::{Map, Upsample};
use crate::methods::icam::IcamLayerMap;

/// Per-layer post-processing before fusion (A17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerPost {
    /// The raw `L_l`, as Eq. 21 specifies (default).
    None,
    /// ReLU, then min-max, per layer.
    ReluMinmax,
}

/// The fused map and its range.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    /// `minmax(relu(Σ_l W_l·up(L_l)))`, `h × w` (A18).
    pub heat: Map,
    /// min and max of `Σ_l W_l·up(L_l)` before the ReLU.
    pub fused_min: f64,
    pub fused_max: f64,
}

/// Eq. 21 and A18: `heat = minmax(relu(Σ_l W_l·up(L_l)))` over the selected layers in rank
/// order, bilinear upsampling to `h × w`.
///
/// Each `L_l` is `spatial_l + C_l` with a constant `C_l` that can dwarf the spatial variation
/// (A16: about 5e3 against 3.5e-3 on the reference fixture). Summing them in floating point
/// would lose most of the variation, so the constants are carried separately and the identity
/// `minmax(relu(v + C)) = minmax(max(v, −C))` is used (min-max is shift-invariant), which is
/// exact.
pub fn fuse(layers: &[(f64, &IcamLayerMap)], h: usize, w: usize, post: LayerPost) -> Fused {
    let mut v = Map::zeros(h, w);
    let mut constant = 0.0;
    for &(weight, layer) in layers {
        let up = layer.spatial().upsample(h, w, Upsample::Bilinear);
        match post {
            LayerPost::None => {
                v.add_scaled(weight, &up);
                constant += weight * layer.bias_constant;
            }
            LayerPost::ReluMinmax => {
                let floor = -layer.bias_constant;
                let m = Map::new(h, w, up.data.iter().map(|&x| x.max(floor)).collect()).minmax();
                v.add_scaled(weight, &m);
            }
        }
    }
    let (fused_min, fused_max) = (v.min() + constant, v.max() + constant);
    let floor = -constant;
    let heat = Map::new(h, w, v.data.iter().map(|&x| x.max(floor)).collect()).minmax();
    Fused {
        heat,
        fused_min,
        fused_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::icam::IcamLayerStats;

    fn layer(base: Vec<f64>, c: f64) -> IcamLayerMap {
        let n = base.len();
        IcamLayerMap {
            base: Map::new(1, n, base),
            bias_spatial: Map::zeros(1, n),
            bias_constant: c,
            stats: IcamLayerStats {
                k: 1,
                h: 1,
                w: n,
                alpha_min: 0.0,
                alpha_max: 0.0,
                weight_sum: 0.0,
                base_min: 0.0,
                base_max: 0.0,
                bias_min: c,
                bias_max: c,
                alpha_near_pole: 0,
            },
        }
    }

    #[test]
    fn a_huge_constant_is_removed_exactly_and_a_negative_one_zeroes_the_map() {
        let a = layer(vec![0.0, 1e-3, 2e-3], 5e3);
        let f = fuse(&[(1.0, &a)], 1, 3, LayerPost::None);
        assert_eq!(f.heat.data, vec![0.0, 0.5, 1.0]);
        assert_eq!((f.fused_min, f.fused_max), (5e3, 5e3 + 2e-3));
        // relu(v − 1.5e-3) keeps only the last position.
        let b = layer(vec![0.0, 1e-3, 2e-3], -1.5e-3);
        assert_eq!(
            fuse(&[(1.0, &b)], 1, 3, LayerPost::None).heat.data,
            vec![0.0, 0.0, 1.0]
        );
        let c = layer(vec![0.0, 1e-3, 2e-3], -1.0);
        assert_eq!(
            fuse(&[(1.0, &c)], 1, 3, LayerPost::None).heat.data,
            vec![0.0; 3]
        );
    }

    #[test]
    fn weighted_fusion_and_layer_post_by_hand() {
        let a = layer(vec![0.0, 2.0], 0.0);
        let b = layer(vec![4.0, 0.0], -1.0);
        // None: 0.75·[0, 2] + 0.25·[4, 0] − 0.25 = [0.75, 1.25] → [0, 1].
        let f = fuse(&[(0.75, &a), (0.25, &b)], 1, 2, LayerPost::None);
        assert_eq!(f.heat.data, vec![0.0, 1.0]);
        // relu_minmax: a → [0, 1], b → relu([3, −1]) → [1, 0]; 0.75·[0,1] + 0.25·[1,0] → [0, 1].
        let g = fuse(&[(0.75, &a), (0.25, &b)], 1, 2, LayerPost::ReluMinmax);
        assert_eq!(g.heat.data, vec![0.0, 1.0]);
        assert_eq!((g.fused_min, g.fused_max), (0.25, 0.75));
    }
}
