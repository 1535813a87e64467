//! `icam cases`: the paper's four confidence/correctness cases (§3.1.3, Figs. 4–9) on a
//! dataset, as one self-contained `report.html` (images inline) and `cases.json`. The rules,
//! the selection and the report are `icam_app::cases` (see its documentation); this is its
//! flags, progress bars and printing.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use icam_app::cases::{CASES, CasesPlan, CasesRequest, Order};
use icam_app::{Phase, Progress};

use icam_app::options::{CamArgs, ColormapArg, IcamArgs, MethodArg, ModelArgs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// High cases: most confident first; low cases: least confident first.
    Confidence,
    /// The first images of each case in dataset order.
    Dataset,
}

#[derive(Args, Debug)]
pub struct CasesArgs {
    /// A folder with VOC XML boxes (Annotations/ + JPEGImages/, or XML beside the images), a
    /// plain folder of images, or a CSV `path,class[,xmin,ymin,xmax,ymax]`.
    pub data: PathBuf,
    /// High confidence: probability of the predicted class >= this.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    pub high: f64,
    /// Low confidence: probability of the predicted class < this. Predictions in between are
    /// counted and skipped (set --low equal to --high to class every prediction).
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub low: f64,
    /// Images kept per case.
    #[arg(long, default_value_t = 4)]
    pub per_case: usize,
    /// Which images each case keeps.
    #[arg(long, value_enum, default_value = "confidence")]
    pub order: OrderArg,
    /// Output folder: report.html and cases.json.
    #[arg(long, default_value = "icam-cases")]
    pub out: PathBuf,
    /// Only the first N images of the dataset.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Map an annotation name to classes, e.g. `--class-map elephant=101,385,386` (repeatable).
    #[arg(long = "class-map", value_name = "NAME=C1,C2")]
    pub class_map: Vec<String>,
    /// Training images, one sub-folder per class (index, WordNet id or class name): show the
    /// nearest training images of the predicted and of the true class of each misclassified
    /// image.
    #[arg(long, value_name = "DIR")]
    pub train: Option<PathBuf>,
    /// Nearest training images shown per class (with --train).
    #[arg(long, default_value_t = 3)]
    pub neighbours: usize,
    /// Weight the test image's pooled features by its map of each class (with --train).
    #[arg(long)]
    pub weighted: bool,
    /// Feature cache folder (with --train; default: TRAIN/.icam-cache).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Longest side of the pictures in the report, in pixels.
    #[arg(long, default_value_t = 256)]
    pub thumb: u32,
    /// Colormap of the overlays.
    #[arg(long, value_enum, default_value = "inferno")]
    pub colormap: ColormapArg,
    /// The method of the maps.
    #[arg(long, value_enum, default_value = "icam")]
    pub method: MethodArg,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
    #[command(flatten)]
    pub cam: CamArgs,
}

impl CasesArgs {
    /// The library's request for these flags.
    fn request(&self) -> CasesRequest {
        CasesRequest {
            data: self.data.clone(),
            high: self.high,
            low: self.low,
            per_case: self.per_case,
            order: match self.order {
                OrderArg::Confidence => Order::Confidence,
                OrderArg::Dataset => Order::Dataset,
            },
            out: self.out.clone(),
            limit: self.limit,
            class_map: self.class_map.clone(),
            train: self.train.clone(),
            neighbours: self.neighbours,
            weighted: self.weighted,
            cache: self.cache.clone(),
            thumb: self.thumb,
            colormap: self.colormap.into(),
            method: self.method.name().into(),
            config: self.icam.config(),
            gradcampp_eps: self.icam.gradcampp_eps,
            cam: self.cam.options(),
        }
    }
}

fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}} {what}  [{{elapsed_precise}} < {{eta_precise}}]  {{msg}}"
        ))
        .expect("valid template"),
    );
    pb
}

pub fn run(a: &CasesArgs) -> Result<()> {
    let req = a.request();
    req.validate()?;
    if a.icam.noise.is_some() {
        bail!(
            "--noise/--mask are for `icam explain`; `icam cases` draws seeded perturbations per image"
        );
    }
    let started = Instant::now();
    let plan = CasesPlan::new(req)?;
    let loaded = a.model.load()?;
    let mut pb = indicatif::ProgressBar::hidden();
    let outcome = plan.run(&loaded, &mut |p| match p {
        Progress::Begin(phase, n) => {
            pb = bar(
                n as u64,
                match phase {
                    Phase::Predict => "images predicted",
                    Phase::Embed => "training images embedded",
                    Phase::Explain | Phase::Evaluate => "images explained",
                },
            );
        }
        Progress::Item(name) => pb.set_message(name.to_string()),
        Progress::Step => pb.inc(1),
        Progress::End(_) => pb.finish_and_clear(),
        Progress::Warning(w) => pb.suspend(|| eprintln!("warning: {w}")),
        Progress::Note(n) => eprintln!("{n}"),
    })?;
    let counts = &outcome.counts;
    for (case, shown) in CASES.iter().zip(outcome.shown) {
        println!(
            "{}: {} image(s), {} shown",
            case.title(),
            counts.of(*case),
            shown
        );
    }
    println!(
        "{} images: {} predicted ({} correct), {} between the thresholds, {} unlabelled, {} unreadable",
        counts.images,
        counts.predicted,
        counts.correct,
        counts.between,
        counts.unlabelled,
        counts.failed
    );
    println!("report: {}", outcome.report.display());
    eprintln!(
        "done in {:.1} s (predictions {:.1} s, training examples {:.1} s, maps {:.1} s)",
        started.elapsed().as_secs_f64(),
        outcome.predict_s,
        outcome.embed_s,
        outcome.explain_s
    );
    Ok(())
}
