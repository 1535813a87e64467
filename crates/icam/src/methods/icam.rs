//! Integrative CAM's per-layer map (Eqs. 20, 25–31): generalised Grad-CAM++ α with a smooth
//! function of the logit, `tanh(α)·relu(f′g)` weights, and a channel or spatial bias.
//!
//! Every layer map is kept as a spatially varying part plus a constant (the `S^c` terms of the
//! bias), so the fusion can apply the final ReLU and min-max without the catastrophic
//! cancellation a plain float sum suffers (A16).

use super::LayerInput;
use crate::maps::Map;
use crate::similarity::log_softmax;

/// The smooth function `f` of `Y = f(S^c)` (Eq. 25).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmoothFn {
    /// `Y = softmax(S)_c` (Eq. 29), the paper's choice.
    Softmax,
    /// `Y = exp(S^c)`, Grad-CAM++'s, for which α reduces to Grad-CAM++'s α.
    Exp,
}

/// `S^c`, `Y^c` and `f′, f″, f‴` at `S^c`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Smooth {
    #[serde(rename = "S")]
    pub s: f64,
    #[serde(rename = "Y")]
    pub y: f64,
    pub f1: f64,
    pub f2: f64,
    pub f3: f64,
}

impl Smooth {
    /// With the softmax, α's denominator can vanish for `g > 0` when `f″` and `f‴` have
    /// opposite signs: `Y ∈ (0.2113, 0.5)` or `Y > 0.7887` (A13).
    pub fn has_pole(&self) -> bool {
        self.f2 * self.f3 < 0.0
    }
}

/// Eq. 29 and its derivatives in `S^c` (Eqs. 30–31, A23): `f′ = Y(1−Y)`,
/// `f″ = Y(1 − 3Y + 2Y²)`, `f‴ = Y(1 − 7Y + 12Y² − 6Y³)`; for `Exp` all three equal `e^S`.
pub fn smooth_derivatives(logits: &[f64], class: usize, smooth: SmoothFn) -> Smooth {
    let s = logits[class];
    match smooth {
        SmoothFn::Softmax => {
            let y = log_softmax(logits)[class].exp();
            Smooth {
                s,
                y,
                f1: y * (1.0 - y),
                f2: y * (1.0 - 3.0 * y + 2.0 * y * y),
                f3: y * (1.0 - 7.0 * y + 12.0 * y * y - 6.0 * y.powi(3)),
            }
        }
        SmoothFn::Exp => {
            let y = s.exp();
            Smooth {
                s,
                y,
                f1: y,
                f2: y,
                f3: y,
            }
        }
    }
}

/// Which bias enters Eq. 20.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bias {
    /// Eq. 27, one value per channel (the paper's recommendation).
    Channel,
    /// Eq. 28, one value per channel and position.
    Spatial,
    None,
}

/// Reading of Eq. 27's `Σ_ij w · Σ_ij A` (A14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelBiasForm {
    /// `(Σ_ij w)(Σ_ij A)`, literal (default).
    Product,
    /// `Σ_ij w_ij A_ij`.
    Dot,
}

/// `Σ_ij` in Eqs. 27–28: a sum (literal) or the spatial mean (GAP reading) (A27).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BiasPool {
    Sum,
    Mean,
}

/// `S^c` in Eqs. 27–28: once per channel (literal) or `S^c/K` (A29), or left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BiasSc {
    Full,
    Split,
    /// No `S^c`: the bias is only `−pool(w)·pool(A)` (channel) or `−w·pool(A)` (spatial).
    /// `S^c` is the same at every position, so the final min-max removes it; its only effect
    /// is to shift the maps before the ReLUs, by an amount whose size against `w·A` depends
    /// on `f′` (softmax: thousands against 1e-2, the ReLUs never act).
    None,
}

/// Bias options of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BiasOptions {
    pub bias: Bias,
    pub form: ChannelBiasForm,
    pub pool: BiasPool,
    pub sc: BiasSc,
}

/// A layer's I-CAM map `L = Σ_k (w A + b)` (Eq. 20, A16), split as `spatial + constant`.
#[derive(Clone, Debug, PartialEq)]
pub struct IcamLayerMap {
    /// `Σ_k w_ijk A_ijk`.
    pub base: Map,
    /// The position-dependent part of the bias (spatial bias: `−Σ_k w_ijk·pool(A^k)`).
    pub bias_spatial: Map,
    /// The constant part of the bias (`Σ_k b_k`, or `K·S^c` of the spatial bias).
    pub bias_constant: f64,
    pub stats: IcamLayerStats,
}

