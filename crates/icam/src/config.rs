//! I-CAM's options, with the reference's names. Their values come from a [`Preset`]: the
//! paper read literally, or the recommended reading (the default); see `presets.rs`.

use icam_models::{CandidateRule, Network};
use serde::{Deserialize, Serialize};

use crate::error::{IcamError, Result};
use crate::fusion::{Fusion, LayerPost};
use crate::maps::Upsample;
use crate::methods::icam::{Bias, BiasOptions, BiasPool, BiasSc, ChannelBiasForm, SmoothFn};
use crate::presets::Preset;
use crate::scoring::{ScoreMode, ScoreNormalize};
use crate::similarity::MdsForm;

/// Where Eq. 4's perturbations and Eq. 3's `I·∂O/∂I` live (A3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// The normalised model input `x_in` (default).
    Input,
    /// The pixel image in [0, 1]; gradients go through the normalisation.
    Pixel,
}

/// `O` of Eq. 3 (A9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreTarget {
    /// Softmax probability of the target class (default).
    Prob,
    /// Its logit.
    Logit,
}

/// The largest number of perturbations accepted. The network passes run in chunks of
/// [`crate::explain::ICAM_CHUNK`] images, so `n` costs time, not network memory; the cap bounds
/// what is held for every perturbation at once (its noise and mask, about 0.25 MB at 224×224,
/// and its `φ` maps).
pub const MAX_PERTURBATIONS: usize = 4096;

/// Every option of I-CAM. Field names and JSON keys follow the reference implementation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IcamConfig {
    /// The preset the options were resolved from (explicit options may override it).
    pub preset: Preset,
    /// Which layers are the candidates when none are given (A8, A26, issue 8).
    pub candidates: CandidateRule,
    /// Number of perturbations `n` (Eqs. 3–4).
    pub n: usize,
    /// Perturbation strength α (Eq. 4), in (0, 1).
    pub alpha: f64,
    /// Seed of the perturbation generator (ignored when noise/mask are given).
    pub seed: u64,
    pub space: Space,
    /// `T` of Eqs. 12–13, in (0, 1].
    pub threshold: f64,
    pub bias: Bias,
    pub channel_bias_form: ChannelBiasForm,
    pub smooth: SmoothFn,
    /// σ of Eq. 6 (A6).
    pub svim_sigma: f64,
    pub ssim_win: usize,
    pub ssim_sigma: f64,
    pub ssim_k1: f64,
    pub ssim_k2: f64,
    pub ssim_data_range: f64,
    /// MDS from MDD (Eq. 9): clamped `1 − MDD` (A7), `exp(−MDD)` or unclamped.
    pub mds: MdsForm,
    pub score_target: ScoreTarget,
    pub score_upsample: Upsample,
    pub score_normalize: ScoreNormalize,
    pub layer_post: LayerPost,
    /// How the selected layers are combined: Eq. 21's weighted sum, or the weighted maximum.
    pub fusion: Fusion,
    pub bias_pool: BiasPool,
    pub score_mode: ScoreMode,
    pub bias_sc: BiasSc,
}

impl Default for IcamConfig {
    /// The recommended preset.
    fn default() -> Self {
        Preset::Recommended.config()
    }
}

