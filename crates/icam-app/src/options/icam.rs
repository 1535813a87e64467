//! I-CAM's options under the reference implementation's names, resolved against a preset, and
//! the Grad-CAM family's ε.

use std::path::PathBuf;

use clap::Args;
use icam::config::{IcamConfig, ScoreTarget, Space};
use icam::fusion::{Fusion, LayerPost};
use icam::methods::icam::{Bias, BiasPool, BiasSc, ChannelBiasForm, SmoothFn};
use icam::scoring::{ScoreMode, ScoreNormalize};
use icam::similarity::MdsForm;
use icam::{Preset, Upsample};
use icam_models::CandidateRule;

use super::value_enum;
use crate::explanation::{self, NoiseMask};

/// Help text of an I-CAM option: what it is and its value under every preset (`key` is the
/// option's name in report.json's `config`).
fn preset_help(what: &str, key: &str) -> String {
    let values: Vec<String> = Preset::ALL
        .iter()
        .map(|p| {
            let v = serde_json::to_value(p.config()).expect("a config serialises");
            let v = match &v[key] {
                serde_json::Value::String(s) => s.replace('_', "-"),
                other => other.to_string(),
            };
            format!("{}: {v}", p.name())
        })
        .collect();
    format!("{what} [{}]", values.join(", "))
}