impl IcamLayerMap {
    /// `base + bias_spatial` — the map without its constant.
    pub fn spatial(&self) -> Map {
        let mut m = self.base.clone();
        m.add_scaled(1.0, &self.bias_spatial);
        m
    }

    /// The full `L` (for reports and dumps).
    pub fn full(&self) -> Map {
        let mut m = self.spatial();
        m.data.iter_mut().for_each(|v| *v += self.bias_constant);
        m
    }

    /// The full bias map `Σ_k b`.
    pub fn bias_full(&self) -> Map {
        let mut m = self.bias_spatial.clone();
        m.data.iter_mut().for_each(|v| *v += self.bias_constant);
        m
    }
}

/// Per-layer statistics for the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct IcamLayerStats {
    #[serde(rename = "K")]
    pub k: usize,
    pub h: usize,
    pub w: usize,
    pub alpha_min: f64,
    pub alpha_max: f64,
    pub weight_sum: f64,
    pub base_min: f64,
    pub base_max: f64,
    pub bias_min: f64,
    pub bias_max: f64,
    /// Weights with `f′g > 0` whose α denominator cancels to within 1e-4 of its terms' size
    /// (A13): `tanh(α)` can flip sign there under float32 rounding.
    pub alpha_near_pole: usize,
}

/// Relative size under which α's denominator counts as "near the pole" (A13).
pub const POLE_REL: f64 = 1e-4;

/// Eq. 25 (A12, A13): `α = f″g² / (2f″g² + (Σ_ab A_ab)·f‴g³)`, 0 where the denominator is 0.
/// Returns α and whether the denominator nearly cancels.
pub fn icam_alpha(g: f64, sum_a: f64, sm: &Smooth) -> (f64, bool) {
    let g2 = g * g;
    let t1 = 2.0 * sm.f2 * g2;
    let t2 = sum_a * (sm.f3 * (g2 * g));
    let den = t1 + t2;
    let alpha = if den != 0.0 { sm.f2 * g2 / den } else { 0.0 };
    let near = den.abs() <= POLE_REL * (t1.abs() + t2.abs()) && t1 != 0.0;
    (alpha, near)
}

/// Eqs. 26/31: `w = tanh(α)·relu(f′·g)`, element-wise.
pub fn icam_weight(alpha: f64, g: f64, sm: &Smooth) -> f64 {
    alpha.tanh() * (sm.f1 * g).max(0.0)
}

