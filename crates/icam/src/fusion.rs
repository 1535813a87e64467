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

/// How the selected layers' maps are combined (Eq. 21, issue 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// `Σ_l W_l·up(L_l)`, Eq. 21 as written (default of the paper).
    Sum,
    /// `max_l W_l·up(L_l)`: per position the strongest weighted evidence of any layer. A
    /// weighted sum keeps only what most layers agree on (an AND), so where each layer shows
    /// another part of the object the sum peaks on their overlap; the maximum keeps their
    /// union (an OR), each layer counting up to its weight `W_l`.
    Max,
}

/// The fused map and its range.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    /// `minmax(relu(Σ_l W_l·up(L_l)))`, `h × w` (A18).
    pub heat: Map,
    /// min and max of `Σ_l W_l·up(L_l)` before the ReLU.
    pub fused_min: f64,
    pub fused_max: f64,
    /// The fused map before the ReLU is `values + constant` (kept apart, A16).
    pub values: Map,
    pub constant: f64,
}

/// One layer's term of the fusion at `h × w`, as `(spatial part, constant)`: `up(L_l)`
/// (A17 `none`), or `minmax(relu(up(L_l)))` (A17 `relu_minmax`, constant 0).
fn layer_term(layer: &IcamLayerMap, h: usize, w: usize, post: LayerPost) -> (Map, f64) {
    let up = layer.spatial().upsample(h, w, Upsample::Bilinear);
    match post {
        LayerPost::None => (up, layer.bias_constant),
        LayerPost::ReluMinmax => {
            let floor = -layer.bias_constant;
            let m = Map::new(h, w, up.data.iter().map(|&x| x.max(floor)).collect()).minmax();
            (m, 0.0)
        }
    }
}

/// Eq. 21 and A18: `heat = minmax(relu(Σ_l W_l·up(L_l)))` over the selected layers in rank
/// order, bilinear upsampling to `h × w`; or with [`Fusion::Max`] `minmax(relu(max_l W_l·
/// up(L_l)))`.
///
/// Each `L_l` is `spatial_l + C_l` with a constant `C_l` that can dwarf the spatial variation
/// (A16: about 5e3 against 3.5e-3 on the reference fixture). Summing them in floating point
/// would lose most of the variation, so the constants are carried separately and the identity
/// `minmax(relu(v + C)) = minmax(max(v, −C))` is used (min-max is shift-invariant), which is
/// exact. (The maximum compares whole layer values, so it adds each layer's constant.)
pub fn fuse(
    layers: &[(f64, &IcamLayerMap)],
    h: usize,
    w: usize,
    post: LayerPost,
    fusion: Fusion,
) -> Fused {
    let mut v = Map::zeros(h, w);
    let mut constant = 0.0;
    for (i, &(weight, layer)) in layers.iter().enumerate() {
        let (term, c) = layer_term(layer, h, w, post);
        match fusion {
            Fusion::Sum => {
                v.add_scaled(weight, &term);
                constant += weight * c;
            }
            Fusion::Max => {
                for (acc, x) in v.data.iter_mut().zip(&term.data) {
                    let t = weight * (x + c);
                    *acc = if i == 0 { t } else { acc.max(t) };
                }
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
        values: v,
        constant,
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
        let f = fuse(&[(1.0, &a)], 1, 3, LayerPost::None, Fusion::Sum);
        assert_eq!(f.heat.data, vec![0.0, 0.5, 1.0]);
        assert_eq!((f.fused_min, f.fused_max), (5e3, 5e3 + 2e-3));
        // relu(v − 1.5e-3) keeps only the last position.
        let b = layer(vec![0.0, 1e-3, 2e-3], -1.5e-3);
        assert_eq!(
            fuse(&[(1.0, &b)], 1, 3, LayerPost::None, Fusion::Sum)
                .heat
                .data,
            vec![0.0, 0.0, 1.0]
        );
        let c = layer(vec![0.0, 1e-3, 2e-3], -1.0);
        assert_eq!(
            fuse(&[(1.0, &c)], 1, 3, LayerPost::None, Fusion::Sum)
                .heat
                .data,
            vec![0.0; 3]
        );
    }

    #[test]
    fn weighted_fusion_and_layer_post_by_hand() {
        let a = layer(vec![0.0, 2.0], 0.0);
        let b = layer(vec![4.0, 0.0], -1.0);
        // None: 0.75·[0, 2] + 0.25·[4, 0] − 0.25 = [0.75, 1.25] → [0, 1].
        let f = fuse(
            &[(0.75, &a), (0.25, &b)],
            1,
            2,
            LayerPost::None,
            Fusion::Sum,
        );
        assert_eq!(f.heat.data, vec![0.0, 1.0]);
        // relu_minmax: a → [0, 1], b → relu([3, −1]) → [1, 0]; 0.75·[0,1] + 0.25·[1,0] → [0, 1].
        let g = fuse(
            &[(0.75, &a), (0.25, &b)],
            1,
            2,
            LayerPost::ReluMinmax,
            Fusion::Sum,
        );
        assert_eq!(g.heat.data, vec![0.0, 1.0]);
        assert_eq!((g.fused_min, g.fused_max), (0.25, 0.75));
    }

    #[test]
    fn max_fusion_keeps_the_union_of_the_layers_by_hand() {
        // Two layers, each marking another half of a 1×4 map.
        let a = layer(vec![0.0, 4.0, 4.0, 0.0], 0.0);
        let b = layer(vec![2.0, 2.0, 0.0, 0.0], 0.0);
        // Sum: 0.5·a + 0.5·b = [1, 3, 2, 0] → [1/3, 1, 2/3, 0].
        let s = fuse(&[(0.5, &a), (0.5, &b)], 1, 4, LayerPost::None, Fusion::Sum);
        assert_eq!(s.heat.data, vec![1.0 / 3.0, 1.0, 2.0 / 3.0, 0.0]);
        // Max: max(0.5·a, 0.5·b) = [1, 2, 2, 0] → [0.5, 1, 1, 0].
        let m = fuse(&[(0.5, &a), (0.5, &b)], 1, 4, LayerPost::None, Fusion::Max);
        assert_eq!(m.heat.data, vec![0.5, 1.0, 1.0, 0.0]);
        assert_eq!((m.fused_min, m.fused_max), (0.0, 2.0));
        // relu_minmax first: a → [0, 1, 1, 0], b → [1, 1, 0, 0]; weights 0.75 / 0.25:
        // max = [0.25, 0.75, 0.75, 0] → [1/3, 1, 1, 0].
        let r = fuse(
            &[(0.75, &a), (0.25, &b)],
            1,
            4,
            LayerPost::ReluMinmax,
            Fusion::Max,
        );
        assert_eq!(r.heat.data, vec![1.0 / 3.0, 1.0, 1.0, 0.0]);
        // A layer's constant counts: b + 10 wins everywhere against a.
        let c = layer(vec![2.0, 2.0, 0.0, 0.0], 10.0);
        let k = fuse(&[(0.5, &a), (0.5, &c)], 1, 4, LayerPost::None, Fusion::Max);
        assert_eq!(k.heat.data, vec![1.0, 1.0, 0.0, 0.0]);
        // A negative maximum everywhere is all zero after the ReLU.
        let n = layer(vec![-1.0, -2.0, -3.0, -4.0], 0.0);
        assert_eq!(
            fuse(&[(1.0, &n)], 1, 4, LayerPost::None, Fusion::Max)
                .heat
                .data,
            vec![0.0; 4]
        );
    }
}
