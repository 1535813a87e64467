//! Perturbation weights (Eqs. 5–10): SSIM, SVIM, MDD/MDS and `w_i`.

/// Parameters of the Gaussian-windowed SSIM (A5).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SsimParams {
    /// Window taps (11).
    pub win: usize,
    /// Gaussian σ (1.5).
    pub sigma: f64,
    pub k1: f64,
    pub k2: f64,
    /// Dynamic range L of the pixel values (1).
    pub data_range: f64,
}

impl Default for SsimParams {
    fn default() -> Self {
        Self {
            win: 11,
            sigma: 1.5,
            k1: 0.01,
            k2: 0.03,
            data_range: 1.0,
        }
    }
}

/// Normalised 1-D Gaussian of `win` taps.
pub fn gaussian_kernel1d(win: usize, sigma: f64) -> Vec<f64> {
    let half = (win as f64 - 1.0) / 2.0;
    let k: Vec<f64> = (0..win)
        .map(|i| {
            let x = i as f64 - half;
            (-(x * x) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f64 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

/// Separable "valid" filtering of one `h × w` channel: rows, then columns. Each output is the
/// sum over the taps in order, accumulated tap by tap across a whole row so that the loops run
/// over contiguous memory (and vectorise).
fn filter_valid(x: &[f64], h: usize, w: usize, k: &[f64]) -> Vec<f64> {
    let n = k.len();
    let (oh, ow) = (h + 1 - n, w + 1 - n);
    let mut rows = vec![0.0; h * ow];
    for (r, out) in x.chunks_exact(w).zip(rows.chunks_exact_mut(ow)) {
        for (t, &kt) in k.iter().enumerate() {
            for (o, &v) in out.iter_mut().zip(&r[t..t + ow]) {
                *o += kt * v;
            }
        }
    }
    let mut out = vec![0.0; oh * ow];
    for (yo, orow) in out.chunks_exact_mut(ow).enumerate() {
        for (t, &kt) in k.iter().enumerate() {
            for (o, &v) in orow.iter_mut().zip(&rows[(yo + t) * ow..(yo + t + 1) * ow]) {
                *o += kt * v;
            }
        }
    }
    out
}

/// The reference image's side of [`ssim`] (its windowed means and second moments per
/// channel), computed once and compared with many images.
pub struct SsimReference<'a> {
    x: &'a [f64],
    h: usize,
    w: usize,
    params: SsimParams,
    kernel: Vec<f64>,
    /// Per channel: `(μ_x, E[x²])` over the windows.
    moments: Vec<(Vec<f64>, Vec<f64>)>,
}

impl<'a> SsimReference<'a> {
    /// `x`: the `(c, h, w)` pixel-space reference image.
    pub fn new(x: &'a [f64], c: usize, h: usize, w: usize, p: &SsimParams) -> Self {
        assert!(
            h >= p.win && w >= p.win,
            "image smaller than the SSIM window"
        );
        let kernel = gaussian_kernel1d(p.win, p.sigma);
        let hw = h * w;
        let moments = (0..c)
            .map(|ch| {
                let xs = &x[ch * hw..(ch + 1) * hw];
                let sq: Vec<f64> = xs.iter().map(|u| u * u).collect();
                (
                    filter_valid(xs, h, w, &kernel),
                    filter_valid(&sq, h, w, &kernel),
                )
            })
            .collect();
        Self {
            x,
            h,
            w,
            params: *p,
            kernel,
            moments,
        }
    }

    /// [`ssim`] of the reference and `y`.
    pub fn ssim(&self, y: &[f64]) -> f64 {
        let (h, w, k, p) = (self.h, self.w, &self.kernel, &self.params);
        let c1 = (p.k1 * p.data_range).powi(2);
        let c2 = (p.k2 * p.data_range).powi(2);
        let hw = h * w;
        let mut total = 0.0;
        let mut count = 0usize;
        for (ch, (mx, exx)) in self.moments.iter().enumerate() {
            let xs = &self.x[ch * hw..(ch + 1) * hw];
            let ys = &y[ch * hw..(ch + 1) * hw];
            let prod =
                |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).collect::<Vec<_>>();
            let my = filter_valid(ys, h, w, k);
            let eyy = filter_valid(&prod(ys, ys), h, w, k);
            let exy = filter_valid(&prod(xs, ys), h, w, k);
            for i in 0..mx.len() {
                let (ux, uy) = (mx[i], my[i]);
                let sxx = exx[i] - ux * ux;
                let syy = eyy[i] - uy * uy;
                let sxy = exy[i] - ux * uy;
                let num = (2.0 * ux * uy + c1) * (2.0 * sxy + c2);
                let den = (ux * ux + uy * uy + c1) * (sxx + syy + c2);
                total += num / den;
            }
            count += mx.len();
        }
        total / count as f64
    }
}

/// Eq. 7, as Wang et al. (A5): Gaussian window, "valid" filtering, population (co)variances,
/// `C1 = (k1·L)²`, `C2 = (k2·L)²`, the SSIM map averaged over positions and channels; equal to
/// scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False, data_range=1)`. `x`, `y`: `(c, h, w)` pixel-space images.
pub fn ssim(x: &[f64], y: &[f64], c: usize, h: usize, w: usize, p: &SsimParams) -> f64 {
    SsimReference::new(x, c, h, w, p).ssim(y)
}

/// Eq. 6: `SVIM = exp(−(SSIM − 0.5)² / (2σ²))` (σ: A6).
pub fn svim(ssim: f64, sigma: f64) -> f64 {
    (-((ssim - 0.5) * (ssim - 0.5)) / (2.0 * sigma * sigma)).exp()
}

/// `log_softmax` in float64.
pub fn log_softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + logits.iter().map(|&l| (l - m).exp()).sum::<f64>().ln();
    logits.iter().map(|&l| l - lse).collect()
}

/// Eqs. 8 and 10: `MDD = Σ_k (X_k − Y_k)/2 · log(X_k/Y_k)` with `X`, `Y` the softmax of the
/// original and perturbed logits; `log(X/Y)` is a difference of log-softmaxes in float64, so
/// nothing is divided by zero (A7). Equals the symmetric KL divergence over 2.
pub fn mdd(logits_x: &[f64], logits_y: &[f64]) -> f64 {
    let lx = log_softmax(logits_x);
    let ly = log_softmax(logits_y);
    lx.iter()
        .zip(&ly)
        .map(|(&a, &b)| 0.5 * (a.exp() - b.exp()) * (a - b))
        .sum()
}

/// How Eq. 9 turns the divergence MDD into the similarity MDS (A7, issue 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MdsForm {
    /// `max(1 − MDD, 0)`, the paper's Eq. 9 with A7's clamp: `w_i = 0` once MDD ≥ 1.
    Clamp,
    /// `exp(−MDD)`: bounded in (0, 1], never 0, equal to `1 − MDD` to first order.
    Exp,
    /// `1 − MDD` unclamped (`--no-clamp-mds`): `w_i` is NaN once MDD > 1.
    Unclamped,
}

