//! Evaluation of methods on a dataset: every method on every image, streamed (one image in
//! memory at a time), resumable (an interrupted run continues where it stopped, and the
//! resumed `per_image.csv` is byte-identical to an uninterrupted one), shardable (image `k`
//! belongs to shard `k mod N`; per-image seeds do not depend on shards); then a summary
//! (mean ± standard error per method and metric) and, for I-CAM, the layer prominence.
//!
//! Files in the output folder: `per_image.csv`, `icam_layers.csv`, `timings.csv`,
//! `summary.md`, `summary.csv`, with I-CAM `layer_prominence.md`/`.png`, and the run's record
//! `run.json` and `images.csv` ([`run_info`]), from which [`merge()`] puts the folders of
//! shards run by separate processes back together.

mod image;
mod merge;
mod prominence;
mod rows;
pub mod run_info;
mod shard;
mod summary;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use icam::IcamConfig;
use icam::evaluate::{EvalOptions, MapMetrics};
use icam::methods::icam::Bias;
use icam::metrics::{CurveOptions, RoadOptions};

pub use merge::{MergeOutcome, MergeRequest, merge};
pub use prominence::prominence;
use prominence::stage_prominence;
pub use run_info::{RunInfo, ShardInfo};
pub use shard::{SCHEDULER_VARIABLES, ShardChoice, parse_shard, resolve_shard};
pub use summary::summarize;

use crate::dataset::{self, Sample};
use crate::error::invalid;
use crate::explanation::{CamOptions, check_gradcampp_eps};
use crate::model::LoadedModel;
use crate::output::Outputs;
use crate::progress::{Phase, Progress};
use rows::{LAYER_HEADER, Row, csv_line, header, keep_rows, resume};
use run_info::{IMAGES_FILE, RUN_FILE};

/// The metrics an evaluation can compute.
pub const METRICS: [&str; 5] = ["localisation", "drop", "deletion", "insertion", "road"];

/// What to evaluate: the options of `icam eval`, as plain values.
///
/// Serialised (less the fields that say where, which part, and whether to resume), it is
/// the `options` of the run's identity in `run.json`: folders merge or resume only when it is
/// equal, so a field added here is checked without further code (it must be `Serialize`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalRequest {
    /// A VOC folder, a folder of images, or a CSV (see [`dataset::list`]).
    #[serde(skip)]
    pub data: PathBuf,
    /// Methods by name (`icam`, `gradcam`, ...).
    pub methods: Vec<String>,
    /// I-CAM's bias variants, all from one network pass; empty: each option set's own bias.
    pub biases: Vec<Bias>,
    /// I-CAM under several option sets (e.g. presets), each named in the tables
    /// (`icam-paper`); empty: `config` alone, named `icam`. Option sets that perturb alike
    /// share one network pass.
    pub variants: Vec<(String, IcamConfig)>,
    /// Layers: I-CAM's candidates under every option set and the baselines' layers; empty:
    /// each method's own.
    pub layers: Vec<String>,
    /// The output folder.
    #[serde(skip)]
    pub out: PathBuf,
    /// Only the first N images (after sharding).
    #[serde(skip)]
    pub limit: Option<usize>,
    /// Shard `(i, N)`: the images whose index is `i` mod `N`.
    #[serde(skip)]
    pub shard: Option<(usize, usize)>,
    /// Localisation thresholds (fractions of the map maximum).
    pub thresholds: Vec<f64>,
    /// Metrics, among [`METRICS`].
    pub metrics: Vec<String>,
    /// Steps of the deletion/insertion curves.
    pub curve_steps: usize,
    /// Annotation names mapped to classes, `NAME=C1,C2` each.
    pub class_map: Vec<String>,
    /// Start afresh instead of resuming from an existing `per_image.csv`.
    #[serde(skip)]
    pub restart: bool,
    /// I-CAM's options; its seed is combined with each image's name.
    pub config: IcamConfig,
    pub gradcampp_eps: f64,
    /// The CAM family's options (less the batch size, which changes no map).
    pub cam: CamOptions,
}

