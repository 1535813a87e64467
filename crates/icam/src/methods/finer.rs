//! Finer-CAM (Zhang et al.): explain the target class *against* its closest competitors.
//! A target modifier for any method that uses a target: the objective is pytorch-grad-cam's
//! `FinerWeightedTarget`, `O = Σ_j p_j (S_c − α S_j) / (Σ_j p_j + 1e-9)`, over the comparison
//! classes `j` with softmax probabilities `p_j`.

use crate::error::{IcamError, Result};
use crate::similarity::log_softmax;

/// The package's ε in the denominator.
pub const FINER_EPS: f64 = 1e-9;

/// Finer-CAM options: how many competitors and how strongly they are subtracted.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Finer {
    /// Comparison classes: the `k` classes whose logits are closest to the target's.
    pub k: usize,
    /// `α`.
    pub alpha: f64,
}

impl Finer {
    /// `--finer-k` at least 1, `--finer-alpha` finite.
    pub fn check(&self) -> Result<()> {
        if self.k == 0 {
            return Err(IcamError::Config("--finer-k must be at least 1".into()));
        }
        if !self.alpha.is_finite() {
            return Err(IcamError::Config(format!(
                "--finer-alpha must be finite, got {}",
                self.alpha
            )));
        }
        Ok(())
    }
}

impl Default for Finer {
    fn default() -> Self {
        Self { k: 3, alpha: 1.0 }
    }
}

/// The resolved objective of one target.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FinerTarget {
    pub main: usize,
    pub comparisons: Vec<usize>,
    pub alpha: f64,
}

/// The `k` classes other than `main` whose logits are closest to `S_main` (by `|S_j − S_c|`,
/// ties by index), as the package's `argsort(|S − S_c|)[1..=k]`.
pub fn comparison_classes(logits: &[f64], main: usize, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).filter(|&j| j != main).collect();
    let d = |j: usize| (logits[j] - logits[main]).abs();
    order.sort_by(|&a, &b| d(a).total_cmp(&d(b)).then(a.cmp(&b)));
    order.truncate(k);
    order
}

impl FinerTarget {
    pub fn new(logits: &[f64], main: usize, opt: Finer) -> Self {
        Self {
            main,
            comparisons: comparison_classes(logits, main, opt.k),
            alpha: opt.alpha,
        }
    }

    /// `O(S)`.
    pub fn value(&self, logits: &[f64]) -> f64 {
        let p: Vec<f64> = log_softmax(logits).into_iter().map(f64::exp).collect();
        let (c, a) = (self.main, self.alpha);
        let num: f64 = self
            .comparisons
            .iter()
            .map(|&j| p[j] * (logits[c] - a * logits[j]))
            .sum();
        let den: f64 = self.comparisons.iter().map(|&j| p[j]).sum::<f64>() + FINER_EPS;
        num / den
    }

    /// `∂O/∂S_m` (the probabilities are differentiated too, as the package's autograd does):
    /// with `N = Σ_j p_j (S_c − α S_j)`, `D = Σ_j p_j + ε` and `∂p_j/∂S_m = p_j(δ_jm − p_m)`,
    /// `∂N/∂S_m = Σ_j p_j(δ_jm − p_m)(S_c − α S_j) + δ_cm Σ_j p_j − α Σ_j p_j δ_jm`,
    /// `∂D/∂S_m = Σ_j p_j(δ_jm − p_m)`, and `∂O/∂S_m = (∂N·D − N·∂D)/D²`.
    pub fn logit_gradient(&self, logits: &[f64]) -> Vec<f64> {
        let p: Vec<f64> = log_softmax(logits).into_iter().map(f64::exp).collect();
        let (c, a) = (self.main, self.alpha);
        let js = &self.comparisons;
        let sum_p: f64 = js.iter().map(|&j| p[j]).sum();
        let num: f64 = js.iter().map(|&j| p[j] * (logits[c] - a * logits[j])).sum();
        let den = sum_p + FINER_EPS;
        (0..logits.len())
            .map(|m| {
                let mut dn = 0.0;
                let mut dd = 0.0;
                for &j in js {
                    let dp = p[j] * (f64::from(u8::from(j == m)) - p[m]);
                    dn += dp * (logits[c] - a * logits[j]);
                    dd += dp;
                    if j == m {
                        dn -= a * p[j];
                    }
                }
                if m == c {
                    dn += sum_p;
                }
                (dn * den - num * dd) / (den * den)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_and_gradient() {
        let s = [2.0, 0.5, 1.8, -1.0, 2.3];
        // |S − S_0| = [0, 1.5, .2, 3, .3] → closest: 2, 4, 1.
        assert_eq!(comparison_classes(&s, 0, 3), vec![2, 4, 1]);
        let t = FinerTarget::new(&s, 0, Finer { k: 2, alpha: 0.7 });
        assert_eq!(t.comparisons, vec![2, 4]);
        // Value by hand from the probabilities.
        let z: f64 = s.iter().map(|v| v.exp()).sum();
        let p = |j: usize| s[j].exp() / z;
        let num = p(2) * (2.0 - 0.7 * 1.8) + p(4) * (2.0 - 0.7 * 2.3);
        assert!((t.value(&s) - num / (p(2) + p(4) + FINER_EPS)).abs() < 1e-14);
        // Gradient against central differences.
        let g = t.logit_gradient(&s);
        for m in 0..s.len() {
            let h = 1e-6;
            let (mut up, mut dn) = (s, s);
            up[m] += h;
            dn[m] -= h;
            let fd = (t.value(&up) - t.value(&dn)) / (2.0 * h);
            assert!((g[m] - fd).abs() < 1e-8, "{m}: {} vs {fd}", g[m]);
        }
    }
}