/// One layer's map (Eqs. 20, 25–28; A12–A16, A27, A29).
pub fn icam_layer_map(x: &LayerInput, sm: &Smooth, opt: &BiasOptions) -> IcamLayerMap {
    let hw = x.hw();
    let mut base = vec![0.0; hw];
    let mut bias_spatial = vec![0.0; hw];
    let mut bias_constant = 0.0;
    let s_c = match opt.sc {
        BiasSc::Full => sm.s,
        BiasSc::Split => sm.s / x.k as f64,
        BiasSc::None => 0.0,
    };
    let (mut amin, mut amax, mut wsum, mut near) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0);
    let mut wk = vec![0.0; hw];
    for ch in 0..x.k {
        let (a, g) = x.channel(ch);
        let sum_a: f64 = a.iter().sum();
        let pool = |v: f64| match opt.pool {
            BiasPool::Sum => v,
            BiasPool::Mean => v / hw as f64,
        };
        for p in 0..hw {
            let (alpha, is_near) = icam_alpha(g[p], sum_a, sm);
            amin = amin.min(alpha);
            amax = amax.max(alpha);
            wk[p] = icam_weight(alpha, g[p], sm);
            if is_near && wk[p] != 0.0 {
                near += 1;
            }
            base[p] += wk[p] * a[p];
        }
        let sum_w: f64 = wk.iter().sum();
        wsum += sum_w;
        match opt.bias {
            // Eq. 27 (A14): b_k = S − pool(w)·pool(A), or S − pool(w ⊙ A).
            Bias::Channel => {
                let prod = match opt.form {
                    ChannelBiasForm::Product => pool(sum_w) * pool(sum_a),
                    ChannelBiasForm::Dot => pool(wk.iter().zip(a).map(|(w, v)| w * v).sum()),
                };
                bias_constant += s_c - prod;
            }
            // Eq. 28 (A15): b_ijk = S − w_ijk·pool(A).
            Bias::Spatial => {
                bias_constant += s_c;
                let pa = pool(sum_a);
                for (b, w) in bias_spatial.iter_mut().zip(&wk) {
                    *b -= w * pa;
                }
            }
            Bias::None => {}
        }
    }
    let base = Map::new(x.h, x.w, base);
    let bias_spatial = Map::new(x.h, x.w, bias_spatial);
    let (bias_min, bias_max) = (
        bias_spatial.min() + bias_constant,
        bias_spatial.max() + bias_constant,
    );
    IcamLayerMap {
        stats: IcamLayerStats {
            k: x.k,
            h: x.h,
            w: x.w,
            alpha_min: amin,
            alpha_max: amax,
            weight_sum: wsum,
            base_min: base.min(),
            base_max: base.max(),
            bias_min,
            bias_max,
            alpha_near_pole: near,
        },
        base,
        bias_spatial,
        bias_constant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm(y: f64) -> Smooth {
        Smooth {
            s: 2.0,
            y,
            f1: y * (1.0 - y),
            f2: y * (1.0 - 3.0 * y + 2.0 * y * y),
            f3: y * (1.0 - 7.0 * y + 12.0 * y * y - 6.0 * y.powi(3)),
        }
    }

    #[test]
    fn derivatives_match_finite_differences_of_the_softmax() {
        let logits = [0.3, 1.2, -0.5, 0.9];
        let c = 1;
        let d = smooth_derivatives(&logits, c, SmoothFn::Softmax);
        let y = |s: f64| {
            let mut l = logits;
            l[c] = s;
            log_softmax(&l)[c].exp()
        };
        let h = 1e-3;
        let s = logits[c];
        let f1 = (y(s + h) - y(s - h)) / (2.0 * h);
        let f2 = (y(s + h) - 2.0 * y(s) + y(s - h)) / (h * h);
        let f3 =
            (y(s + 2.0 * h) - 2.0 * y(s + h) + 2.0 * y(s - h) - y(s - 2.0 * h)) / (2.0 * h * h * h);
        assert!((d.f1 - f1).abs() < 1e-6 && (d.f2 - f2).abs() < 1e-5 && (d.f3 - f3).abs() < 1e-4);
        let e = smooth_derivatives(&logits, c, SmoothFn::Exp);
        assert_eq!(
            (e.f1, e.f2, e.f3),
            (1.2f64.exp(), 1.2f64.exp(), 1.2f64.exp())
        );
    }

    #[test]
    fn alpha_pole_by_hand() {
        // Y = 0.3: f″ = 0.3·(1 − 0.9 + 0.18) = 0.084, f‴ = 0.3·(1 − 2.1 + 1.08 − 0.162) = −0.0546.
        let s = sm(0.3);
        assert!((s.f2 - 0.084).abs() < 1e-15 && (s.f3 + 0.0546).abs() < 1e-15);
        assert!(s.has_pole());
        assert!(!sm(0.1).has_pole() && !sm(0.6).has_pole() && sm(0.9).has_pole());
        // den = 2f″g² + ΣA·f‴g³ = 0 at ΣA = 2f″/(−f‴·g): g = 1 → ΣA = 0.168/0.0546.
        let pole = 0.168 / 0.0546;
        let (a_lo, n_lo) = icam_alpha(1.0, pole * 0.999, &s);
        let (a_hi, n_hi) = icam_alpha(1.0, pole * 1.001, &s);
        assert!(a_lo > 100.0 && a_hi < -100.0, "{a_lo} {a_hi}");
        assert!(!n_lo && !n_hi); // 1e-3 away: not within 1e-4
        let (_, near) = icam_alpha(1.0, pole * (1.0 + 1e-6), &s);
        assert!(near);
        // Zero gradient: zero denominator → α = 0 (A13).
        assert_eq!(icam_alpha(0.0, 5.0, &s), (0.0, false));
        // Far from the pole: α = f″/(2f″ + ΣA f‴ g) by hand.
        let (a, _) = icam_alpha(0.5, 1.0, &s);
        assert!((a - 0.084 / (0.168 - 0.0546 * 0.5)).abs() < 1e-15);
        assert!((icam_weight(a, 0.5, &s) - a.tanh() * 0.21 * 0.5).abs() < 1e-15);
        assert_eq!(icam_weight(a, -0.5, &s), 0.0);
    }

    #[test]
    fn bias_forms_by_hand() {
        // One layer, K = 2 channels, 1×2 positions. With f = exp, S = 0: f′ = f″ = f‴ = 1.
        let s = Smooth {
            s: 0.0,
            y: 1.0,
            f1: 1.0,
            f2: 1.0,
            f3: 1.0,
        };
        let a = [1.0, 3.0, 2.0, 0.0];
        let g = [1.0, 0.0, 0.5, 2.0];
        let x = LayerInput {
            a: &a,
            g: &g,
            k: 2,
            h: 1,
            w: 2,
        };
        // α = g²/(2g² + ΣA g³): ch0 ΣA = 4: α(1) = 1/6, α(0) = 0; ch1 ΣA = 2: α(.5) = .25/(.5+.25) = 1/3,
        // α(2) = 4/(8 + 16) = 1/6. w = tanh(α)·relu(g).
        let w = [
            (1.0f64 / 6.0).tanh(),
            0.0,
            (1.0f64 / 3.0).tanh() * 0.5,
            (1.0f64 / 6.0).tanh() * 2.0,
        ];
        let base = [w[0] * 1.0 + w[2] * 2.0, w[1] * 3.0 + w[3] * 0.0];
        let opt = |bias, form, pool, sc| BiasOptions {
            bias,
            form,
            pool,
            sc,
        };
        let none = icam_layer_map(
            &x,
            &s,
            &opt(
                Bias::None,
                ChannelBiasForm::Product,
                BiasPool::Sum,
                BiasSc::Full,
            ),
        );
        for (p, b) in base.iter().enumerate() {
            assert!((none.base.data[p] - b).abs() < 1e-15);
        }
        assert_eq!(none.bias_constant, 0.0);
        // Channel, product: Σ_k (S − Σw_k ΣA_k) = −(w0+w1)·4 − (w2+w3)·2.
        let ch = icam_layer_map(
            &x,
            &s,
            &opt(
                Bias::Channel,
                ChannelBiasForm::Product,
                BiasPool::Sum,
                BiasSc::Full,
            ),
        );
        let want = -(w[0] + w[1]) * 4.0 - (w[2] + w[3]) * 2.0;
        assert!((ch.bias_constant - want).abs() < 1e-15);
        // Channel, dot: Σ_k (S − Σ_ij w A) = −(w0·1 + w1·3) − (w2·2 + w3·0).
        let dot = icam_layer_map(
            &x,
            &s,
            &opt(
                Bias::Channel,
                ChannelBiasForm::Dot,
                BiasPool::Sum,
                BiasSc::Full,
            ),
        );
        assert!((dot.bias_constant + (w[0] + 3.0 * w[1] + 2.0 * w[2])).abs() < 1e-15);
        // Mean pooling divides each pooled factor by h·w = 2.
        let mean = icam_layer_map(
            &x,
            &s,
            &opt(
                Bias::Channel,
                ChannelBiasForm::Product,
                BiasPool::Mean,
                BiasSc::Full,
            ),
        );
        assert!((mean.bias_constant - want / 4.0).abs() < 1e-15);
        // Spatial: b_ij = Σ_k (S − w_ijk ΣA_k) → constant K·S = 0, spatial −(w_ij0·4 + w_ij1·2).
        let sp = icam_layer_map(
            &x,
            &s,
            &opt(
                Bias::Spatial,
                ChannelBiasForm::Product,
                BiasPool::Sum,
                BiasSc::Full,
            ),
        );
        assert!((sp.bias_spatial.data[0] + (w[0] * 4.0 + w[2] * 2.0)).abs() < 1e-15);
        assert!((sp.bias_spatial.data[1] + (w[1] * 4.0 + w[3] * 2.0)).abs() < 1e-15);
        // S^c enters K times (full) or once (split).
        let s3 = Smooth { s: 3.0, ..s };
        let full = icam_layer_map(
            &x,
            &s3,
            &opt(
                Bias::Spatial,
                ChannelBiasForm::Product,
                BiasPool::Sum,
                BiasSc::Full,
            ),
        );
        let split = icam_layer_map(
            &x,
            &s3,
            &opt(
                Bias::Spatial,
                ChannelBiasForm::Product,
                BiasPool::Sum,
                BiasSc::Split,
            ),
        );
        assert_eq!((full.bias_constant, split.bias_constant), (6.0, 3.0));
    }
}
