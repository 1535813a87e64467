//! Pooled features for example-based explanations (the paper's Figs. 7 and 9, whose training
//! examples were chosen by hand; its future work automates the choice): an image is described
//! by the activations `A` (`K × h × w`) of one layer, pooled over space, and images are compared
//! by the cosine of those vectors.
//!
//! - [`Activation::average_pool`]: global average pooling, `f_k = (1/hw) Σ_ij A_kij`.
//! - [`Activation::weighted_pool`]: the average weighted by a map, `f_k = Σ_ij m_ij A_kij /
//!   Σ_ij m_ij`, where `m` is a heatmap at model-input resolution brought to the feature
//!   resolution by area averaging ([`area_downsample`], PyTorch's `F.interpolate(mode="area")`,
//!   i.e. `adaptive_avg_pool2d`) after a ReLU. It describes the part of the image the map
//!   points at, in the same space as the plain average (both are convex combinations of the
//!   feature vectors at each position).
//! - [`cosine`] and [`top_k`] find the nearest examples.
//!
//! No files here: caching the embeddings of a training set is the caller's business.

use icam_models::{Network, Normalization, Objective, PixelImage, trace};

use crate::error::{IcamError, Result};
use crate::maps::Map;

/// One image's activations at one layer, `K × h × w`, row-major, float64.
#[derive(Clone, Debug, PartialEq)]
pub struct Activation {
    pub k: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f64>,
}

impl Activation {
    /// An activation of `k` channels of `h × w`; panics if the length does not match (a
    /// programming error).
    pub fn new(k: usize, h: usize, w: usize, data: Vec<f64>) -> Self {
        assert_eq!(k * h * w, data.len(), "activation size");
        Self { k, h, w, data }
    }

    /// Global average pooling: one value per channel, the mean over the `h × w` positions.
    pub fn average_pool(&self) -> Vec<f64> {
        let hw = self.h * self.w;
        self.data
            .chunks_exact(hw)
            .map(|c| c.iter().sum::<f64>() / hw as f64)
            .collect()
    }

    /// Average pooling weighted by `map` (any resolution; model-input size in practice):
    /// `relu(map)` is area-averaged to `h × w` ([`area_downsample`]) and normalised to sum 1.
    /// `None` when the map has no positive mass (an all-zero heatmap): there is nothing to
    /// weight by, and the caller decides (e.g. falls back to [`Self::average_pool`]).
    pub fn weighted_pool(&self, map: &Map) -> Option<Vec<f64>> {
        let m = area_downsample(&map.clone().relu(), self.h, self.w);
        let total: f64 = m.data.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return None;
        }
        let hw = self.h * self.w;
        Some(
            self.data
                .chunks_exact(hw)
                .map(|c| c.iter().zip(&m.data).map(|(a, w)| a * w).sum::<f64>() / total)
                .collect(),
        )
    }
}

/// Area averaging of `map` to `h × w`, as PyTorch's `adaptive_avg_pool2d` (which
/// `F.interpolate(mode="area")` calls): output cell `(i, j)` is the mean of the input rows
/// `⌊i·H/h⌋ .. ⌈(i+1)·H/h⌉` and columns `⌊j·W/w⌋ .. ⌈(j+1)·W/w⌉`. When `H` is a multiple of
/// `h` (224 → 7) every cell is a disjoint `H/h`-block; otherwise neighbouring cells share a
/// row or column. Also defined for `h > H` (cells repeat input rows).
pub fn area_downsample(map: &Map, h: usize, w: usize) -> Map {
    let span = |i: usize, out: usize, inp: usize| {
        let start = i * inp / out;
        let end = ((i + 1) * inp).div_ceil(out);
        (start, end.max(start + 1).min(inp))
    };
    let mut data = Vec::with_capacity(h * w);
    for i in 0..h {
        let (y0, y1) = span(i, h, map.h);
        for j in 0..w {
            let (x0, x1) = span(j, w, map.w);
            let mut s = 0.0;
            for y in y0..y1 {
                s += map.data[y * map.w + x0..y * map.w + x1].iter().sum::<f64>();
            }
            data.push(s / ((y1 - y0) * (x1 - x0)) as f64);
        }
    }
    Map::new(h, w, data)
}

/// The activations of `layer` (a name or alias of `net`) for `image`, from one forward pass
/// (the backward pass only runs from the logits to the tap, to satisfy the tap machinery).
pub fn layer_activation(
    net: &dyn Network,
    normalization: Normalization,
    image: &PixelImage,
    layer: &str,
) -> Result<Activation> {
    let input = normalization.to_model_input(image, net.precision());
    let tr = trace(net, &input, &[layer.to_string()], &[Objective::None], false)?;
    let a = &tr.activations[0];
    let [_, k, h, w] = match a.shape.as_slice() {
        &[b, k, h, w] => [b, k, h, w],
        s => {
            return Err(IcamError::Numeric(format!(
                "layer {layer} has shape {s:?}, not [batch, K, h, w]"
            )));
        }
    };
    let data = a.sample_f64(0);
    if data.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(format!(
            "the network produced NaN or infinite activations at layer {layer}; check the weights and the input"
        )));
    }
    Ok(Activation::new(k, h, w, data))
}

/// The model's pooled features of `image`: global average pool of `layer`'s activations
/// (e.g. `net.baseline_layer()`: ResNet's `layer4`, EfficientNet-Lite's `_head_act`, whose
/// average is exactly what the classifier sees).
pub fn pooled_features(
    net: &dyn Network,
    normalization: Normalization,
    image: &PixelImage,
    layer: &str,
) -> Result<Vec<f64>> {
    Ok(layer_activation(net, normalization, image, layer)?.average_pool())
}

