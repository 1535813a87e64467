//! Layer scores (Eq. 3, A8–A11, A28) and layer selection (Eqs. 11–14, A19).

use crate::maps::{Map, Upsample};

/// `‖I · ∂O/∂I‖_F` along the channels (Eq. 3, left term): `sqrt(Σ_c (x_c·g_c)²)` per pixel.
/// `x`, `g`: `(c, h, w)`.
pub fn input_gradient_map(x: &[f64], g: &[f64], c: usize, h: usize, w: usize) -> Map {
    let hw = h * w;
    let data = (0..hw)
        .map(|p| {
            (0..c)
                .map(|ch| {
                    let v = x[ch * hw + p] * g[ch * hw + p];
                    v * v
                })
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    Map::new(h, w, data)
}

/// `‖φ_{i,l}‖_F` along the channels (Eq. 3, right term), `φ = relu(A ⊙ ∂O/∂A)`:
/// `sqrt(Σ_k relu(A_k·G_k)²)` per position, in float64 whatever the network's precision.
/// `a`, `g`: `(k, h, w)`.
pub fn phi_norm_map<T: Copy + Into<f64>>(a: &[T], g: &[T], k: usize, h: usize, w: usize) -> Map {
    let hw = h * w;
    let mut acc = vec![0.0f64; hw];
    for ch in 0..k {
        let (ac, gc) = (&a[ch * hw..(ch + 1) * hw], &g[ch * hw..(ch + 1) * hw]);
        for p in 0..hw {
            let v = (ac[p].into() * gc[p].into()).max(0.0);
            acc[p] += v * v;
        }
    }
    Map::new(h, w, acc.into_iter().map(f64::sqrt).collect())
}

/// How the two maps of Eq. 3 are normalised before their distance (A11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreNormalize {
    /// Min-max to [0, 1] after upsampling (default).
    Minmax,
    None,
}

/// Eq. 3's per-perturbation term (A28).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreMode {
    /// The L2 distance `d_{i,l}`, as written (default).
    Distance,
    /// `√(H·W) − d_{i,l}`: rewards agreement instead.
    Similarity,
}

/// Eq. 3 inner part: `d_{i,l} = ‖ig − norm(up(φ_{i,l}))‖₂` over all `H·W` pixels (A10, A11).
/// `ig` is the already-normalised input-gradient map at input resolution.
pub fn layer_distance(ig: &Map, phi: &Map, up: Upsample, normalize: ScoreNormalize) -> f64 {
    let mut p = phi.upsample(ig.h, ig.w, up);
    if normalize == ScoreNormalize::Minmax {
        p = p.minmax();
    }
    ig.data
        .iter()
        .zip(&p.data)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt()
}

/// Eq. 3: `S_l = Σ_i w_i · d_{i,l}` (a weighted sum as written, A11b), or with `Similarity`
/// `Σ_i w_i · (√(H·W) − d_{i,l})` (A28).
pub fn layer_score(weights: &[f64], distances: &[f64], mode: ScoreMode, hw: usize) -> f64 {
    let full = (hw as f64).sqrt();
    weights
        .iter()
        .zip(distances)
        .map(|(w, d)| match mode {
            ScoreMode::Distance => w * d,
            ScoreMode::Similarity => w * (full - d),
        })
        .sum()
}

/// The outcome of Eqs. 11–14.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Selection {
    /// Layer indices by descending score, ties to the lower index.
    pub order: Vec<usize>,
    /// Selected layer indices, in rank order (the first `k` of `order`).
    pub selected: Vec<usize>,
    /// `W_l` for every layer (0 when not selected).
    pub weights: Vec<f64>,
    pub k: usize,
    /// `Σ_l S'_l`.
    pub total: f64,
    /// `T · Σ_l S'_l`.
    pub target: f64,
    /// `C_1 … C_L` (Eq. 11), in sorted order.
    pub cumulative: Vec<f64>,
    pub c_k: f64,
    pub c_k_minus_1: f64,
    /// Every score was 0 (e.g. every `w_i` clamped): all layers with `W = 1/L` (A19).
    pub degenerate: bool,
}

impl Selection {
    /// 1-based rank of layer `layer` by score.
    pub fn rank(&self, layer: usize) -> usize {
        self.order
            .iter()
            .position(|&o| o == layer)
            .expect("every layer is ranked")
            + 1
    }

    /// Whether layer `layer` is among the selected.
    pub fn is_selected(&self, layer: usize) -> bool {
        self.selected.contains(&layer)
    }
}

