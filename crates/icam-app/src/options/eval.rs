//! What `icam eval` evaluates, as an [`EvalRequest`].

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{BiasArg, CamArgs, IcamArgs, MethodArg, PresetArg};
use crate::eval::{EvalRequest, ShardChoice, resolve_shard};

/// The options of an evaluation (the model is the front-end's).
#[derive(Args, Clone, Debug)]
pub struct EvalOptions {
    /// A folder with VOC XML boxes (Annotations/ + JPEGImages/, XML beside the images as
    /// ImageNet's validation set, or Kaggle's ILSVRC/), a plain folder of images, a CSV
    /// `path,class[,xmin,ymin,xmax,ymax]`, or ImageNet's LOC_val_solution.csv.
    #[arg(required = true)]
    pub data: Option<PathBuf>,
    /// Methods to compare.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "icam,gradcam,gradcampp,layercam"
    )]
    pub methods: Vec<MethodArg>,
    /// Compare I-CAM under several presets (`icam-paper`, `icam-recommended`, ...); one
    /// network pass serves every preset that perturbs alike. Explicit I-CAM options apply to
    /// each. Default: the single `--preset`, reported as `icam`.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub presets: Vec<PresetArg>,
    /// I-CAM bias variants (one network pass serves all): channel, spatial, none (default: the
    /// preset's bias).
    #[arg(long = "biases", value_enum, value_delimiter = ',')]
    pub biases: Vec<BiasArg>,
    /// Layers (comma-separated): I-CAM's candidates under every preset and the baselines'
    /// layers (several are fused as the mean of their maps, A21). Default: the preset's
    /// candidate rule for I-CAM, the last feature layer for the baselines.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Output folder: per_image.csv, summary.csv, summary.md.
    #[arg(long, default_value = "icam-eval")]
    pub out: PathBuf,
    /// Only the first N images (after sharding).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Process shard i of N (images whose index ≡ i mod N), e.g. `--shard 0/4`; `auto`: read
    /// i and N from a scheduler's array task (Slurm SLURM_ARRAY_TASK_ID/COUNT/MIN/STEP;
    /// Kubernetes JOB_COMPLETION_INDEX, AWS Batch AWS_BATCH_JOB_ARRAY_INDEX with --shards N;
    /// Google Batch BATCH_TASK_INDEX/COUNT). Put each shard in its own --out, then
    /// `icam eval merge`.
    #[arg(long, value_name = "i/N|auto")]
    pub shard: Option<String>,
    /// With `--shard auto`: the number of shards, where the scheduler does not pass it
    /// (Kubernetes: the Job's completions). With Slurm it makes the task id the shard index
    /// (number the array 0-(N-1)), so a resubmitted subset such as --array=7 keeps its shard.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Localisation thresholds (fractions of the map maximum).
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.5")]
    pub thresholds: Vec<f64>,
    /// Metrics: localisation (energy Eq. 32, pointing game, IoU), drop (Average Drop /
    /// Increase in Confidence), deletion, insertion, road.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "localisation,drop,deletion,insertion"
    )]
    pub metrics: Vec<String>,
    /// Steps of the deletion/insertion curves (RISE uses h·w/224 = 224).
    #[arg(long, default_value_t = 20)]
    pub curve_steps: usize,
    /// Map an annotation name to classes, e.g. `--class-map elephant=101,385,386` (repeatable).
    #[arg(long = "class-map", value_name = "NAME=C1,C2")]
    pub class_map: Vec<String>,
    /// Start afresh instead of resuming from an existing per_image.csv.
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub icam: IcamArgs,
    #[command(flatten)]
    pub cam: CamArgs,
}

impl EvalOptions {
    /// `--presets`, each resolved with the explicit I-CAM options, named `icam-PRESET`.
    fn variants(&self) -> Vec<(String, icam::IcamConfig)> {
        let mut v: Vec<(String, icam::IcamConfig)> = Vec::new();
        for &p in &self.presets {
            let config = self.icam.config_for(p);
            let name = format!("icam-{}", config.preset.name());
            if !v.iter().any(|(n, _)| n == &name) {
                v.push((name, config));
            }
        }
        v
    }

    /// The shard to process: `--shard i/N`, or with `auto` the scheduler's (from this
    /// process's environment); I-CAM's options are checked first, as before any work.
    pub fn shard(&self) -> Result<Option<ShardChoice>> {
        self.icam.config().validate()?;
        self.icam.validate_baseline()?;
        resolve_shard(self.shard.as_deref(), self.shards, &|k| {
            std::env::var(k).ok()
        })
    }

    /// The library's request for these options and `shard` (from [`Self::shard`]).
    pub fn request(&self, shard: Option<&ShardChoice>) -> Result<EvalRequest> {
        Ok(EvalRequest {
            data: self.data.clone().context("no dataset given")?,
            methods: self.methods.iter().map(|m| m.name().to_string()).collect(),
            biases: self.biases.iter().map(|&b| b.into()).collect(),
            variants: self.variants(),
            layers: self.layers.clone(),
            out: self.out.clone(),
            limit: self.limit,
            shard: shard.map(|s| (s.index, s.count)),
            thresholds: self.thresholds.clone(),
            metrics: self.metrics.clone(),
            curve_steps: self.curve_steps,
            class_map: self.class_map.clone(),
            restart: self.restart,
            config: self.icam.config(),
            gradcampp_eps: self.icam.gradcampp_eps,
            cam: self.cam.options(),
        })
    }
}
