//! Named sets of I-CAM options. `paper` is every literal default of `shared/spec/METHOD.md`
//! (the reference implementation's defaults; the goldens run under it); `recommended`, the
//! default, is the reading measured to localise best on the development images
//! (`docs/faithfulness.md`, issue 8). Explicit options override a preset.

use icam_models::CandidateRule;
use serde::{Deserialize, Serialize};

use crate::config::{IcamConfig, ScoreTarget, Space};
use crate::fusion::{Fusion, LayerPost};
use crate::maps::Upsample;
use crate::methods::icam::{Bias, BiasPool, BiasSc, ChannelBiasForm, SmoothFn};
use crate::scoring::{ScoreMode, ScoreNormalize};
use crate::similarity::MdsForm;

/// A named set of I-CAM options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The paper read literally, as METHOD.md A1–A29 resolve it.
    Paper,
    /// The measured default (issue 8).
    Recommended,
}

impl Preset {
    pub const ALL: [Preset; 2] = [Self::Paper, Self::Recommended];

    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Recommended => "recommended",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Every option of this preset.
    pub fn config(self) -> IcamConfig {
        let paper = IcamConfig {
            preset: Self::Paper,
            candidates: CandidateRule::BlockOutputs,
            n: 8,
            alpha: 0.4,
            seed: 0,
            space: Space::Input,
            threshold: 0.95,
            bias: Bias::Channel,
            channel_bias_form: ChannelBiasForm::Product,
            smooth: SmoothFn::Softmax,
            svim_sigma: 0.25,
            ssim_win: 11,
            ssim_sigma: 1.5,
            ssim_k1: 0.01,
            ssim_k2: 0.03,
            ssim_data_range: 1.0,
            mds: MdsForm::Clamp,
            score_target: ScoreTarget::Prob,
            score_upsample: Upsample::Bilinear,
            score_normalize: ScoreNormalize::Minmax,
            layer_post: LayerPost::None,
            fusion: Fusion::Sum,
            bias_pool: BiasPool::Sum,
            score_mode: ScoreMode::Distance,
            bias_sc: BiasSc::Full,
        };
        match self {
            Self::Paper => paper,
            Self::Recommended => IcamConfig {
                preset: Self::Recommended,
                candidates: CandidateRule::BlockActivations,
                mds: MdsForm::Exp,
                smooth: SmoothFn::Exp,
                bias_pool: BiasPool::Mean,
                bias_sc: BiasSc::None,
                layer_post: LayerPost::ReluMinmax,
                fusion: Fusion::Max,
                ..paper
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_is_the_literal_reading_and_names_round_trip() {
        let p = Preset::Paper.config();
        assert_eq!(p.candidates, CandidateRule::BlockOutputs);
        assert_eq!(p.mds, MdsForm::Clamp);
        assert_eq!((p.n, p.alpha, p.threshold), (8, 0.4, 0.95));
        assert_eq!((p.bias, p.bias_pool), (Bias::Channel, BiasPool::Sum));
        assert_eq!(p.layer_post, LayerPost::None);
        for preset in Preset::ALL {
            assert_eq!(Preset::from_name(preset.name()), Some(preset));
            assert_eq!(preset.config().preset, preset);
            assert!(preset.config().validate().is_ok());
        }
        assert_eq!(IcamConfig::default(), Preset::Recommended.config());
        assert_eq!(Preset::from_name("literal"), None);
    }
}
