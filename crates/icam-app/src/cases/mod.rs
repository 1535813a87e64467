//! The paper's four confidence/correctness cases (§3.1.3, Figs. 4–9) on a dataset, as one
//! self-contained `report.html` (images inline) and `cases.json` (`icam cases`).
//!
//! **Rules.** Confidence is the softmax probability `p` of the predicted (top-1) class. A
//! prediction is *high* confidence when `p >= --high`, *low* when `p < --low`; one with
//! `--low <= p < --high` is in neither case: it is counted (`between`) and skipped. With
//! `--low` equal to `--high` every prediction is classed. It is *correct* when the predicted
//! class is one of the classes the image's label names (`dataset::classes_for`: an index, a
//! WordNet id, a class name, or every class a generic name such as `elephant` covers;
//! `--class-map` overrides). Images without a label are counted (`unlabelled`) and skipped.
//! Case 1 = correct, high; Case 2 = correct, low; Case 3 = incorrect, high; Case 4 =
//! incorrect, low.
//!
//! **Which images.** `--per-case` images per case. `--order confidence` (default) keeps the
//! clearest examples: in the high cases the most confident first, in the low cases the least
//! confident first; `--order dataset` keeps the first ones in dataset order. Ties keep dataset
//! order. Selection is a first pass of predictions only (one image decoded at a time, a
//! bounded list of candidates per case); the kept images are then decoded again and explained.
//!
//! **Maps.** For each kept image, the map (I-CAM's, or `--method`'s: any method
//! [`crate::explanation::Explainer`] runs, with its options) of the predicted class and, when
//! the prediction is wrong, of the true class (I-CAM: one network pass per target; the CAM
//! methods: one for both); for a label naming several classes the true class shown is the one the
//! model finds most probable among them. Perturbation seeds are per image, `--seed ^
//! FNV-1a(image name)`, as `icam eval`. Probabilities are those of the selection pass.
//!
//! **Examples** (`--train DIR`, see `neighbours.rs`): for each misclassified kept image, the
//! `--neighbours` nearest training images of the predicted and of the true class by the
//! cosine of the global-average-pooled activations of the baseline layer
//! (`net.baseline_layer()`). With `--weighted`, the *test image's* features are instead its
//! activations averaged with the map of that class as weights (the map area-averaged
//! to the feature resolution; `icam::features`), so that the search looks for what the map
//! points at; the training images keep their plain average (cached, embedded once), which
//! lives in the same feature space.

mod html;
mod item;
mod select;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use icam::IcamConfig;
use icam::features;
use icam::render::Colormap;
use serde_json::{Value, json};

pub use select::{CASES, Case, Counts, Order};

use crate::dataset::{self, Sample, classes_for};
use crate::error::invalid;
use crate::explanation::{CamOptions, check_gradcampp_eps, method};
use crate::model::LoadedModel;
use crate::neighbours::{self, Embedding, ModelIdentity, TrainSet};
use crate::output::Outputs;
use crate::progress::{Phase, Progress};
use html::{esc, page};
use item::{Ctx, cand_json, explain_item};
use select::{Cand, offer, predict};

/// What to sort and show: the options of `icam cases`, as plain values.
#[derive(Clone, Debug)]
pub struct CasesRequest {
    /// A VOC folder, a folder of images, or a CSV (see [`dataset::list`]); labelled.
    pub data: PathBuf,
    /// High confidence: probability of the predicted class >= this.
    pub high: f64,
    /// Low confidence: probability of the predicted class < this.
    pub low: f64,
    /// Images kept per case.
    pub per_case: usize,
    pub order: Order,
    /// Output folder: `report.html` and `cases.json`.
    pub out: PathBuf,
    /// Only the first N images of the dataset.
    pub limit: Option<usize>,
    /// Annotation names mapped to classes, `NAME=C1,C2` each.
    pub class_map: Vec<String>,
    /// Training images, one sub-folder per class: show the nearest ones of each
    /// misclassified image's predicted and true class.
    pub train: Option<PathBuf>,
    /// Nearest training images shown per class.
    pub neighbours: usize,
    /// Weight the test image's pooled features by its map of each class.
    pub weighted: bool,
    /// Feature cache folder (default: `TRAIN/.icam-cache`).
    pub cache: Option<PathBuf>,
    /// Longest side of the pictures in the report, in pixels.
    pub thumb: u32,
    pub colormap: Colormap,
    /// The method of the maps: `icam` or a method of the CAM family.
    pub method: String,
    /// I-CAM's options; its seed is combined with each image's name.
    pub config: IcamConfig,
    pub gradcampp_eps: f64,
    /// The CAM family's options.
    pub cam: CamOptions,
}