impl Default for EvalRequest {
    fn default() -> Self {
        Self {
            data: PathBuf::new(),
            methods: ["icam", "gradcam", "gradcampp", "layercam"]
                .map(String::from)
                .into(),
            biases: vec![Bias::Channel],
            variants: vec![],
            layers: vec![],
            out: "icam-eval".into(),
            limit: None,
            shard: None,
            thresholds: vec![0.2, 0.5],
            metrics: ["localisation", "drop", "deletion", "insertion"]
                .map(String::from)
                .into(),
            curve_steps: 20,
            class_map: vec![],
            restart: false,
            config: IcamConfig::default(),
            gradcampp_eps: 0.0,
            cam: CamOptions::default(),
        }
    }
}

/// The method column of an I-CAM variant: its name (`icam`, `icam-paper`), with the bias when
/// biases are compared (`icam-channel`, `icam-paper-spatial`).
pub fn icam_variant(name: &str, bias: Option<Bias>) -> String {
    match bias {
        Some(b) => format!("{name}-{}", format!("{b:?}").to_lowercase()),
        None => name.to_string(),
    }
}

/// One I-CAM variant of an evaluation: its method column and its options.
pub(crate) struct IcamVariant {
    pub name: String,
    pub config: IcamConfig,
}

/// A checked request and the images it covers (listed, not decoded).
pub struct EvalPlan {
    pub request: EvalRequest,
    /// The images of this run (after sharding and the limit).
    pub samples: Vec<Sample>,
    class_map: dataset::ClassMap,
    /// The images of this run's shard before the limit: (index in the dataset, name).
    images: Vec<(usize, String)>,
    /// [`run_info::dataset_identity`] of the whole dataset.
    dataset: serde_json::Value,
}

/// What an evaluation did.
#[derive(Clone, Debug)]
pub struct EvalOutcome {
    /// `summary.md`'s table.
    pub summary_md: String,
    /// `layer_prominence.md`, when I-CAM was evaluated.
    pub prominence: Option<PathBuf>,
    /// Images evaluated by this run (not resumed).
    pub evaluated: usize,
    /// Seconds of the image loop.
    pub seconds: f64,
    /// `per_image.csv`.
    pub per_image: PathBuf,
}

