//! The first principal component of a layer's channels (Eigen-CAM, EigenGrad-CAM,
//! `--eigen-smooth`), as pytorch-grad-cam's `get_2d_projection`, with a deterministic sign.

use nalgebra::{DMatrix, SymmetricEigen};

/// Projection of each position on the first principal component: `X` is the `(h·w) × k`
/// matrix of positions × channels of `data` (`k` channels of `hw` values each), NaN set to 0,
/// each channel centred over the positions; the map is `X·v₁` with `v₁` the first right
/// singular vector of `X` (Muhammad & Yeasin, Eigen-CAM, Eq. 3).
///
/// Computed from the smaller Gram matrix: `XᵀX` (`k × k`, then `X·v₁`) or `XXᵀ`
/// (`hw × hw`, whose first eigenvector `u₁` with eigenvalue `σ₁²` gives `X·v₁ = σ₁·u₁`).
///
/// Sign (the package leaves it to LAPACK): see [`orient`].
pub fn first_component_projection(data: &[f64], k: usize, hw: usize) -> Vec<f64> {
    assert_eq!(data.len(), k * hw, "projection input size");
    // x[p][c], centred per channel.
    let mut x = DMatrix::<f64>::zeros(hw, k);
    for c in 0..k {
        let ch = &data[c * hw..(c + 1) * hw];
        let clean = |v: f64| if v.is_nan() { 0.0 } else { v };
        let mean = ch.iter().map(|&v| clean(v)).sum::<f64>() / hw as f64;
        for (p, &v) in ch.iter().enumerate() {
            x[(p, c)] = clean(v) - mean;
        }
    }
    let mut proj = if k <= hw {
        let v = top_eigenvector(x.transpose() * &x).0;
        (&x * v).iter().copied().collect::<Vec<f64>>()
    } else {
        let (u, lambda) = top_eigenvector(&x * x.transpose());
        u.iter().map(|&v| v * lambda.max(0.0).sqrt()).collect()
    };
    orient(&mut proj);
    proj
}

/// Eigenvector of the largest eigenvalue of a symmetric matrix, and that eigenvalue.
fn top_eigenvector(m: DMatrix<f64>) -> (nalgebra::DVector<f64>, f64) {
    let e = SymmetricEigen::new(m);
    let mut best = 0;
    for i in 1..e.eigenvalues.len() {
        if e.eigenvalues[i] > e.eigenvalues[best] {
            best = i;
        }
    }
    (
        e.eigenvectors.column(best).into_owned(),
        e.eigenvalues[best],
    )
}

/// icam's sign rule for a principal component: flip the projection so that its entry of
/// largest magnitude is positive (the first such entry on ties). A principal component's
/// sign is arbitrary; pytorch-grad-cam takes whatever sign LAPACK's SVD returns.
pub fn orient(p: &mut [f64]) {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if v.abs() > p[best].abs() {
            best = i;
        }
    }
    if p.get(best).is_some_and(|&v| v < 0.0) {
        p.iter_mut().for_each(|v| *v = -*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_one_data_projects_on_its_direction() {
        // Channels c0 = s, c1 = 2s over 4 positions with s = [1, 2, 3, 6]: centred s' =
        // [-2, -1, 0, 3]; v₁ = (1, 2)/√5, projection = s'·√5 = [-2√5, -√5, 0, 3√5]: the
        // largest |value| (3√5) is positive already.
        let s = [1.0, 2.0, 3.0, 6.0];
        let data: Vec<f64> = s
            .iter()
            .chain(s.iter().map(|v| v * 2.0).collect::<Vec<_>>().iter())
            .copied()
            .collect();
        let r5 = 5f64.sqrt();
        let want = [-2.0 * r5, -r5, 0.0, 3.0 * r5];
        for (k, hw) in [(2, 4)] {
            let p = first_component_projection(&data, k, hw);
            for (a, b) in p.iter().zip(want) {
                assert!((a - b).abs() < 1e-12, "{p:?}");
            }
        }
        // More channels than positions (the XXᵀ path): 3 channels over 2 positions,
        // c = [1, -1]·(1, 2, 2) + mean: projection ±[3, -3] → [3, -3] (first on ties).
        let d = [5.0, 3.0, 2.0, -2.0, 7.0, 3.0];
        let p = first_component_projection(&d, 3, 2);
        assert!(
            (p[0] - 3.0).abs() < 1e-12 && (p[1] + 3.0).abs() < 1e-12,
            "{p:?}"
        );
        // The sign rule flips.
        let mut q = vec![1.0, -4.0, 2.0];
        orient(&mut q);
        assert_eq!(q, vec![-1.0, 4.0, -2.0]);
        // Zero data → zeros; NaN counts as 0.
        assert_eq!(first_component_projection(&[0.0; 6], 2, 3), vec![0.0; 3]);
        let n = first_component_projection(&[f64::NAN, 1.0, 3.0, 0.0], 1, 4);
        assert!(n.iter().all(|v| v.is_finite()));
    }
}