impl Default for CasesRequest {
    fn default() -> Self {
        Self {
            data: PathBuf::new(),
            high: 0.7,
            low: 0.3,
            per_case: 4,
            order: Order::Confidence,
            out: "icam-cases".into(),
            limit: None,
            class_map: vec![],
            train: None,
            neighbours: 3,
            weighted: false,
            cache: None,
            thumb: 256,
            colormap: Colormap::Inferno,
            method: "icam".into(),
            config: IcamConfig::default(),
            gradcampp_eps: 0.0,
            cam: CamOptions::default(),
        }
    }
}

impl CasesRequest {
    /// The checks that need neither the data nor the model.
    pub fn validate(&self) -> Result<()> {
        let a = self;
        a.cam.check(&[&a.method], a.gradcampp_eps)?;
        if method(&a.method, a.gradcampp_eps, &a.cam)?.is_icam() {
            a.config.validate()?;
        }
        check_gradcampp_eps(a.gradcampp_eps)?;
        for (name, v) in [("--high", a.high), ("--low", a.low)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid!("{name} must lie in [0, 1], got {v}"));
            }
        }
        if a.low > a.high {
            return Err(invalid!(
                "--low ({}) must not exceed --high ({}): a prediction would be both",
                a.low,
                a.high
            ));
        }
        if a.per_case == 0 {
            return Err(invalid!("--per-case must be at least 1"));
        }
        if a.thumb < 16 || a.thumb > 2048 {
            return Err(invalid!("--thumb must lie in 16..=2048, got {}", a.thumb));
        }
        if a.train.is_none() {
            if a.weighted {
                return Err(invalid!("--weighted needs --train DIR"));
            }
            if a.cache.is_some() {
                return Err(invalid!("--cache needs --train DIR"));
            }
        } else if a.neighbours == 0 {
            return Err(invalid!("--neighbours must be at least 1 with --train"));
        }
        if a.out.is_file() {
            return Err(invalid!("--out {} is a file", a.out.display()));
        }
        Ok(())
    }
}

/// A checked request and the images it covers (listed, not decoded).
pub struct CasesPlan {
    pub request: CasesRequest,
    pub samples: Vec<Sample>,
    class_map: dataset::ClassMap,
    started: Instant,
}

/// What the cases run found and wrote.
#[derive(Clone, Debug)]
pub struct CasesOutcome {
    pub counts: Counts,
    /// Images shown per case, in [`CASES`] order.
    pub shown: [usize; 4],
    /// `report.html`.
    pub report: PathBuf,
    /// Seconds of the selection pass, of embedding the training images, of the maps.
    pub predict_s: f64,
    pub embed_s: f64,
    pub explain_s: f64,
}

impl CasesPlan {
    /// Check the request and list its images (at least one must be labelled).
    pub fn new(request: CasesRequest) -> Result<Self> {
        request.validate()?;
        let started = Instant::now();
        let a = &request;
        let class_map = dataset::parse_class_map(&a.class_map)?;
        let mut samples = dataset::list(&a.data)?;
        if let Some(l) = a.limit {
            if l == 0 {
                return Err(invalid!("--limit must be at least 1"));
            }
            samples.truncate(l);
        }
        if samples.iter().all(|s| s.label.is_none()) {
            return Err(invalid!(
                "none of the {} images of {} has a label; the cases need the true class (a VOC folder, or a CSV path,class)",
                samples.len(),
                a.data.display()
            ));
        }
        Ok(Self {
            request,
            samples,
            class_map,
            started,
        })
    }

