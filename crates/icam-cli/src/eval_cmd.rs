//! `icam eval`: every method on every image of a dataset, streamed, resumable, shardable;
//! a per-image CSV and a summary (mean ± standard error per method and metric). The work is
//! `icam_app::eval`; this is its flags, progress bar and printing. `icam eval merge` is in
//! `eval_merge_cmd`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use icam_app::Progress;
use icam_app::eval::{EvalPlan, EvalRequest, resolve_shard};

use crate::eval_merge_cmd::{self, MergeArgs};
use crate::explain_cmd::{BiasArg, IcamArgs, MethodArg};
use crate::model_args::ModelArgs;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub sub: Option<EvalSub>,
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
    /// I-CAM bias variants (one network pass serves all): channel, spatial, none.
    #[arg(
        long = "biases",
        value_enum,
        value_delimiter = ',',
        default_value = "channel"
    )]
    pub biases: Vec<BiasArg>,
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
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
}

impl EvalArgs {
    /// The library's request for these flags (`shard` parsed by the caller).
    fn request(&self, data: PathBuf, shard: Option<(usize, usize)>) -> EvalRequest {
        EvalRequest {
            data,
            methods: self.methods.iter().map(|m| m.name().to_string()).collect(),
            biases: self.biases.iter().map(|&b| b.into()).collect(),
            out: self.out.clone(),
            limit: self.limit,
            shard,
            thresholds: self.thresholds.clone(),
            metrics: self.metrics.clone(),
            curve_steps: self.curve_steps,
            class_map: self.class_map.clone(),
            restart: self.restart,
            config: self.icam.config(),
            gradcampp_eps: self.icam.gradcampp_eps,
        }
    }
}

/// `icam eval merge`.
#[derive(Subcommand, Debug)]
pub enum EvalSub {
    /// Merge the folders of shards evaluated separately into one evaluation.
    ///
    /// The shards (a cluster job's tasks, `--shard i/N` or `--shard auto`) must come from the
    /// same dataset, model, methods and options, and hold every image once. The per-image rows
    /// are written in dataset order, as one process would have written them, then the summary
    /// and the layer prominence.
    Merge(MergeArgs),
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let data = match &a.sub {
        Some(EvalSub::Merge(m)) => return eval_merge_cmd::run(m),
        None => a.data.clone().context("no dataset given")?,
    };
    a.icam.config().validate()?;
    a.icam.validate_baseline()?;
    let shard = resolve_shard(a.shard.as_deref(), a.shards, &|k| std::env::var(k).ok())?;
    if let Some(s) = shard
        .as_ref()
        .filter(|_| a.shard.as_deref() == Some("auto"))
    {
        eprintln!("shard {}/{} from {}", s.index, s.count, s.source);
    }
    let plan = EvalPlan::new(a.request(data, shard.map(|s| (s.index, s.count))))?;
    let loaded = a.model.load()?;
    let mut pb = indicatif::ProgressBar::hidden();
    let outcome = plan.run(&loaded, &mut |p| match p {
        Progress::Begin(_, n) => {
            pb = indicatif::ProgressBar::new(n as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} images  [{elapsed_precise} < {eta_precise}]  {msg}",
                )
                .expect("valid template"),
            );
        }
        Progress::Item(name) => pb.set_message(name.to_string()),
        Progress::Step => pb.inc(1),
        Progress::End(_) => pb.finish_and_clear(),
        Progress::Warning(w) => pb.suspend(|| eprintln!("warning: {w}")),
        Progress::Note(n) => eprintln!("{n}"),
    })?;
    println!("{}", outcome.summary_md);
    if let Some(p) = &outcome.prominence {
        eprintln!("layer prominence: {}", p.display());
    }
    eprintln!(
        "{} images in {:.1} s; per-image rows in {}",
        outcome.evaluated,
        outcome.seconds,
        outcome.per_image.display()
    );
    Ok(())
}
