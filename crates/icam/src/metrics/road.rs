//! ROAD: remove and debias (Rong et al. 2022), with its noisy linear imputation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::curves::{rank_ascending, rank_descending};
use super::scorer::{Scorer, check_inputs, score_batched};
use crate::error::{IcamError, Result};
use crate::maps::Map;

/// The 8 neighbour offsets `(dy, dx)` and weights of the noisy linear imputer (ROAD's
/// `neighbors_weights`): 1/6 for the four edge neighbours, 1/12 for the diagonals.
const NEIGHBOURS: [(isize, isize, f64); 8] = [
    (-1, -1, 1.0 / 12.0),
    (-1, 0, 1.0 / 6.0),
    (-1, 1, 1.0 / 12.0),
    (0, -1, 1.0 / 6.0),
    (0, 1, 1.0 / 6.0),
    (1, -1, 1.0 / 12.0),
    (1, 0, 1.0 / 6.0),
    (1, 1, 1.0 / 12.0),
];

const NO_NEIGHBOUR: u32 = u32::MAX;

/// ROAD's noisy linear imputation (Rong, Leemann, Borisov, Kasneci, Kasneci, "A Consistent
/// and Efficient Evaluation Strategy for Attribution Methods", ICML 2022, §4; pytorch-grad-cam's
/// `NoisyLinearImputer`): every removed pixel `i` (`removed[i]`, row-major `h × w`) takes,
/// per channel, the weighted mean of its in-image 8 neighbours (weights 1/6 edge, 1/12
/// diagonal, renormalised over the neighbours that exist), removed neighbours being unknowns
/// too:
///
/// `(Σ_{j∈N(i)} w_j) x_i − Σ_{j∈N(i) removed} w_j x_j = Σ_{j∈N(i) kept} w_j v_j`,
///
/// then `noise · N(0, 1)` is added to each imputed value (ChaCha8 seeded with `seed`, draws
/// channel by channel, pixels in row-major order) and the result clamped to [0, 1] (the
/// [`Scorer`] contract; pytorch-grad-cam does not clamp). `noise` is in pixel units;
/// pytorch-grad-cam adds 0.01 to the *normalised* input, i.e. about 0.01·0.226 ≈ 0.0023 pixel
/// units with ImageNet statistics (the imputation itself is the same in either space: it is
/// affine per channel and its weights sum to 1).
///
/// The system is symmetric positive definite (a graph Laplacian plus the positive weights of
/// kept neighbours; every 8-connected group of removed pixels touches a kept pixel unless
/// everything is removed, which is an error). The reference solves it with scipy's sparse
/// direct `spsolve`; here a matrix-free Jacobi-preconditioned conjugate gradient on the
/// 9-point stencil, all three channels in one sweep, to a relative residual of 1e-6 — written
/// by hand because the stencil needs no matrix storage and no sparse-solver crate (sprs,
/// nalgebra-sparse, faer) is a dependency of icam for this one solve.
pub fn noisy_linear_impute(
    image: &[f32],
    h: usize,
    w: usize,
    removed: &[bool],
    noise: f64,
    seed: u64,
) -> Result<Vec<f32>> {
    let n = h * w;
    if image.len() != 3 * n || removed.len() != n {
        return Err(IcamError::Config(format!(
            "imputation of a {h}×{w} image needs 3·{n} values and {n} mask entries, got {} and {}",
            image.len(),
            removed.len()
        )));
    }
    let mut out = image.to_vec();
    // Unknown index of each removed pixel, and its pixel index.
    let mut vidx = vec![NO_NEIGHBOUR; n];
    let mut pixels: Vec<u32> = Vec::new();
    for (p, &r) in removed.iter().enumerate() {
        if r {
            vidx[p] = pixels.len() as u32;
            pixels.push(p as u32);
        }
    }
    let m = pixels.len();
    if m == 0 {
        return Ok(out);
    }
    if m == n {
        return Err(IcamError::Config(
            "ROAD cannot impute an image with every pixel removed".into(),
        ));
    }
    // The stencil: per unknown, its diagonal, its unknown neighbours (8 slots) and the
    // right-hand side of each channel (interleaved: unknown i, channel c at 3i + c).
    let mut diag = vec![0.0f64; m];
    let mut nb = vec![NO_NEIGHBOUR; 8 * m];
    let mut rhs = vec![0.0f64; 3 * m];
    for (i, &p) in pixels.iter().enumerate() {
        let (y, x) = ((p as usize / w) as isize, (p as usize % w) as isize);
        for (k, &(dy, dx, wt)) in NEIGHBOURS.iter().enumerate() {
            let (ny, nx) = (y + dy, x + dx);
            if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                continue;
            }
            let q = ny as usize * w + nx as usize;
            diag[i] += wt;
            if removed[q] {
                nb[8 * i + k] = vidx[q];
            } else {
                for c in 0..3 {
                    rhs[3 * i + c] += wt * image[c * n + q] as f64;
                }
            }
        }
    }
    let x = solve_stencil(&diag, &nb, &rhs)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for c in 0..3 {
        for (i, &p) in pixels.iter().enumerate() {
            let eps: f64 = if noise > 0.0 {
                noise * rng.sample::<f64, _>(StandardNormal)
            } else {
                0.0
            };
            out[c * n + p as usize] = (x[3 * i + c] + eps).clamp(0.0, 1.0) as f32;
        }
    }
    Ok(out)
}