/// Eq. 9: `MDS = 1 − MDD`, clamped at 0 unless `clamp` is off (A7).
pub fn mds_linear(mdd: f64, clamp: bool) -> f64 {
    let v = 1.0 - mdd;
    if clamp { v.max(0.0) } else { v }
}

/// Eq. 9 read as a bounded similarity (issue 8): `MDS = exp(−MDD)`. MDD (Eq. 10, half the
/// symmetric KL divergence) is ≥ 0 and unbounded, so `1 − MDD` leaves [0, 1] as soon as a
/// perturbation moves the prediction by one nat and the clamp of A7 then zeroes its weight;
/// `exp(−MDD)` keeps Eq. 9's value and slope at MDD = 0 (`1 − MDD + O(MDD²)`), stays in
/// (0, 1] and only decreases, so every perturbation keeps a positive weight that still ranks
/// the perturbations by how much they moved the prediction.
pub fn mds_exp(mdd: f64) -> f64 {
    (-mdd).exp()
}

/// MDS of Eq. 9 in the chosen form.
pub fn mds(mdd: f64, form: MdsForm) -> f64 {
    match form {
        MdsForm::Clamp => mds_linear(mdd, true),
        MdsForm::Unclamped => mds_linear(mdd, false),
        MdsForm::Exp => mds_exp(mdd),
    }
}

