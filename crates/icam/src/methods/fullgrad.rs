//! FullGrad (Srinivas & Fleuret): the input-gradient term `|x ⊙ ∇_x S|` plus, for every bias
//! of the network, the bias-gradient term `|b ⊙ ∇_b S|`, each channel normalised and resized
//! to the input, all summed (pytorch-grad-cam's `FullGrad`: every `Conv2d` with a bias and
//! every `BatchNorm2d`, whose bias is `β − μγ/√(σ²+ε)`; icam folds BatchNorm into the
//! convolution, whose bias is that same value). No layers; one forward and backward pass.

use crate::maps::Map;
use crate::pca::first_component_projection;
use crate::scaling::Scaling;

/// One bias term: per channel its bias `b_k` and the gradient of the target at the bias-add's
/// output, `(k, h, w)`.
pub struct BiasTerm<'a> {
    pub bias: &'a [f64],
    pub grad: &'a [f64],
    pub h: usize,
    pub w: usize,
}

/// `Σ_k scale(|t_k|)` of one term's channels `t` (`(k, h, w)`, `h·w` each) at `out_h × out_w`:
/// each channel normalised ([`Scaling::normalise`]) and resized ([`Scaling::resize`]).
/// Resizing is linear, so the channels are summed first and resized once.
fn channel_scaled_sum(
    t: impl Iterator<Item = Vec<f64>>,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    scaling: Scaling,
) -> Map {
    let mut sum = Map::zeros(h, w);
    for ch in t {
        sum.add_scaled(1.0, &scaling.normalise(Map::new(h, w, ch)));
    }
    scaling.resize(&sum, out_h, out_w)
}

/// The FullGrad map of one image (Srinivas & Fleuret Eq. 8, as the package): `x` and `gx`
/// are the model input and its gradient (`3 × H × W`).
///
/// Without `eigen_smooth`: `scale(Σ_c scale(|x_c ⊙ gx_c|) + Σ_terms Σ_k scale(|b_k g_k|))`,
/// with the final min-max of the scaling and no ReLU. With it, as the package: the input's
/// three channels and each bias term's sum are normalised and resized to `H/8 × W/8`,
/// projected on their
/// first principal component, resized back and min-maxed.
pub fn fullgrad_map(
    x: &[f64],
    gx: &[f64],
    terms: &[BiasTerm],
    hh: usize,
    ww: usize,
    scaling: Scaling,
    eigen_smooth: bool,
) -> Map {
    let hw = hh * ww;
    // The input term keeps its three channels (the package concatenates them).
    let mut parts: Vec<Map> = (0..3)
        .map(|c| {
            let t = (c * hw..(c + 1) * hw)
                .map(|i| (x[i] * gx[i]).abs())
                .collect();
            scaling.resize(&scaling.normalise(Map::new(hh, ww, t)), hh, ww)
        })
        .collect();
    for t in terms {
        let thw = t.h * t.w;
        let chans = t.bias.iter().enumerate().map(|(k, &b)| {
            t.grad[k * thw..(k + 1) * thw]
                .iter()
                .map(|g| (b * g).abs())
                .collect()
        });
        parts.push(channel_scaled_sum(chans, t.h, t.w, hh, ww, scaling));
    }
    let total = if eigen_smooth {
        let (sh, sw) = (hh / 8, ww / 8);
        let small: Vec<f64> = parts
            .iter()
            .flat_map(|p| scaling.resize(&scaling.normalise(p.clone()), sh, sw).data)
            .collect();
        let proj = Map::new(
            sh,
            sw,
            first_component_projection(&small, parts.len(), sh * sw),
        );
        scaling.resize(&scaling.normalise(proj), hh, ww)
    } else {
        let mut s = Map::zeros(hh, ww);
        for p in &parts {
            s.add_scaled(1.0, p);
        }
        s
    };
    scaling.normalise(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // 2×2 input, one channel non-zero: |x·gx| = [0, 1, 2, 3] → minmax → [0, 1/3, 2/3, 1].
        // One bias term at 1×2 with 2 channels: b = (2, −1), g = [[1, 0], [0, 4]]:
        // |b g| = [2, 0] → [1, 0] and [0, 4] → [0, 1]: their sum [1, 1], resized to 2×2 = 1s.
        // Total [1, 4/3, 5/3, 2] → min-max [0, 1/3, 2/3, 1].
        let x = [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let gx = [1.0; 12];
        let term = BiasTerm {
            bias: &[2.0, -1.0],
            grad: &[1.0, 0.0, 0.0, 4.0],
            h: 1,
            w: 2,
        };
        let m = fullgrad_map(&x, &gx, &[term], 2, 2, Scaling::Icam, false);
        let want = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0];
        for (a, b) in m.data.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{:?}", m.data);
        }
        // The package's 1e-7: every min-max divides by (range + 1e-7).
        let t2 = BiasTerm {
            bias: &[2.0, -1.0],
            grad: &[1.0, 0.0, 0.0, 4.0],
            h: 1,
            w: 2,
        };
        let g = fullgrad_map(&x, &gx, &[t2], 2, 2, Scaling::GradCam, false);
        assert!((g.data[3] - 1.0).abs() < 1e-6 && g.data[3] < 1.0);
    }
}