impl IcamConfig {
    /// Check every option; called before any work starts.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(IcamError::Config(m));
        if self.n == 0 {
            return bad("--n must be at least 1 (the number of perturbations)".into());
        }
        if self.n > MAX_PERTURBATIONS {
            return bad(format!(
                "--n must be at most {MAX_PERTURBATIONS} (the noise and mask of every perturbation are held in memory), got {}",
                self.n
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad(format!("--alpha must lie in (0, 1), got {}", self.alpha));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return bad(format!(
                "--threshold must lie in (0, 1], got {}",
                self.threshold
            ));
        }
        if !(self.svim_sigma > 0.0 && self.svim_sigma.is_finite()) {
            return bad(format!(
                "--svim-sigma must be positive, got {}",
                self.svim_sigma
            ));
        }
        if self.ssim_win.is_multiple_of(2) || self.ssim_sigma.is_nan() || self.ssim_sigma <= 0.0 {
            return bad("the SSIM window must be odd and its sigma positive".into());
        }
        Ok(())
    }

    /// I-CAM's candidate layers of `net` under this configuration's rule.
    pub fn candidate_layers(&self, net: &dyn Network) -> Vec<String> {
        net.candidates(self.candidates)
    }

    /// Whether `other` needs the same network pass as `self`: the same perturbations and the
    /// same batch (n, α, seed, space, score target, SSIM). Everything else (candidates, MDS,
    /// SVIM σ, scores, selection, bias, fusion) is computed from the pass's results, so one
    /// pass tapping the union of both candidate sets serves both (`rescore_icam`).
    pub fn same_pass(&self, other: &IcamConfig) -> bool {
        let key = |c: &IcamConfig| {
            (
                c.n,
                c.alpha,
                c.seed,
                c.space,
                c.score_target,
                c.ssim_params(),
            )
        };
        key(self) == key(other)
    }

    /// Whether `other` agrees with `self` in every option that acts before the layer maps
    /// (perturbations, weights, scores, selection), so that one network pass and one layer
    /// selection serve both. The preset name is a label and does not count.
    pub fn same_scoring(&self, other: &IcamConfig) -> bool {
        let strip = |c: &IcamConfig| IcamConfig {
            preset: Preset::Paper,
            bias: Bias::Channel,
            channel_bias_form: ChannelBiasForm::Product,
            smooth: SmoothFn::Softmax,
            layer_post: LayerPost::None,
            fusion: Fusion::Sum,
            bias_pool: BiasPool::Sum,
            bias_sc: BiasSc::Full,
            ..c.clone()
        };
        strip(self) == strip(other)
    }

    pub fn bias_options(&self) -> BiasOptions {
        BiasOptions {
            bias: self.bias,
            form: self.channel_bias_form,
            pool: self.bias_pool,
            sc: self.bias_sc,
        }
    }

    pub fn ssim_params(&self) -> crate::similarity::SsimParams {
        crate::similarity::SsimParams {
            win: self.ssim_win,
            sigma: self.ssim_sigma,
            k1: self.ssim_k1,
            k2: self.ssim_k2,
            data_range: self.ssim_data_range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_refused() {
        let ok = IcamConfig::default();
        assert!(ok.validate().is_ok());
        assert!(Preset::Paper.config().validate().is_ok());
        let msg = |c: IcamConfig| c.validate().unwrap_err().to_string();
        assert_eq!(
            msg(IcamConfig {
                alpha: 1.0,
                ..ok.clone()
            }),
            "--alpha must lie in (0, 1), got 1"
        );
        assert_eq!(
            msg(IcamConfig {
                alpha: 0.0,
                ..ok.clone()
            }),
            "--alpha must lie in (0, 1), got 0"
        );
        assert_eq!(
            msg(IcamConfig { n: 0, ..ok.clone() }),
            "--n must be at least 1 (the number of perturbations)"
        );
        assert_eq!(
            msg(IcamConfig {
                threshold: 1.5,
                ..ok.clone()
            }),
            "--threshold must lie in (0, 1], got 1.5"
        );
        assert_eq!(
            msg(IcamConfig {
                threshold: 0.0,
                ..ok.clone()
            }),
            "--threshold must lie in (0, 1], got 0"
        );
        assert!(
            IcamConfig {
                threshold: 1.0,
                ..ok
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn json_keys_follow_the_reference() {
        let v = serde_json::to_value(Preset::Paper.config()).unwrap();
        assert_eq!(v["preset"], "paper");
        assert_eq!(v["candidates"], "block_outputs");
        assert_eq!(v["mds"], "clamp");
        assert_eq!(v["bias"], "channel");
        assert_eq!(v["layer_post"], "none");
        assert_eq!(v["score_upsample"], "bilinear");
        assert_eq!(v["channel_bias_form"], "product");
        assert_eq!(v["ssim_win"], 11);
    }
}