/// `y = A x` for the imputation stencil, three interleaved channels.
fn stencil_apply(diag: &[f64], nb: &[u32], x: &[f64], y: &mut [f64]) {
    for (i, &d) in diag.iter().enumerate() {
        let mut acc = [d * x[3 * i], d * x[3 * i + 1], d * x[3 * i + 2]];
        for (k, &(_, _, wt)) in NEIGHBOURS.iter().enumerate() {
            let j = nb[8 * i + k];
            if j != NO_NEIGHBOUR {
                let j = 3 * j as usize;
                acc[0] -= wt * x[j];
                acc[1] -= wt * x[j + 1];
                acc[2] -= wt * x[j + 2];
            }
        }
        y[3 * i..3 * i + 3].copy_from_slice(&acc);
    }
}

/// Relative residual at which the imputation's conjugate gradient stops, per channel. At
/// 224×224 it leaves the solution within ~1e-5 of the exact one (measured against a 1e-9
/// solve), far below an 8-bit step (0.004) and the default noise (0.01).
const CG_TOLERANCE: f64 = 1e-6;

/// Jacobi-preconditioned conjugate gradient for the three right-hand sides at once (each
/// channel its own step sizes), from the Jacobi guess `x = D⁻¹ b`, to `‖r‖ ≤ CG_TOLERANCE·‖b‖`
/// per channel. Five work vectors, no allocation inside the loop.
fn solve_stencil(diag: &[f64], nb: &[u32], b: &[f64]) -> Result<Vec<f64>> {
    let m = diag.len();
    let inv: Vec<f64> = diag.iter().map(|d| 1.0 / d).collect();
    let dot3 = |u: &[f64], v: &[f64]| {
        let mut s = [0.0f64; 3];
        for (a, b) in u.chunks_exact(3).zip(v.chunks_exact(3)) {
            s[0] += a[0] * b[0];
            s[1] += a[1] * b[1];
            s[2] += a[2] * b[2];
        }
        s
    };
    let mut x = vec![0.0f64; 3 * m];
    for ((xi, bi), &d) in x.chunks_exact_mut(3).zip(b.chunks_exact(3)).zip(&inv) {
        xi.iter_mut().zip(bi).for_each(|(x, b)| *x = b * d);
    }
    let mut r = vec![0.0f64; 3 * m];
    stencil_apply(diag, nb, &x, &mut r);
    r.iter_mut().zip(b).for_each(|(r, b)| *r = b - *r);
    let mut z = vec![0.0f64; 3 * m];
    for ((zi, ri), &d) in z.chunks_exact_mut(3).zip(r.chunks_exact(3)).zip(&inv) {
        zi.iter_mut().zip(ri).for_each(|(z, r)| *z = r * d);
    }
    let mut p = z.clone();
    let mut ap = vec![0.0f64; 3 * m];
    let bb = dot3(b, b);
    let tol: [f64; 3] = std::array::from_fn(|c| CG_TOLERANCE * CG_TOLERANCE * bb[c]);
    let mut rz = dot3(&r, &z);
    let mut rr = dot3(&r, &r);
    let max_iter = 10 * m + 100;
    for _ in 0..max_iter {
        let active: [bool; 3] = std::array::from_fn(|c| rr[c] > tol[c] && rr[c] > 0.0);
        if !active.iter().any(|&a| a) {
            return Ok(x);
        }
        stencil_apply(diag, nb, &p, &mut ap);
        let pap = dot3(&p, &ap);
        let alpha: [f64; 3] = std::array::from_fn(|c| if active[c] { rz[c] / pap[c] } else { 0.0 });
        let (mut rz_new, mut rr_new) = ([0.0f64; 3], [0.0f64; 3]);
        for ((((xi, ri), zi), (pi, api)), &d) in x
            .chunks_exact_mut(3)
            .zip(r.chunks_exact_mut(3))
            .zip(z.chunks_exact_mut(3))
            .zip(p.chunks_exact(3).zip(ap.chunks_exact(3)))
            .zip(&inv)
        {
            for c in 0..3 {
                xi[c] += alpha[c] * pi[c];
                ri[c] -= alpha[c] * api[c];
                zi[c] = ri[c] * d;
                rz_new[c] += ri[c] * zi[c];
                rr_new[c] += ri[c] * ri[c];
            }
        }
        let beta: [f64; 3] =
            std::array::from_fn(|c| if active[c] { rz_new[c] / rz[c] } else { 0.0 });
        for (pi, zi) in p.chunks_exact_mut(3).zip(z.chunks_exact(3)) {
            for c in 0..3 {
                pi[c] = zi[c] + beta[c] * pi[c];
            }
        }
        rz = rz_new;
        rr = rr_new;
    }
    Err(IcamError::Numeric(format!(
        "ROAD imputation: conjugate gradient did not converge in {max_iter} iterations"
    )))
}