/// Eqs. 11–14 (A19): sort descending (ties: lower index first), take the smallest `k` with
/// `C_k ≥ T·ΣS`, `W_l = S_l / Σ_selected S`. Sums are float64 in sorted order. A non-positive
/// total selects every layer with equal weights and marks the selection degenerate.
pub fn select_layers(scores: &[f64], threshold: f64) -> Selection {
    let l = scores.len();
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let total = order.iter().fold(0.0, |acc, &i| acc + scores[i]);
    if total.is_nan() || total <= 0.0 {
        return Selection {
            selected: order.clone(),
            order,
            weights: vec![1.0 / l as f64; l],
            k: l,
            total,
            target: threshold * total,
            cumulative: vec![0.0; l],
            c_k: 0.0,
            c_k_minus_1: 0.0,
            degenerate: true,
        };
    }
    let target = threshold * total;
    let mut cumulative = Vec::with_capacity(l);
    let mut acc = 0.0;
    let mut k = None;
    for (r, &i) in order.iter().enumerate() {
        acc += scores[i];
        cumulative.push(acc);
        if k.is_none() && acc >= target {
            k = Some(r + 1);
        }
    }
    let k = k.unwrap_or(l);
    let selected = order[..k].to_vec();
    let ssel = selected.iter().fold(0.0, |acc, &i| acc + scores[i]);
    let mut weights = vec![0.0; l];
    for &i in &selected {
        weights[i] = scores[i] / ssel;
    }
    Selection {
        order,
        selected,
        weights,
        k,
        total,
        target,
        c_k: cumulative[k - 1],
        c_k_minus_1: if k >= 2 { cumulative[k - 2] } else { 0.0 },
        cumulative,
        degenerate: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_hand() {
        // Scores 1, 4, 3, 2: order 1, 2, 3, 0; total 10; T = 0.7 → target 7; C = 4, 7 → k = 2.
        let s = select_layers(&[1.0, 4.0, 3.0, 2.0], 0.7);
        assert_eq!(s.order, vec![1, 2, 3, 0]);
        assert_eq!(s.k, 2);
        assert_eq!(s.selected, vec![1, 2]);
        assert_eq!(
            (s.rank(1), s.rank(0), s.is_selected(2), s.is_selected(3)),
            (1, 4, true, false)
        );
        assert_eq!(s.weights, vec![0.0, 4.0 / 7.0, 3.0 / 7.0, 0.0]);
        assert_eq!((s.c_k, s.c_k_minus_1, s.target), (7.0, 4.0, 7.0));
        assert!(!s.degenerate);
        // T = 1 selects every layer with positive score needed to reach the total.
        assert_eq!(select_layers(&[1.0, 4.0, 3.0, 2.0], 1.0).k, 4);
        // T just above C_1/total takes two layers.
        assert_eq!(select_layers(&[1.0, 4.0, 3.0, 2.0], 0.41).k, 2);
        assert_eq!(select_layers(&[1.0, 4.0, 3.0, 2.0], 0.4).k, 1);
    }

    #[test]
    fn ties_go_to_the_lower_index_and_zero_scores_are_degenerate() {
        let s = select_layers(&[2.0, 5.0, 5.0, 2.0], 0.5);
        assert_eq!(s.order, vec![1, 2, 0, 3]);
        // total 14, target 7: C_1 = 5, C_2 = 10 → k = 2.
        assert_eq!(s.selected, vec![1, 2]);
        assert_eq!(select_layers(&[2.0, 5.0, 5.0, 2.0], 0.3).selected, vec![1]);
        let d = select_layers(&[0.0, 0.0, 0.0], 0.95);
        assert!(d.degenerate);
        assert_eq!(d.weights, vec![1.0 / 3.0; 3]);
        assert_eq!(d.k, 3);
    }

    #[test]
    fn maps_and_distances_by_hand() {
        // Two channels, one pixel: x = (3, 4), g = (1, 1) → ‖x·g‖ = 5.
        assert_eq!(
            input_gradient_map(&[3.0, 4.0], &[1.0, 1.0], 2, 1, 1).data,
            vec![5.0]
        );
        // φ = relu(A·G): the negative product is dropped.
        assert_eq!(
            phi_norm_map(&[3.0, 4.0], &[1.0, -1.0], 2, 1, 1).data,
            vec![3.0]
        );
        let ig = Map::new(1, 2, vec![0.0, 1.0]);
        let phi = Map::new(1, 2, vec![5.0, 2.0]); // min-max → [1, 0]
        let d = layer_distance(&ig, &phi, Upsample::Bilinear, ScoreNormalize::Minmax);
        assert!((d - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(
            layer_score(&[0.5, 2.0], &[2.0, 1.0], ScoreMode::Distance, 4),
            3.0
        );
        assert_eq!(
            layer_score(&[0.5, 2.0], &[2.0, 1.0], ScoreMode::Similarity, 4),
            2.0
        );
    }
}