    /// Sort the images into the cases with `model` ([`Phase::Predict`]), embed the training
    /// images the misclassified kept ones need ([`Phase::Embed`]), explain the kept images
    /// ([`Phase::Explain`]) and write `report.html` and `cases.json`.
    pub fn run(
        self,
        loaded: &LoadedModel,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<CasesOutcome> {
        let CasesPlan {
            request,
            samples,
            class_map,
            started,
        } = self;
        let a = &request;
        let net = loaded.net();
        let classes = net.num_classes();
        // Every label must name a class of the model before any work.
        let labels: BTreeSet<&str> = samples.iter().filter_map(|s| s.label.as_deref()).collect();
        for l in &labels {
            let t = classes_for(l, loaded.labels.as_ref(), &class_map);
            if t.is_empty() {
                return Err(invalid!(
                    "label `{l}` names no class of the model; map it with --class-map {l}=C1,C2"
                ));
            }
            if let Some(c) = t.iter().find(|&&c| c >= classes) {
                return Err(invalid!(
                    "label `{l}` maps to class {c}, out of range: the model has {classes} classes (0..{})",
                    classes - 1
                ));
            }
        }
        let train = a
            .train
            .as_deref()
            .map(|t| TrainSet::open(t, loaded))
            .transpose()?;
        let layer = net.resolve_layer(&net.baseline_layer())?;

        // Pass 1: predictions, one image at a time; a bounded list of candidates per case.
        let t1 = Instant::now();
        let mut counts = Counts {
            images: samples.len(),
            ..Default::default()
        };
        let mut kept: [Vec<Cand>; 4] = Default::default();
        let mut failures: Vec<Value> = Vec::new();
        progress(Progress::Begin(Phase::Predict, samples.len()));
        for (index, s) in samples.iter().enumerate() {
            let name = dataset::image_name(&a.data, &s.path);
            progress(Progress::Item(&name));
            match predict(loaded, s, index, &name, &class_map) {
                Ok(None) => counts.unlabelled += 1,
                Ok(Some(c)) => {
                    counts.predicted += 1;
                    counts.correct += usize::from(c.correct);
                    let high = c.prob >= a.high;
                    if !high && c.prob >= a.low {
                        counts.between += 1;
                    } else {
                        let case = Case::of(c.correct, high);
                        *counts.case(case) += 1;
                        offer(&mut kept[case.index()], c, a.order, high, a.per_case);
                    }
                }
                Err(e) => {
                    counts.failed += 1;
                    progress(Progress::Warning(&format!("{name}: {e:#}; skipped")));
                    if failures.len() < 20 {
                        failures.push(json!({"image": name, "error": format!("{e:#}")}));
                    }
                }
            }
            progress(Progress::Step);
        }
        progress(Progress::End(Phase::Predict));
        let predict_s = t1.elapsed().as_secs_f64();
        if counts.predicted + counts.unlabelled == 0 {
            bail!(
                "none of the {} images of {} could be read",
                samples.len(),
                a.data.display()
            );
        }
        drop(samples);

        // The training examples the misclassified kept images need.
        let t2 = Instant::now();
        let mut embedding: Option<Embedding> = None;
        if let Some(train) = &train {
            let need: BTreeSet<usize> = kept
                .iter()
                .flatten()
                .filter(|c| !c.correct)
                .flat_map(|c| [c.pred, c.true_class])
                .filter(|&c| train.has_class(c))
                .collect();
            let cache_root = a
                .cache
                .clone()
                .unwrap_or_else(|| train.root.join(".icam-cache"));
            let identity = ModelIdentity::of(loaded, &layer)?;
            let e = neighbours::embed(
                train,
                &need,
                &identity,
                &cache_root,
                |p| {
                    let px = loaded.open_image(p)?.pixels;
                    Ok(features::pooled_features(
                        net,
                        loaded.normalization,
                        &px,
                        &layer,
                    )?)
                },
                progress,
            )?;
            progress(Progress::Note(&format!(
                "neighbours: embedded {} new training images ({} from the cache {}) of {} classes",
                e.embedded,
                e.cached,
                e.cache_dir.display(),
                need.len()
            )));
            embedding = Some(e);
        }
        let embed_s = t2.elapsed().as_secs_f64();

        // Pass 2: explain the kept images.
        let t3 = Instant::now();
        let total: usize = kept.iter().map(Vec::len).sum();
        progress(Progress::Begin(Phase::Explain, total));
        let ctx = Ctx {
            a,
            loaded,
            layer: &layer,
            embedding: embedding.as_ref(),
            cmap: a.colormap,
        };
        let mut sections_html = String::new();
        let mut sections_json = Vec::new();
        for case in CASES {
            let list = &kept[case.index()];
            let mut items_html = String::new();
            let mut items_json = Vec::new();
            for c in list {
                progress(Progress::Item(&c.name));
                let (j, h) = explain_item(&ctx, c).unwrap_or_else(|e| {
                    progress(Progress::Warning(&format!("{}: {e:#}", c.name)));
                    let j = cand_json(loaded, c, json!({"error": format!("{e:#}")}));
                    let h = format!(
                        "<article class=\"item\"><h3>{}</h3><p class=\"err\">{}</p></article>\n",
                        esc(&c.name),
                        esc(&format!("{e:#}"))
                    );
                    (j, h)
                });
                items_json.push(j);
                items_html.push_str(&h);
                progress(Progress::Step);
            }
            let n = counts.of(case);
            sections_json.push(json!({
                "case": case.id(),
                "title": case.title(),
                "count": n,
                "shown": list.len(),
                "images": items_json,
            }));
            let _ = writeln!(
                sections_html,
                "<section id=\"{}\"><h2>{} <small>{} image{}, {} shown</small></h2>\n{}{}</section>",
                case.id(),
                case.title(),
                n,
                if n == 1 { "" } else { "s" },
                list.len(),
                if list.is_empty() {
                    "<p class=\"none\">No image of the dataset fell into this case.</p>\n"
                } else {
                    ""
                },
                items_html
            );
        }
        progress(Progress::End(Phase::Explain));
        let explain_s = t3.elapsed().as_secs_f64();

        let cfg = &a.config;
        let neighbours_json = embedding.as_ref().map(|e| {
            json!({
                "train": a.train.as_ref().map(|t| t.display().to_string()),
                "classes_in_train": train.as_ref().map(TrainSet::class_count),
                "cache": e.cache_dir.display().to_string(),
                "embedded": e.embedded,
                "from_cache": e.cached,
                "failed": e.failed,
                "layer": layer,
                "pooling": if a.weighted { "test image: map-weighted average (map area-averaged to the feature resolution); training images: global average" } else { "global average" },
                "k": a.neighbours,
            })
        });
        let report = json!({
            "data": a.data.display().to_string(),
            "arch": net.arch(),
            "weights_file": loaded.weights.display().to_string(),
            "normalize": loaded.normalization.name(),
            "no_resize": loaded.no_resize,
            "dtype": net.precision().name(),
            "rules": {
                "confidence": "softmax probability of the predicted class",
                "high": a.high,
                "low": a.low,
                "high_if": "p >= high",
                "low_if": "p < low",
                "between": "low <= p < high: counted, not classed",
                "correct_if": "the predicted class is one of the classes the label names",
                "order": match a.order {
                    Order::Confidence => "high cases: most confident first; low cases: least confident first; ties in dataset order",
                    Order::Dataset => "dataset order",
                },
                "per_case": a.per_case,
                "seed": "--seed XOR FNV-1a(image name)",
            },
            "method": a.method,
            "config": cfg,
            "cam": a.cam,
            "counts": counts,
            "failures": failures,
            "cases": sections_json,
            "neighbours": neighbours_json,
            "timing_s": {
                "predict": predict_s,
                "embed": embed_s,
                "explain": explain_s,
                "total": started.elapsed().as_secs_f64(),
            },
            "icam_version": env!("CARGO_PKG_VERSION"),
        });
        let html = page(&ctx, &counts, &report, &sections_html);
        let mut out = Outputs::default();
        out.add(a.out.join("report.html"), html.into_bytes());
        out.json(a.out.join("cases.json"), &report)?;
        out.commit()?;
        Ok(CasesOutcome {
            counts,
            shown: CASES.map(|c| kept[c.index()].len()),
            report: a.out.join("report.html"),
            predict_s,
            embed_s,
            explain_s,
        })
    }
}