/// Which pixels ROAD removes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoadOrder {
    /// MoRF (pytorch-grad-cam's `ROADMostRelevantFirst`): the highest map values; a faithful
    /// map makes the probability fall fast.
    MostRelevantFirst,
    /// LeRF (`ROADLeastRelevantFirst`): the lowest map values; a faithful map keeps the
    /// probability.
    LeastRelevantFirst,
}

/// Options of [`road`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoadOptions {
    /// Standard deviation of the imputation noise, pixel units (see [`noisy_linear_impute`]).
    pub noise: f64,
    /// Seed of the noise; each percentage uses a generator seeded with it, so one
    /// percentage's image does not depend on the others in the list.
    pub seed: u64,
    /// Images per scorer call.
    pub batch: usize,
}

impl Default for RoadOptions {
    fn default() -> Self {
        Self {
            noise: 0.01,
            seed: 0,
            batch: 16,
        }
    }
}

/// ROAD at several removal percentages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoadResult {
    /// Probability of the class on the original image.
    pub original: f64,
    /// The percentages, as given.
    pub percents: Vec<f64>,
    /// Probability after removing and imputing each percentage.
    pub probabilities: Vec<f64>,
    /// `probability − original` for each (pytorch-grad-cam's `return_diff`); MoRF: more
    /// negative is better, LeRF: closer to 0 is better.
    pub changes: Vec<f64>,
}