impl EvalPlan {
    /// Check the request and list its images.
    pub fn new(request: EvalRequest) -> Result<Self> {
        let r = &request;
        r.config.validate()?;
        for (name, c) in &r.variants {
            c.validate()?;
            if r.variants.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(invalid!("I-CAM variant `{name}` is named twice"));
            }
        }
        check_gradcampp_eps(r.gradcampp_eps)?;
        let methods: Vec<&str> = r.methods.iter().map(String::as_str).collect();
        r.cam.check(&methods, r.gradcampp_eps)?;
        if let Some((i, n)) = r.shard
            && (n == 0 || i >= n)
        {
            return Err(invalid!("--shard {i}/{n}: need 0 <= i < N"));
        }
        if r.thresholds.iter().any(|t| !(0.0..1.0).contains(t)) {
            return Err(invalid!("--thresholds must lie in [0, 1)"));
        }
        if let Some(m) = r.metrics.iter().find(|m| !METRICS.contains(&m.as_str())) {
            return Err(invalid!(
                "unknown metric `{m}`; known: {}",
                METRICS.join(", ")
            ));
        }
        let class_map = dataset::parse_class_map(&r.class_map)?;
        let all = dataset::list(&r.data)?;
        let dataset = run_info::dataset_identity(&r.data, &all);
        let (i, n) = r.shard.unwrap_or((0, 1));
        let (indices, mut samples): (Vec<usize>, Vec<Sample>) = all
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % n == i)
            .unzip();
        let images = indices
            .into_iter()
            .zip(&samples)
            .map(|(k, s)| (k, dataset::image_name(&r.data, &s.path)))
            .collect();
        if let Some(l) = r.limit {
            samples.truncate(l);
        }
        Ok(Self {
            request,
            samples,
            class_map,
            images,
            dataset,
        })
    }

    /// The record of this run with `model` (`run.json`): its identity, shard and limit.
    pub fn run_info(&self, model: &LoadedModel) -> Result<run_info::RunInfo> {
        let a = &self.request;
        let identity = serde_json::json!({
            "icam": env!("CARGO_PKG_VERSION"),
            "dataset": self.dataset,
            "model": run_info::model_identity(model)?,
            "methods": self.method_names(),
            "options": serde_json::to_value(a)?,
        });
        Ok(run_info::RunInfo {
            identity: run_info::normalized(&identity)?,
            data: a.data.display().to_string(),
            shard: a
                .shard
                .map(|(index, count)| run_info::ShardInfo { index, count }),
            limit: a.limit,
            images: self.images.len(),
            merged_from: vec![],
        })
    }

    /// This run's record, after checking that a run recorded in `out` before is the same one
    /// (unless restarting).
    fn check_record(&self, model: &LoadedModel) -> Result<run_info::RunInfo> {
        let a = &self.request;
        let info = self.run_info(model)?;
        if !a.restart
            && let Some(old) = run_info::RunInfo::read(&a.out)?
        {
            let diff = run_info::differences(&old.identity, &info.identity);
            if !diff.is_empty() {
                bail!(
                    "{} was written with other options ({}); use --restart or another --out",
                    a.out.display(),
                    diff.join("; ")
                );
            }
            if old.shard != info.shard {
                bail!(
                    "{} holds {}, not {}; use --restart or another --out",
                    a.out.display(),
                    old.shard_name(),
                    info.shard_name()
                );
            }
        }
        Ok(info)
    }

    /// Write `run.json` and `images.csv` to `out`.
    fn record(&self, info: &run_info::RunInfo) -> Result<()> {
        let out = &self.request.out;
        let mut o = Outputs::default();
        o.json(out.join(RUN_FILE), info)?;
        o.add(out.join(IMAGES_FILE), run_info::images_csv(&self.images)?);
        o.commit()?;
        Ok(())
    }

    /// The method column of every row an image gets, in order.
    pub fn method_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for m in &self.request.methods {
            if m == "icam" {
                v.extend(icam_variants(&self.request).into_iter().map(|x| x.name));
            } else {
                v.push(m.clone());
            }
        }
        v
    }

    fn options(&self) -> EvalOptions {
        let a = &self.request;
        let metrics = |m: &str| a.metrics.iter().any(|x| x == m);
        let curve = |o: CurveOptions| CurveOptions {
            steps: a.curve_steps.max(1),
            ..o
        };
        EvalOptions {
            thresholds: a.thresholds.clone(),
            deletion: metrics("deletion").then(|| curve(CurveOptions::deletion())),
            insertion: metrics("insertion").then(|| curve(CurveOptions::insertion())),
            confidence: metrics("drop"),
            road: metrics("road")
                .then(|| (vec![10.0, 30.0, 50.0, 70.0, 90.0], RoadOptions::default())),
        }
    }

    /// Evaluate every image not done yet with `model`, appending to `per_image.csv` image by
    /// image ([`Phase::Evaluate`]; an image that fails is a row with its error and a
    /// warning), then write the summary and the layer prominence.
    pub fn run(
        &self,
        model: &LoadedModel,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<EvalOutcome> {
        let a = &self.request;
        for l in &a.layers {
            model.net().resolve_layer(l)?;
        }
        let samples = &self.samples;
        let method_names = self.method_names();
        let opts = self.options();
        let header = header(&a.thresholds);
        let info = self.check_record(model)?;
        std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        let csv_path = a.out.join("per_image.csv");
        let layers_path = a.out.join("icam_layers.csv");
        let done = if csv_path.exists() && !a.restart {
            resume(&csv_path, &header, &method_names)?
        } else {
            BTreeSet::new()
        };
        self.record(&info)?;
        let timings_path = a.out.join("timings.csv");
        if done.is_empty() {
            std::fs::write(&csv_path, csv_line(&header)?)?;
            std::fs::write(&layers_path, csv_line(&LAYER_HEADER.map(String::from))?)?;
            std::fs::write(&timings_path, "")?;
        } else {
            keep_rows(&layers_path, &done)?;
        }
        let mut file = std::fs::OpenOptions::new().append(true).open(&csv_path)?;
        let mut layer_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&layers_path)?;
        let mut timings = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&timings_path)?;
        let todo: Vec<&Sample> = samples
            .iter()
            .filter(|s| !done.contains(&dataset::image_name(&a.data, &s.path)))
            .collect();
        if !done.is_empty() {
            progress(Progress::Note(&format!(
                "resuming: {} of {} images already done",
                samples.len() - todo.len(),
                samples.len()
            )));
        }
        let evaluated = todo.len();
        progress(Progress::Begin(Phase::Evaluate, todo.len()));
        let started = Instant::now();
        for s in todo {
            let name = dataset::image_name(&a.data, &s.path);
            progress(Progress::Item(&name));
            let t0 = Instant::now();
            let (rows, layer_rows) =
                match image::eval_image(a, model, s, &name, &opts, &self.class_map) {
                    Ok(r) => r,
                    Err(e) => {
                        progress(Progress::Warning(&format!("{name}: {e:#}")));
                        (vec![failed_row(&name, &e, a.thresholds.len())], vec![])
                    }
                };
            // Layer rows first: an image counts as done only once its per_image rows are
            // written.
            let mut layer_chunk = String::new();
            for r in &layer_rows {
                layer_chunk.push_str(&csv_line(r)?);
            }
            layer_file.write_all(layer_chunk.as_bytes())?;
            layer_file.flush()?;
            let mut chunk = String::new();
            for r in &rows {
                chunk.push_str(&csv_line(&r.cells())?);
            }
            file.write_all(chunk.as_bytes())?;
            file.flush()?;
            writeln!(timings, "{name},{:.3}", t0.elapsed().as_secs_f64())?;
            progress(Progress::Step);
        }
        progress(Progress::End(Phase::Evaluate));
        let seconds = started.elapsed().as_secs_f64();
        let (md, csv) = summarize(&csv_path, &a.thresholds, &method_names)?;
        std::fs::write(a.out.join("summary.md"), &md)?;
        std::fs::write(a.out.join("summary.csv"), &csv)?;
        let prominence = if a.methods.iter().any(|m| m == "icam") {
            let mut o = Outputs::default();
            let path = stage_prominence(&mut o, &a.out, &std::fs::read(&layers_path)?)?;
            o.commit()?;
            Some(path)
        } else {
            None
        };
        Ok(EvalOutcome {
            summary_md: md,
            prominence,
            evaluated,
            seconds,
            per_image: csv_path,
        })
    }
}

