//! `icam eval`: every method on every image of a dataset, streamed, resumable, shardable;
//! a per-image CSV and a summary (mean ± standard error per method and metric). The work is
//! `icam_app::eval`; this is its flags, progress bar and printing.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use icam_app::Progress;
use icam_app::eval::{EvalPlan, EvalRequest, parse_shard};

use crate::explain_cmd::{BiasArg, IcamArgs, MethodArg};
use crate::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A folder with VOC XML boxes (Annotations/ + JPEGImages/, or XML beside the images), a
    /// plain folder of images, or a CSV `path,class[,xmin,ymin,xmax,ymax]`.
    pub data: PathBuf,
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
    /// Process shard i of N (images whose index ≡ i mod N), e.g. `--shard 0/4`.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<String>,
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
    fn request(&self, shard: Option<(usize, usize)>) -> EvalRequest {
        EvalRequest {
            data: self.data.clone(),
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

pub fn run(a: &EvalArgs) -> Result<()> {
    a.icam.config().validate()?;
    a.icam.validate_baseline()?;
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    let plan = EvalPlan::new(a.request(shard))?;
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