/// ROAD (Rong et al. 2022, without retraining, as pytorch-grad-cam's
/// `ROADMostRelevantFirst` / `ROADLeastRelevantFirst`): for each `p` of `percents`, remove
/// `round(p/100 · h·w)` pixels — the most relevant (map descending) or the least relevant
/// (ascending), ties by increasing row-major index — impute them with
/// [`noisy_linear_impute`] (the percentages in parallel, one thread per core), and score the
/// class. One scorer pass over `[original, image_p…]` in batches of `opts.batch`.
///
/// `p` is the **percentage removed**, as in the ROAD paper's curves. pytorch-grad-cam's
/// `ROADMostRelevantFirst(percentile=q)` instead removes the pixels at or above the map's
/// `q`-th percentile (about `100 − q` % of them, and all ties at the cut), and
/// `ROADLeastRelevantFirst(q)` those at or below the `(100 − q)`-th; averaged over its
/// default `q = 10, 20, …, 90` both conventions give the same mean up to ties. `p` must lie
/// in `[0, 100)`; at least one pixel is always kept.
pub fn road(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
    order: RoadOrder,
    percents: &[f64],
    opts: &RoadOptions,
) -> Result<RoadResult> {
    check_inputs(image, map)?;
    if let Some(p) = percents.iter().find(|p| !(0.0..100.0).contains(*p)) {
        return Err(IcamError::Config(format!(
            "ROAD percentage {p} is outside [0, 100)"
        )));
    }
    let n = map.h * map.w;
    let ranking = match order {
        RoadOrder::MostRelevantFirst => rank_descending(map),
        RoadOrder::LeastRelevantFirst => rank_ascending(map),
    };
    // The imputations are independent: one scoped thread per core, percentage i on thread
    // i mod threads (the large percentages, the slow solves, spread out).
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(percents.len())
        .max(1);
    let ranking = &ranking;
    let mut imputed: Vec<Option<Result<Vec<f32>>>> = (0..percents.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut removed = vec![false; n];
                    let mut done = Vec::new();
                    for i in (t..percents.len()).step_by(threads) {
                        let count = ((percents[i] / 100.0 * n as f64).round() as usize).min(n - 1);
                        removed.fill(false);
                        for &q in &ranking[..count] {
                            removed[q as usize] = true;
                        }
                        let im = noisy_linear_impute(
                            image, map.h, map.w, &removed, opts.noise, opts.seed,
                        );
                        done.push((i, im));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            for (i, im) in h.join().expect("ROAD imputation thread panicked") {
                imputed[i] = Some(im);
            }
        }
    });
    let mut images = Vec::with_capacity(percents.len() + 1);
    images.push(image.to_vec());
    for im in imputed {
        images.push(im.expect("every percentage imputed")?);
    }
    let probs = score_batched(scorer, &images, class, opts.batch)?;
    let original = probs[0];
    let probabilities = probs[1..].to_vec();
    let changes = probabilities.iter().map(|p| p - original).collect();
    Ok(RoadResult {
        original,
        percents: percents.to_vec(),
        probabilities,
        changes,
    })
}

