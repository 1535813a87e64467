//! I-CAM's options under the reference implementation's names and defaults, and the Grad-CAM
//! family's ε.

use std::path::PathBuf;

use clap::Args;
use icam::Upsample;
use icam::config::{IcamConfig, ScoreTarget, Space};
use icam::fusion::LayerPost;
use icam::methods::icam::{Bias, BiasPool, BiasSc, ChannelBiasForm, SmoothFn};
use icam::scoring::{ScoreMode, ScoreNormalize};

use super::value_enum;
use crate::explanation::{self, NoiseMask};

/// The options of I-CAM, under the reference implementation's names and defaults.
#[derive(Args, Clone, Debug)]
pub struct IcamArgs {
    /// Number of perturbations n (Eq. 3-4).
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// Perturbation strength alpha in (0, 1) (Eq. 4).
    #[arg(long, default_value_t = 0.4, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Seed of the perturbations (recorded in report.json).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Layer-selection threshold T in (0, 1] (Eqs. 12-13).
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    pub threshold: f64,
    /// Bias of Eq. 20: channel (Eq. 27), spatial (Eq. 28) or none.
    #[arg(long, value_enum, default_value = "channel")]
    pub bias: BiasArg,
    /// Eq. 27 read as (sum w)(sum A) or sum(w A) (A14).
    #[arg(long, value_enum, default_value = "product")]
    pub channel_bias_form: FormArg,
    /// Perturb and differentiate the model input or the [0,1] pixel image (A3).
    #[arg(long, value_enum, default_value = "input")]
    pub space: SpaceArg,
    /// Smooth function f of Eq. 25: softmax (Eq. 29) or exp (Grad-CAM++'s).
    #[arg(long, value_enum, default_value = "softmax")]
    pub smooth: SmoothArg,
    /// Sigma of SVIM (Eq. 6, A6).
    #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
    pub svim_sigma: f64,
    /// O of Eq. 3: softmax probability or logit of the target class (A9).
    #[arg(long, value_enum, default_value = "prob")]
    pub score_target: TargetArg,
    /// Upsampling of the phi maps in Eq. 3 (A10).
    #[arg(long, value_enum, default_value = "bilinear")]
    pub score_upsample: UpsampleArg,
    /// Normalisation of both maps of Eq. 3 (A11).
    #[arg(long, value_enum, default_value = "minmax")]
    pub score_normalize: NormArg,
    /// Keep negative MDS (A7): weights become NaN.
    #[arg(long)]
    pub no_clamp_mds: bool,
    /// Per-layer post-processing before fusion (A17).
    #[arg(long, value_enum, default_value = "none")]
    pub layer_post: PostArg,
    /// Sigma_ij of Eqs. 27-28: sum (literal) or mean (GAP reading) (A27).
    #[arg(long, value_enum, default_value = "sum")]
    pub bias_pool: PoolArg,
    /// Eq. 3 term: distance (literal) or sqrt(HW) - distance (A28).
    #[arg(long, value_enum, default_value = "distance")]
    pub score_mode: ModeArg,
    /// S^c in Eqs. 27-28: full, or S^c/K per channel (A29).
    #[arg(long, value_enum, default_value = "full")]
    pub bias_sc: ScArg,
    /// Noise N_i as .npy float32 (n,3,H,W), e.g. from the reference (replaces the seeded draws).
    #[arg(long, value_name = "NPY", requires = "mask")]
    pub noise: Option<PathBuf>,
    /// Masks M_i as .npy (n,1,H,W) of 0/1.
    #[arg(long, value_name = "NPY", requires = "noise")]
    pub mask: Option<PathBuf>,
    /// Epsilon in Grad-CAM++'s alpha denominator (0 as the paper; 1e-6 as pytorch-grad-cam).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub gradcampp_eps: f64,
}

value_enum!(BiasArg => Bias { Channel => Bias::Channel, Spatial => Bias::Spatial, None => Bias::None });
value_enum!(FormArg => ChannelBiasForm { Product => ChannelBiasForm::Product, Dot => ChannelBiasForm::Dot });
value_enum!(SpaceArg => Space { Input => Space::Input, Pixel => Space::Pixel });
value_enum!(SmoothArg => SmoothFn { Softmax => SmoothFn::Softmax, Exp => SmoothFn::Exp });
value_enum!(TargetArg => ScoreTarget { Prob => ScoreTarget::Prob, Logit => ScoreTarget::Logit });
value_enum!(UpsampleArg => Upsample { Bilinear => Upsample::Bilinear, Nearest => Upsample::Nearest });
value_enum!(NormArg => ScoreNormalize { Minmax => ScoreNormalize::Minmax, None => ScoreNormalize::None });
value_enum!(PostArg => LayerPost { None => LayerPost::None, ReluMinmax => LayerPost::ReluMinmax });
value_enum!(PoolArg => BiasPool { Sum => BiasPool::Sum, Mean => BiasPool::Mean });
value_enum!(ModeArg => ScoreMode { Distance => ScoreMode::Distance, Similarity => ScoreMode::Similarity });
value_enum!(ScArg => BiasSc { Full => BiasSc::Full, Split => BiasSc::Split });

impl IcamArgs {
    /// Options of the Grad-CAM family, checked before any work.
    pub fn validate_baseline(&self) -> anyhow::Result<()> {
        explanation::check_gradcampp_eps(self.gradcampp_eps)
    }

    /// `--noise`/`--mask`, when given.
    pub fn noise_mask(&self) -> Option<NoiseMask> {
        match (&self.noise, &self.mask) {
            (Some(noise), Some(mask)) => Some(NoiseMask {
                noise: noise.clone(),
                mask: mask.clone(),
            }),
            _ => None,
        }
    }

    pub fn config(&self) -> IcamConfig {
        IcamConfig {
            n: self.n,
            alpha: self.alpha,
            seed: self.seed,
            space: self.space.into(),
            threshold: self.threshold,
            bias: self.bias.into(),
            channel_bias_form: self.channel_bias_form.into(),
            smooth: self.smooth.into(),
            svim_sigma: self.svim_sigma,
            clamp_mds: !self.no_clamp_mds,
            score_target: self.score_target.into(),
            score_upsample: self.score_upsample.into(),
            score_normalize: self.score_normalize.into(),
            layer_post: self.layer_post.into(),
            bias_pool: self.bias_pool.into(),
            score_mode: self.score_mode.into(),
            bias_sc: self.bias_sc.into(),
            ..IcamConfig::default()
        }
    }
}
