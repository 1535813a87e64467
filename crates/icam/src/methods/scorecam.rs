//! Score-CAM (Wang et al.): each channel, upsampled and min-max normalised, masks the input;
//! the channel's weight is the softmax of the target scores of the masked inputs. Gradient
//! free; one forward pass per channel.

use super::{CamMethod, Contributions, LayerInput, Passes};
use crate::error::Result;
use crate::maps::Map;
use crate::similarity::log_softmax;

pub struct ScoreCam;

/// The package's ε in the mask normalisation.
pub const SCORECAM_EPS: f64 = 1e-8;

/// Eq. 3 of Wang et al. as pytorch-grad-cam: `M_k = (U_k − min U_k)/(max U_k − min U_k + ε)`
/// with `U_k` channel `k` upsampled to the input size by `UpsamplingBilinear2d`
/// (`align_corners=True`). `None` for a constant `U_k`, whose mask is all zero.
pub fn scorecam_mask(a: &[f64], h: usize, w: usize, out_h: usize, out_w: usize) -> Option<Map> {
    let u = Map::new(h, w, a.to_vec()).upsample_align_corners(out_h, out_w);
    let (mn, mx) = (u.min(), u.max());
    if mx == mn {
        return None;
    }
    let d = mx - mn + SCORECAM_EPS;
    Some(Map::new(
        out_h,
        out_w,
        u.data.iter().map(|v| (v - mn) / d).collect(),
    ))
}

/// `w = softmax(s)` over the channels' scores `s_k = score(x ⊙ M_k)`.
pub fn scorecam_weights(scores: &[f64]) -> Vec<f64> {
    log_softmax(scores).into_iter().map(f64::exp).collect()
}

impl CamMethod for ScoreCam {
    fn name(&self) -> &'static str {
        "scorecam"
    }

    fn uses_gradients(&self) -> bool {
        false
    }

    fn batched(&self) -> bool {
        true
    }

    /// One pass per channel with a non-constant map; every constant channel has the all-zero
    /// mask, so they share one pass (an exact shortcut: the package runs each).
    fn contributions(&self, x: &LayerInput, passes: &mut dyn Passes) -> Result<Contributions> {
        let (_, hh, ww) = passes.input();
        let hw = x.hw();
        let varying: Vec<usize> = (0..x.k)
            .filter(|&ch| {
                let a = x.channel(ch).0;
                a.iter().any(|&v| v != a[0])
            })
            .collect();
        let constant = varying.len() < x.k;
        let count = varying.len() + usize::from(constant);
        let make = |i: usize, buf: &mut [f64]| {
            let ch = varying.get(i);
            match ch.and_then(|&ch| scorecam_mask(&x.a[ch * hw..(ch + 1) * hw], x.h, x.w, hh, ww)) {
                Some(mask) => {
                    for plane in buf.chunks_mut(hh * ww) {
                        for (v, m) in plane.iter_mut().zip(&mask.data) {
                            *v *= m;
                        }
                    }
                }
                None => buf.iter_mut().for_each(|v| *v = 0.0),
            }
        };
        let got = passes.input_scores(count, &make)?;
        let zero_score = if constant { got[varying.len()] } else { 0.0 };
        let mut scores = vec![zero_score; x.k];
        for (i, &ch) in varying.iter().enumerate() {
            scores[ch] = got[i];
        }
        Ok(Contributions::Channel(scorecam_weights(&scores)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_weights_by_hand() {
        // [0, 2] upsampled to 3 (align corners) = [0, 1, 2] → mask [0, .5, 1]/(1 + ε/2).
        let m = scorecam_mask(&[0.0, 2.0], 1, 2, 1, 3).unwrap();
        let d = 2.0 + SCORECAM_EPS;
        assert_eq!(m.data, vec![0.0, 1.0 / d, 2.0 / d]);
        assert!(scorecam_mask(&[5.0, 5.0], 1, 2, 1, 3).is_none());
        // softmax([0, ln 3]) = [1/4, 3/4].
        let w = scorecam_weights(&[0.0, 3f64.ln()]);
        assert!((w[0] - 0.25).abs() < 1e-15 && (w[1] - 0.75).abs() < 1e-15);
    }
}