/// I-CAM's variants: every option set of `variants` (or `config` alone) times every bias of
/// `biases` (or the option set's own bias).
pub(crate) fn icam_variants(r: &EvalRequest) -> Vec<IcamVariant> {
    let sets: Vec<(String, IcamConfig)> = if r.variants.is_empty() {
        vec![("icam".to_string(), r.config.clone())]
    } else {
        r.variants.clone()
    };
    let mut out = Vec::new();
    for (name, config) in sets {
        if r.biases.is_empty() {
            out.push(IcamVariant {
                name: icam_variant(&name, None),
                config,
            });
        } else {
            for &bias in &r.biases {
                out.push(IcamVariant {
                    name: icam_variant(&name, Some(bias)),
                    config: IcamConfig {
                        bias,
                        ..config.clone()
                    },
                });
            }
        }
    }
    out
}

/// The row of an image that failed: its name, `-` as the method, the error.
fn failed_row(name: &str, e: &anyhow::Error, thresholds: usize) -> Row {
    let mut fixed: [String; 11] = Default::default();
    fixed[0] = name.to_string();
    fixed[1] = "-".into();
    fixed[10] = format!("{e:#}");
    Row {
        fixed,
        metrics: MapMetrics {
            iou: vec![None; thresholds],
            mask_iou: vec![None; thresholds],
            ..Default::default()
        },
        degenerate: None,
    }
}