/// The options of I-CAM, under the reference implementation's names. Each one left out takes
/// the value of `--preset`.
#[derive(Args, Clone, Debug)]
pub struct IcamArgs {
    /// Option set: `recommended` (measured to localise best; docs/faithfulness.md) or `paper`
    /// (every literal default of the paper, as the reference implementation). Explicit options
    /// override it.
    #[arg(long, value_enum, default_value = "recommended")]
    pub preset: PresetArg,
    #[arg(long, value_enum, help = preset_help(
        "Candidate layers when --layers is not given: the block outputs (the paper's) or each block's last non-negative activation plus the head's (EfficientNet-Lite: _blocks.i._depthwise_act, _head_act; ResNet: the block outputs)",
        "candidates"))]
    pub candidates: Option<CandidatesArg>,
    #[arg(long, help = preset_help("Number of perturbations n (Eq. 3-4)", "n"))]
    pub n: Option<usize>,
    #[arg(long, allow_negative_numbers = true, help = preset_help("Perturbation strength alpha in (0, 1) (Eq. 4)", "alpha"))]
    pub alpha: Option<f64>,
    /// Seed of the perturbations (recorded in report.json).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, allow_negative_numbers = true, help = preset_help("Layer-selection threshold T in (0, 1] (Eqs. 12-13)", "threshold"))]
    pub threshold: Option<f64>,
    #[arg(long, value_enum, help = preset_help("Bias of Eq. 20: channel (Eq. 27), spatial (Eq. 28) or none", "bias"))]
    pub bias: Option<BiasArg>,
    #[arg(long, value_enum, help = preset_help("Eq. 27 read as (sum w)(sum A) or sum(w A) (A14)", "channel_bias_form"))]
    pub channel_bias_form: Option<FormArg>,
    #[arg(long, value_enum, help = preset_help("Perturb and differentiate the model input or the [0,1] pixel image (A3)", "space"))]
    pub space: Option<SpaceArg>,
    #[arg(long, value_enum, help = preset_help("Smooth function f of Eq. 25: softmax (Eq. 29) or exp (Grad-CAM++'s)", "smooth"))]
    pub smooth: Option<SmoothArg>,
    #[arg(long, allow_negative_numbers = true, help = preset_help("Sigma of SVIM (Eq. 6, A6)", "svim_sigma"))]
    pub svim_sigma: Option<f64>,
    #[arg(long, value_enum, help = preset_help("O of Eq. 3: softmax probability or logit of the target class (A9)", "score_target"))]
    pub score_target: Option<TargetArg>,
    #[arg(long, value_enum, help = preset_help("Upsampling of the phi maps in Eq. 3 (A10)", "score_upsample"))]
    pub score_upsample: Option<UpsampleArg>,
    #[arg(long, value_enum, help = preset_help("Normalisation of both maps of Eq. 3 (A11)", "score_normalize"))]
    pub score_normalize: Option<NormArg>,
    #[arg(long, value_enum, conflicts_with = "no_clamp_mds", help = preset_help(
        "MDS of Eq. 9: clamp = max(1 - MDD, 0) (A7), exp = exp(-MDD) (bounded, never 0), unclamped = 1 - MDD",
        "mds"))]
    pub mds: Option<MdsArg>,
    /// Keep negative MDS (A7): weights become NaN. The reference's name for `--mds unclamped`.
    #[arg(long)]
    pub no_clamp_mds: bool,
    #[arg(long, value_enum, help = preset_help("Per-layer post-processing before fusion (A17)", "layer_post"))]
    pub layer_post: Option<PostArg>,
    #[arg(long, value_enum, help = preset_help("Fusion of the selected layers: sum (Eq. 21) or max (the strongest weighted layer per position)", "fusion"))]
    pub fusion: Option<FusionArg>,
    #[arg(long, value_enum, help = preset_help("Sigma_ij of Eqs. 27-28: sum (literal) or mean (GAP reading) (A27)", "bias_pool"))]
    pub bias_pool: Option<PoolArg>,
    #[arg(long, value_enum, help = preset_help("Eq. 3 term: distance (literal) or sqrt(HW) - distance (A28)", "score_mode"))]
    pub score_mode: Option<ModeArg>,
    #[arg(long, value_enum, help = preset_help("S^c in Eqs. 27-28: full, S^c/K per channel (A29), or none", "bias_sc"))]
    pub bias_sc: Option<ScArg>,
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
value_enum!(ScArg => BiasSc { Full => BiasSc::Full, Split => BiasSc::Split, None => BiasSc::None });
value_enum!(FusionArg => Fusion { Sum => Fusion::Sum, Max => Fusion::Max });
value_enum!(PresetArg => Preset { Paper => Preset::Paper, Recommended => Preset::Recommended });
value_enum!(CandidatesArg => CandidateRule { BlockOutputs => CandidateRule::BlockOutputs, BlockActivations => CandidateRule::BlockActivations });
value_enum!(MdsArg => MdsForm { Clamp => MdsForm::Clamp, Exp => MdsForm::Exp, Unclamped => MdsForm::Unclamped });

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

    /// The preset's options with every explicit option applied.
    pub fn config(&self) -> IcamConfig {
        self.config_for(self.preset)
    }

    /// Preset `preset`'s options with every explicit option applied.
    pub fn config_for(&self, preset: PresetArg) -> IcamConfig {
        let mut c = Preset::from(preset).config();
        c.seed = self.seed;
        fn set<A: Copy + Into<T>, T>(field: &mut T, v: Option<A>) {
            if let Some(v) = v {
                *field = v.into();
            }
        }
        set(&mut c.candidates, self.candidates);
        set(&mut c.n, self.n);
        set(&mut c.alpha, self.alpha);
        set(&mut c.threshold, self.threshold);
        set(&mut c.bias, self.bias);
        set(&mut c.channel_bias_form, self.channel_bias_form);
        set(&mut c.space, self.space);
        set(&mut c.smooth, self.smooth);
        set(&mut c.svim_sigma, self.svim_sigma);
        set(&mut c.score_target, self.score_target);
        set(&mut c.score_upsample, self.score_upsample);
        set(&mut c.score_normalize, self.score_normalize);
        set(&mut c.mds, self.mds);
        if self.no_clamp_mds {
            c.mds = MdsForm::Unclamped;
        }
        set(&mut c.layer_post, self.layer_post);
        set(&mut c.fusion, self.fusion);
        set(&mut c.bias_pool, self.bias_pool);
        set(&mut c.score_mode, self.score_mode);
        set(&mut c.bias_sc, self.bias_sc);
        c
    }
}