/// Eq. 5: `w_i = √(SVIM·MDS)`; NaN when the product is negative (only without the clamp).
pub fn perturbation_weight(svim: f64, mds: f64) -> f64 {
    let p = svim * mds;
    if p >= 0.0 { p.sqrt() } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssim_of_identical_images_is_one_and_of_a_constant_shift_is_hand_computed() {
        let (h, w) = (12, 13);
        let x: Vec<f64> = (0..h * w).map(|i| ((i * 37) % 17) as f64 / 17.0).collect();
        let p = SsimParams::default();
        assert!((ssim(&x, &x, 1, h, w, &p) - 1.0).abs() < 1e-12);
        // Constant images a and b: σ terms vanish, SSIM = (2ab + C1)/(a² + b² + C1).
        let a = vec![0.2; 11 * 11];
        let b = vec![0.6; 11 * 11];
        let c1 = 1e-4;
        let want = (2.0 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1);
        assert!((ssim(&a, &b, 1, 11, 11, &p) - want).abs() < 1e-12);
    }

    #[test]
    fn svim_by_hand() {
        assert_eq!(svim(0.5, 0.25), 1.0);
        // SSIM 1 or 0: exp(−0.25 / (2·0.0625)) = e^−2.
        assert!((svim(1.0, 0.25) - (-2.0f64).exp()).abs() < 1e-15);
        assert!((svim(0.0, 0.25) - (-2.0f64).exp()).abs() < 1e-15);
    }

    #[test]
    fn mdd_is_half_the_symmetric_kl_and_the_clamp_applies() {
        let x = [1.0, 2.0, 0.5];
        let y = [0.0, 3.0, 0.0];
        let px: Vec<f64> = log_softmax(&x).iter().map(|v| v.exp()).collect();
        let py: Vec<f64> = log_softmax(&y).iter().map(|v| v.exp()).collect();
        let kl = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(a, b)| a * (a / b).ln()).sum::<f64>();
        let want = (kl(&px, &py) + kl(&py, &px)) / 2.0;
        assert!((mdd(&x, &y) - want).abs() < 1e-14);
        assert_eq!(mdd(&x, &x), 0.0);
        // Extreme logits: no division by zero.
        assert!(mdd(&[0.0, 1000.0], &[1000.0, 0.0]).is_finite());
        assert_eq!(mds(1.7, MdsForm::Clamp), 0.0);
        assert!((mds(1.7, MdsForm::Unclamped) + 0.7).abs() < 1e-15);
        assert_eq!(mds(0.25, MdsForm::Clamp), 0.75);
        assert!(perturbation_weight(0.5, mds(1.7, MdsForm::Unclamped)).is_nan());
        assert!(perturbation_weight(0.5, -0.7).is_nan());
        assert_eq!(perturbation_weight(0.5, 0.0), 0.0);
        assert!((perturbation_weight(0.5, 0.5) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn exp_mds_is_bounded_positive_decreasing_and_tangent_to_eq9() {
        // By hand: exp(0) = 1, exp(−1) = 0.36788, exp(−1.7) = 0.18268.
        assert_eq!(mds(0.0, MdsForm::Exp), 1.0);
        assert!((mds(1.0, MdsForm::Exp) - 0.367_879_441_171_442_3).abs() < 1e-15);
        assert!((mds(1.7, MdsForm::Exp) - 0.182_683_524_052_734_6).abs() < 1e-15);
        // Where the clamp zeroes a weight, the exponential keeps a positive one.
        assert_eq!(perturbation_weight(0.5, mds(1.7, MdsForm::Clamp)), 0.0);
        let w = perturbation_weight(0.5, mds(1.7, MdsForm::Exp));
        assert!((w - (0.5f64 * 0.182_683_524_052_734_6).sqrt()).abs() < 1e-15);
        // Same value and slope as 1 − MDD at MDD = 0; in (0, 1] and decreasing everywhere.
        let h = 1e-6;
        assert!(((mds_exp(h) - mds_exp(0.0)) / h + 1.0).abs() < 1e-5);
        let mut last = f64::INFINITY;
        for i in 0..=400 {
            let d = i as f64 * 0.1;
            let v = mds_exp(d);
            assert!(v > 0.0 && v <= 1.0 && v < last, "MDD {d}: {v}");
            assert!(v >= mds_linear(d, true), "exp(−d) ≥ max(1 − d, 0)");
            last = v;
        }
    }
}
