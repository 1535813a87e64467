//! FEM, the Feature Explanation Method (Fuad et al.): channels weighted by the share of their
//! positions above a k-sigma threshold; no gradients, no target class.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;

/// The package's default `k`.
pub const FEM_K: f64 = 2.0;

pub struct Fem {
    pub k: f64,
}

/// `w_k = (1/N) Σ_ij [A_ij^k > μ_k + k·σ_k]`, with `μ_k`, `σ_k` the mean and (population)
/// standard deviation of channel `k` over the positions.
pub fn fem_weights(x: &LayerInput, k_sigma: f64) -> Vec<f64> {
    let n = x.hw() as f64;
    (0..x.k)
        .map(|ch| {
            let a = x.channel(ch).0;
            let mean = a.iter().sum::<f64>() / n;
            let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let th = mean + k_sigma * var.sqrt();
            a.iter().filter(|&&v| v > th).count() as f64 / n
        })
        .collect()
}

impl CamMethod for Fem {
    fn name(&self) -> &'static str {
        "fem"
    }

    fn uses_gradients(&self) -> bool {
        false
    }

    fn uses_target(&self) -> bool {
        false
    }

    fn contributions(&self, x: &LayerInput, _: &mut dyn Passes) -> Result<Contributions> {
        Ok(Contributions::Channel(fem_weights(x, self.k)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LayerInput, NoPasses, layer_cam};
    use super::*;

    #[test]
    fn by_hand() {
        // One channel [0, 0, 0, 8]: μ = 2, σ = √12 ≈ 3.46; k = 1: th ≈ 5.46, one value above
        // → w = 1/4, map [0, 0, 0, 2]; k = 2: th ≈ 8.93, none → zeros.
        let a = [0.0, 0.0, 0.0, 8.0];
        let x = LayerInput {
            a: &a,
            g: &[],
            k: 1,
            h: 2,
            w: 2,
        };
        assert_eq!(fem_weights(&x, 1.0), vec![0.25]);
        assert_eq!(fem_weights(&x, 2.0), vec![0.0]);
        let m = layer_cam(&Fem { k: 1.0 }, &x, false, &mut NoPasses).unwrap();
        assert_eq!(m.data, vec![0.0, 0.0, 0.0, 2.0]);
        // A constant channel: σ = 0, nothing strictly above the mean.
        let c = [3.0; 4];
        let xc = LayerInput { a: &c, ..x };
        assert_eq!(fem_weights(&xc, 0.0), vec![0.0]);
    }
}
