//! Perturbations (Eq. 4, A1–A3): seeded noise and masks, or loaded ones, and the perturbed
//! images `I'_i = (I + α·N_i) ⊙ M_i`.

use icam_models::{HostData, HostTensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{IcamError, Result};

/// The random draws of `n` perturbations of an `h × w` image.
#[derive(Clone, Debug, PartialEq)]
pub struct Perturbations {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    /// `(n, 3, h, w)` standard-normal noise `N_i`, unscaled, float32.
    pub noise: Vec<f32>,
    /// `(n, 1, h, w)` masks `M_i` in {0, 1}, shared by the three channels (A1).
    pub mask: Vec<u8>,
    /// Where the draws came from, for the report.
    pub source: PerturbationSource,
}

/// Where the noise and the masks came from (`seed 0`, or the files they were loaded from), as
/// the reference's `perturbation_source`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PerturbationSource {
    pub noise: String,
    pub mask: String,
}

impl PerturbationSource {
    /// The same description for both.
    pub fn both(s: impl Into<String>) -> Self {
        let s = s.into();
        Self {
            noise: s.clone(),
            mask: s,
        }
    }
}

impl Perturbations {
    /// Seeded draws (A1): noise `N(0, 1)` per element, then `M = [u < 1 − α]` per pixel with
    /// `u ~ U[0, 1)` compared in float32, from a ChaCha8 generator seeded with `seed`.
    /// Another generator than PyTorch's: to reproduce a reference run bit for bit, load its
    /// arrays with [`Perturbations::from_arrays`].
    pub fn generate(n: usize, h: usize, w: usize, alpha: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise: Vec<f32> = (0..n * 3 * h * w)
            .map(|_| rng.sample(StandardNormal))
            .collect();
        let keep = (1.0 - alpha) as f32;
        let mask = (0..n * h * w)
            .map(|_| u8::from(rng.random::<f32>() < keep))
            .collect();
        Self {
            n,
            h,
            w,
            noise,
            mask,
            source: PerturbationSource::both(format!("seed {seed}")),
        }
    }

    /// Loaded draws: `noise` `(n, 3, h, w)` and `mask` `(n, 1, h, w)` or `(n, h, w)` with
    /// values 0/1, as the reference's `--noise/--mask` files.
    pub fn from_arrays(
        noise: (&[usize], Vec<f32>),
        mask: (&[usize], Vec<f64>),
        source: PerturbationSource,
    ) -> Result<Self> {
        let (ns, nv) = noise;
        let (ms, mv) = mask;
        let [n, 3, h, w] = *ns else {
            return Err(IcamError::Config(format!(
                "noise must have shape (n, 3, H, W), got {ns:?}"
            )));
        };
        let mask_ok = matches!(*ms, [mn, 1, mh, mw] | [mn, mh, mw] if (mn, mh, mw) == (n, h, w));
        if !mask_ok {
            return Err(IcamError::Config(format!(
                "mask shape {ms:?} does not match noise shape {ns:?} (want ({n}, 1, {h}, {w}))"
            )));
        }
        if nv.iter().any(|v| !v.is_finite()) {
            return Err(IcamError::Config("noise holds NaN or infinity".into()));
        }
        if mv.iter().any(|&v| v != 0.0 && v != 1.0) {
            return Err(IcamError::Config("mask must hold only 0 and 1".into()));
        }
        Ok(Self {
            n,
            h,
            w,
            noise: nv,
            mask: mv.iter().map(|&v| v as u8).collect(),
            source,
        })
    }

    /// Fraction of kept pixels of perturbation `i` (0-based).
    pub fn keep_fraction(&self, i: usize) -> f64 {
        let hw = self.h * self.w;
        let kept: usize = self.mask[i * hw..(i + 1) * hw]
            .iter()
            .map(|&m| m as usize)
            .sum();
        kept as f64 / hw as f64
    }
}

/// Eq. 4: `I'_i = (I + α·N_i) ⊙ M_i`, no clipping (A2), for `x` of shape `[1, 3, H, W]`, in
/// `x`'s precision with the operation order `t = α·N; t = I + t; t = t·M`.
pub fn perturb(x: &HostTensor, p: &Perturbations, alpha: f64) -> Result<HostTensor> {
    let [1, 3, h, w] = *x.shape.as_slice() else {
        return Err(IcamError::Config(format!(
            "image shape {:?} is not [1, 3, H, W]",
            x.shape
        )));
    };
    if (h, w) != (p.h, p.w) {
        return Err(IcamError::Config(format!(
            "perturbations are {}×{} but the image is {h}×{w}",
            p.h, p.w
        )));
    }
    let hw = h * w;
    let shape = vec![p.n, 3, h, w];
    let idx = |i: usize| (i % (3 * hw), (i / (3 * hw)) * hw + i % hw);
    Ok(match &x.data {
        HostData::F32(v) => {
            let a = alpha as f32;
            let out = (0..p.n * 3 * hw)
                .map(|i| {
                    let (xi, mi) = idx(i);
                    (v[xi] + a * p.noise[i]) * p.mask[mi] as f32
                })
                .collect();
            HostTensor::f32(shape, out)
        }
        HostData::F64(v) => {
            let out = (0..p.n * 3 * hw)
                .map(|i| {
                    let (xi, mi) = idx(i);
                    (v[xi] + alpha * p.noise[i] as f64) * p.mask[mi] as f64
                })
                .collect();
            HostTensor::f64(shape, out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_are_deterministic_and_have_the_right_rates() {
        let a = Perturbations::generate(4, 32, 32, 0.4, 7);
        let b = Perturbations::generate(4, 32, 32, 0.4, 7);
        let c = Perturbations::generate(4, 32, 32, 0.4, 8);
        assert_eq!(a, b);
        assert_ne!(a.noise, c.noise);
        // P(M = 1) = 1 − α (A1): 0.6 of 4096 pixels, within 4 standard deviations.
        let kept: f64 = (0..4).map(|i| a.keep_fraction(i)).sum::<f64>() / 4.0;
        assert!(
            (kept - 0.6).abs() < 4.0 * (0.24f64 / 4096.0).sqrt(),
            "{kept}"
        );
        let mean: f64 = a.noise.iter().map(|&x| x as f64).sum::<f64>() / a.noise.len() as f64;
        assert!(mean.abs() < 0.05);
    }

    #[test]
    fn eq4_by_hand() {
        let x = HostTensor::f64(vec![1, 3, 1, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let p = Perturbations {
            n: 1,
            h: 1,
            w: 2,
            noise: vec![1.0, -1.0, 0.5, 0.5, 2.0, 0.0],
            mask: vec![1, 0],
            source: PerturbationSource::both("test"),
        };
        let y = perturb(&x, &p, 0.5).unwrap();
        // (x + 0.5 N) · M with M = [1, 0] per pixel, shared by the channels.
        assert_eq!(y.to_f64(), vec![1.5, 0.0, 3.25, 0.0, 6.0, 0.0]);
    }
}