/// pytorch-grad-cam's `ROADCombined` for one image: `(mean LeRF change − mean MoRF change)/2`
/// over the same percentages (higher is better). Empty lists give 0.
pub fn road_combined(morf: &RoadResult, lerf: &RoadResult) -> f64 {
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    (mean(&lerf.changes) - mean(&morf.changes)) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_support::{FnScorer, close};

    /// A `(3, h, w)` image from per-channel row-major values.
    fn rgb(r: &[f32], g: &[f32], b: &[f32]) -> Vec<f32> {
        [r, g, b].concat()
    }

    #[test]
    fn imputation_of_one_pixel_is_the_weighted_neighbour_mean() {
        // 3×3, centre removed; its 8 neighbours all exist, weights 1/6 (edges) and 1/12
        // (diagonals), Σ = 1. Red: only the top edge is 0.6 → 0.6/6 = 0.1. Green: all 0.3
        // → 0.3. Blue: the four corners 1 → 4/12 = 1/3.
        let r = [0.0, 0.6, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0];
        let g = [0.3; 9];
        let b = [1.0, 0.0, 1.0, 0.0, 0.9, 0.0, 1.0, 0.0, 1.0];
        let mut removed = [false; 9];
        removed[4] = true;
        let out = noisy_linear_impute(&rgb(&r, &g, &b), 3, 3, &removed, 0.0, 0).unwrap();
        assert!(close(out[4] as f64, 0.1, 1e-6));
        assert!(close(out[9 + 4] as f64, 0.3, 1e-6));
        assert!(close(out[18 + 4] as f64, 1.0 / 3.0, 1e-6));
        // Everything else untouched.
        for i in (0..27).filter(|i| i % 9 != 4) {
            assert_eq!(out[i], rgb(&r, &g, &b)[i]);
        }
    }

    #[test]
    fn imputation_of_a_gap_in_a_row_is_linear() {
        // 1×4 red [0.2, ?, ?, 1.0]: only left/right neighbours exist (weight 1/6 each), so
        // x1 = (0.2 + x2)/2 and x2 = (x1 + 1)/2 → x1 = 1.4/3 ≈ 0.4667, x2 = 2.2/3 ≈ 0.7333.
        let img = rgb(&[0.2, 0.8, 0.4, 1.0], &[0.0; 4], &[0.0; 4]);
        let out = noisy_linear_impute(&img, 1, 4, &[false, true, true, false], 0.0, 0).unwrap();
        assert!(close(out[1] as f64, 1.4 / 3.0, 1e-6), "{out:?}");
        assert!(close(out[2] as f64, 2.2 / 3.0, 1e-6), "{out:?}");
        // A border pixel has one neighbour: [0.2, 0.8, 0.4, ?] → 0.4.
        let out = noisy_linear_impute(&img, 1, 4, &[false, false, false, true], 0.0, 0).unwrap();
        assert!(close(out[3] as f64, 0.4, 1e-6));
        // Nothing removed → unchanged; everything removed → error.
        assert_eq!(
            noisy_linear_impute(&img, 1, 4, &[false; 4], 0.1, 0).unwrap(),
            img
        );
        assert!(noisy_linear_impute(&img, 1, 4, &[true; 4], 0.0, 0).is_err());
    }

    #[test]
    fn conjugate_gradient_matches_a_dense_solve() {
        // 9×11 image, ~60% of the pixels removed at random; the same system assembled densely
        // and solved by Gaussian elimination with partial pivoting. The CG stops at a
        // relative residual of 1e-6, which leaves ≈ 2e-6 here; 1e-5 is checked.
        let (h, w) = (9, 11);
        let n = h * w;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let img: Vec<f32> = (0..3 * n).map(|_| rng.random::<f32>()).collect();
        let removed: Vec<bool> = (0..n).map(|_| rng.random::<f64>() < 0.6).collect();
        let out = noisy_linear_impute(&img, h, w, &removed, 0.0, 0).unwrap();

        let unknown: Vec<usize> = (0..n).filter(|&p| removed[p]).collect();
        let m = unknown.len();
        let pos = |p: usize| unknown.iter().position(|&u| u == p);
        for c in 0..3 {
            let mut a = vec![vec![0.0f64; m + 1]; m];
            for (i, &p) in unknown.iter().enumerate() {
                let (y, x) = ((p / w) as isize, (p % w) as isize);
                for &(dy, dx, wt) in &NEIGHBOURS {
                    let (ny, nx) = (y + dy, x + dx);
                    if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                        continue;
                    }
                    let q = ny as usize * w + nx as usize;
                    a[i][i] += wt;
                    match pos(q) {
                        Some(j) => a[i][j] -= wt,
                        None => a[i][m] += wt * img[c * n + q] as f64,
                    }
                }
            }
            for col in 0..m {
                let piv = (col..m)
                    .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
                    .unwrap();
                a.swap(col, piv);
                let pivot = a[col].clone();
                for (row, r) in a.iter_mut().enumerate() {
                    if row != col {
                        let f = r[col] / pivot[col];
                        for (v, pv) in r[col..].iter_mut().zip(&pivot[col..]) {
                            *v -= f * pv;
                        }
                    }
                }
            }
            for (i, &p) in unknown.iter().enumerate() {
                let want = a[i][m] / a[i][i];
                assert!(close(out[c * n + p] as f64, want, 1e-5));
            }
        }
    }

    #[test]
    fn imputation_noise_is_seeded_gaussian() {
        // A constant 0.5 image imputes to 0.5 exactly; what is left is the noise: 3·2048
        // draws of σ = 0.01 (standard error of the sample σ ≈ 1%).
        let (h, w) = (64, 64);
        let img = vec![0.5f32; 3 * h * w];
        let removed: Vec<bool> = (0..h * w).map(|p| (p / w + p % w) % 2 == 0).collect();
        let a = noisy_linear_impute(&img, h, w, &removed, 0.01, 3).unwrap();
        let b = noisy_linear_impute(&img, h, w, &removed, 0.01, 3).unwrap();
        let c = noisy_linear_impute(&img, h, w, &removed, 0.01, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let d: Vec<f64> = (0..3 * h * w)
            .filter(|&k| removed[k % (h * w)])
            .map(|k| a[k] as f64 - 0.5)
            .collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        assert!(
            mean.abs() < 1e-3 && (sd - 0.01).abs() < 0.001,
            "{mean} {sd}"
        );
        // Kept pixels are untouched.
        assert!(
            (0..3 * h * w)
                .filter(|&k| !removed[k % (h * w)])
                .all(|k| a[k] == 0.5)
        );
    }

    #[test]
    fn road_by_hand() {
        // 1×4 image, red [0.2, 0.8, 0.4, 1.0], map [0.1, 0.9, 0.8, 0.0], no noise.
        let img = rgb(&[0.2, 0.8, 0.4, 1.0], &[0.0; 4], &[0.0; 4]);
        let map = Map::new(1, 4, vec![0.1, 0.9, 0.8, 0.0]);
        let opts = RoadOptions {
            noise: 0.0,
            seed: 0,
            batch: 2,
        };
        // MoRF, p = red of pixel 1 (0.8). 0% → unchanged; 50% → round(2) = pixels 1, 2
        // removed, pixel 1 → 1.4/3 (see the row test) → change 1.4/3 − 0.8 = −1/3.
        let mut s = FnScorer::new(|im: &[f32]| im[1] as f64);
        let morf = road(
            &mut s,
            &img,
            &map,
            0,
            RoadOrder::MostRelevantFirst,
            &[0.0, 50.0],
            &opts,
        )
        .unwrap();
        assert!(close(morf.original, 0.8, 1e-7));
        assert!(close(morf.changes[0], 0.0, 1e-12));
        assert!(close(morf.changes[1], -1.0 / 3.0, 1e-6), "{morf:?}");
        // [original, 0%, 50%] in batches of 2.
        assert_eq!(s.calls, vec![2, 1]);
        // LeRF, p = red of pixel 3 (1.0). 30% → round(1.2) = 1 pixel: the least relevant is
        // pixel 3 (map 0) → 0.4 (its one neighbour) → −0.6. 50% → pixels 3 and 0 (map 0.1):
        // pixel 3 still → 0.4 → −0.6.
        let mut s = FnScorer::new(|im: &[f32]| im[3] as f64);
        let lerf = road(
            &mut s,
            &img,
            &map,
            0,
            RoadOrder::LeastRelevantFirst,
            &[30.0, 50.0],
            &opts,
        )
        .unwrap();
        assert!(close(lerf.changes[0], -0.6, 1e-6) && close(lerf.changes[1], -0.6, 1e-6));
        // Combined: (mean LeRF − mean MoRF)/2 = (−0.6 − (−1/6))/2 = −13/60.
        assert!(close(road_combined(&morf, &lerf), -13.0 / 60.0, 1e-6));
        // 100% is refused.
        assert!(
            road(
                &mut s,
                &img,
                &map,
                0,
                RoadOrder::MostRelevantFirst,
                &[100.0],
                &opts
            )
            .is_err()
        );
    }
}