/// The map-weighted pooled features of `image` ([`Activation::weighted_pool`]); `map` is a
/// heatmap of the image, at any resolution (the model input's, in practice). `None` when the
/// map is all zero.
pub fn weighted_pooled_features(
    net: &dyn Network,
    normalization: Normalization,
    image: &PixelImage,
    layer: &str,
    map: &Map,
) -> Result<Option<Vec<f64>>> {
    Ok(layer_activation(net, normalization, image, layer)?.weighted_pool(map))
}

/// Cosine similarity `a·b / (‖a‖ ‖b‖)`, in [−1, 1]; 0 when either vector is zero (it points
/// nowhere). Panics if the lengths differ (a programming error).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "feature dimensions");
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (ab / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0)
}

/// The `k` candidates most similar to `query` by [`cosine`], as `(index, similarity)`, most
/// similar first; ties (and NaN, which sorts last) keep the candidates' order.
pub fn top_k<'a>(
    query: &[f64],
    candidates: impl IntoIterator<Item = &'a [f64]>,
    k: usize,
) -> Vec<(usize, f64)> {
    let mut sims: Vec<(usize, f64)> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| (i, cosine(query, c)))
        .collect();
    let key = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    sims.sort_by(|a, b| key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0)));
    sims.truncate(k);
    sims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn average_pool_by_hand() {
        // Two channels of 2×2: [1 2; 3 4] and [0 0; 0 8].
        let a = Activation::new(2, 2, 2, vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 8.0]);
        assert_eq!(a.average_pool(), vec![2.5, 2.0]);
    }

    #[test]
    fn area_downsample_by_hand() {
        // 4×4 → 2×2: each output is the mean of a 2×2 block.
        let m = Map::new(4, 4, (0..16).map(f64::from).collect());
        let d = area_downsample(&m, 2, 2);
        // Blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}.
        assert_eq!(d.data, vec![2.5, 4.5, 10.5, 12.5]);
        // 3 → 2 (not a multiple): rows [0, 2) and [1, 3), as adaptive_avg_pool2d.
        let m = Map::new(1, 3, vec![0.0, 3.0, 6.0]);
        let d = area_downsample(&m, 1, 2);
        assert_eq!(d.data, vec![1.5, 4.5]);
        // Same size is the identity; to 1×1 is the mean.
        let m = Map::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(area_downsample(&m, 2, 3), m);
        assert_eq!(area_downsample(&m, 1, 1).data, vec![3.5]);
    }

    #[test]
    fn weighted_pool_by_hand() {
        // Channel 0 = [1 2; 3 4], channel 1 = [10 0; 0 0]; a 4×4 map that is 1 on the top-left
        // 2×2 block, 3 on the bottom-right block and −5 (removed by the ReLU) elsewhere.
        let a = Activation::new(2, 2, 2, vec![1.0, 2.0, 3.0, 4.0, 10.0, 0.0, 0.0, 0.0]);
        let mut m = vec![-5.0; 16];
        for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            m[y * 4 + x] = 1.0;
            m[(y + 2) * 4 + x + 2] = 3.0;
        }
        let f = a.weighted_pool(&Map::new(4, 4, m)).unwrap();
        // Weights at 2×2: [1 0; 0 3], total 4: channel 0 = (1·1 + 3·4)/4, channel 1 = 10/4.
        assert!(close(f[0], 13.0 / 4.0) && close(f[1], 2.5), "{f:?}");
        // A uniform map gives the plain average; an all-zero map gives None.
        let u = a.weighted_pool(&Map::filled(4, 4, 0.7)).unwrap();
        assert!(u.iter().zip(a.average_pool()).all(|(x, y)| close(*x, y)));
        assert_eq!(a.weighted_pool(&Map::zeros(4, 4)), None);
        assert_eq!(a.weighted_pool(&Map::filled(4, 4, -1.0)), None);
    }

    #[test]
    fn cosine_by_hand() {
        assert!(close(cosine(&[1.0, 0.0], &[0.0, 2.0]), 0.0));
        assert!(close(cosine(&[1.0, 1.0], &[2.0, 2.0]), 1.0));
        assert!(close(cosine(&[1.0, 2.0], &[-1.0, -2.0]), -1.0));
        // (3, 4)·(4, 3) = 24, norms 5 and 5.
        assert!(close(cosine(&[3.0, 4.0], &[4.0, 3.0]), 24.0 / 25.0));
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn top_k_orders_by_similarity_then_index() {
        let q = [1.0, 0.0];
        let c: Vec<Vec<f64>> = vec![
            vec![0.0, 1.0],  // 0
            vec![1.0, 1.0],  // 0.7071
            vec![2.0, 0.0],  // 1
            vec![5.0, 5.0],  // 0.7071, ties with 1
            vec![-1.0, 0.0], // -1
            vec![f64::NAN, 0.0],
        ];
        let t = top_k(&q, c.iter().map(|v| v.as_slice()), 4);
        let idx: Vec<usize> = t.iter().map(|x| x.0).collect();
        assert_eq!(idx, vec![2, 1, 3, 0]);
        assert!(close(t[0].1, 1.0) && close(t[1].1, 0.5f64.sqrt()));
        let all = top_k(&q, c.iter().map(|v| v.as_slice()), 10);
        assert_eq!(all.len(), 6);
        assert_eq!(all[4].0, 4);
        assert_eq!(all[5].0, 5, "NaN sorts last");
        assert!(top_k(&q, std::iter::empty(), 3).is_empty());
    }
}
