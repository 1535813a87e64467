//! `icam cases`: the paper's four confidence/correctness cases (§3.1.3, Figs. 4–9) on a
//! dataset, as one self-contained `report.html` (images inline) and `cases.json`.
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
//! **Maps.** For each kept image, the I-CAM map of the predicted class and, when the
//! prediction is wrong, of the true class (one network pass per target, `prepare_icam` +
//! `finish_icam`); for a label naming several classes the true class shown is the one the
//! model finds most probable among them. Perturbation seeds are per image, `--seed ^
//! FNV-1a(image name)`, as `icam eval`. Probabilities are those of the selection pass.
//!
//! **Examples** (`--train DIR`, see `neighbours.rs`): for each misclassified kept image, the
//! `--neighbours` nearest training images of the predicted and of the true class by the
//! cosine of the global-average-pooled activations of the baseline layer
//! (`net.baseline_layer()`). With `--weighted`, the *test image's* features are instead its
//! activations averaged with the I-CAM map of that class as weights (the map area-averaged
//! to the feature resolution; `icam::features`), so that the search looks for what the map
//! points at; the training images keep their plain average (cached, embedded once), which
//! lives in the same feature space.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::{Args, ValueEnum};
use icam::explain::argmax;
use icam::features;
use icam::render::{Colormap, overlay};
use icam::similarity::log_softmax;
use icam::{IcamResult, Perturbations, Subject, Target, finish_icam, prepare_icam};
use icam_models::Geometry;
use image::RgbImage;
use serde_json::{Value, json};

use crate::explain_cmd::{ColormapArg, IcamArgs};
use crate::model_args::ModelArgs;
use icam_app::LoadedModel as Loaded;
use icam_app::dataset::{self, Sample, classes_for};
use icam_app::neighbours::{self, Embedding, ModelIdentity, TrainSet};
use icam_app::output::Outputs;
use icam_app::seed::fnv1a;

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
    /// Weight the test image's pooled features by its I-CAM map of each class (with --train).
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
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
}

/// The paper's four cases, in its numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    CorrectHigh,
    CorrectLow,
    IncorrectHigh,
    IncorrectLow,
}

const CASES: [Case; 4] = [
    Case::CorrectHigh,
    Case::CorrectLow,
    Case::IncorrectHigh,
    Case::IncorrectLow,
];

impl Case {
    fn of(correct: bool, high: bool) -> Self {
        match (correct, high) {
            (true, true) => Case::CorrectHigh,
            (true, false) => Case::CorrectLow,
            (false, true) => Case::IncorrectHigh,
            (false, false) => Case::IncorrectLow,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
    fn id(self) -> &'static str {
        [
            "correct_high",
            "correct_low",
            "incorrect_high",
            "incorrect_low",
        ][self.index()]
    }
    fn title(self) -> &'static str {
        [
            "Case 1: high confidence, correct prediction",
            "Case 2: low confidence, correct prediction",
            "Case 3: high confidence, incorrect prediction",
            "Case 4: low confidence, incorrect prediction",
        ][self.index()]
    }
}

/// One prediction of the selection pass.
#[derive(Clone, Debug)]
struct Cand {
    index: usize,
    name: String,
    path: PathBuf,
    label: String,
    truth: Vec<usize>,
    pred: usize,
    prob: f64,
    correct: bool,
    /// The true class shown: the predicted class when correct, else the most probable class
    /// of `truth`.
    true_class: usize,
    true_prob: f64,
    /// 1-based rank of `true_class` among all classes by logit.
    true_rank: usize,
}

/// Offer `c` to a case's kept list (at most `cap`, ordered by the `--order` rule).
fn offer(kept: &mut Vec<Cand>, c: Cand, order: OrderArg, high: bool, cap: usize) {
    kept.push(c);
    kept.sort_by(|a, b| {
        let by_prob = match (order, high) {
            (OrderArg::Dataset, _) => std::cmp::Ordering::Equal,
            (OrderArg::Confidence, true) => b.prob.total_cmp(&a.prob),
            (OrderArg::Confidence, false) => a.prob.total_cmp(&b.prob),
        };
        by_prob.then(a.index.cmp(&b.index))
    });
    kept.truncate(cap);
}

#[derive(Default, serde::Serialize)]
struct Counts {
    images: usize,
    predicted: usize,
    correct: usize,
    failed: usize,
    unlabelled: usize,
    between: usize,
    correct_high: usize,
    correct_low: usize,
    incorrect_high: usize,
    incorrect_low: usize,
}

impl Counts {
    fn case(&mut self, c: Case) -> &mut usize {
        match c {
            Case::CorrectHigh => &mut self.correct_high,
            Case::CorrectLow => &mut self.correct_low,
            Case::IncorrectHigh => &mut self.incorrect_high,
            Case::IncorrectLow => &mut self.incorrect_low,
        }
    }
}

fn rel(root: &Path, p: &Path) -> String {
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new(""))
    } else {
        root
    };
    p.strip_prefix(base).unwrap_or(p).display().to_string()
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

fn check(a: &CasesArgs) -> Result<()> {
    let cfg = a.icam.config();
    cfg.validate()?;
    a.icam.validate_baseline()?;
    for (name, v) in [("--high", a.high), ("--low", a.low)] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} must lie in [0, 1], got {v}");
        }
    }
    if a.low > a.high {
        bail!(
            "--low ({}) must not exceed --high ({}): a prediction would be both",
            a.low,
            a.high
        );
    }
    if a.per_case == 0 {
        bail!("--per-case must be at least 1");
    }
    if a.thumb < 16 || a.thumb > 2048 {
        bail!("--thumb must lie in 16..=2048, got {}", a.thumb);
    }
    if a.icam.noise.is_some() {
        bail!(
            "--noise/--mask are for `icam explain`; `icam cases` draws seeded perturbations per image"
        );
    }
    if a.train.is_none() {
        if a.weighted {
            bail!("--weighted needs --train DIR");
        }
        if a.cache.is_some() {
            bail!("--cache needs --train DIR");
        }
    } else if a.neighbours == 0 {
        bail!("--neighbours must be at least 1 with --train");
    }
    if a.out.is_file() {
        bail!("--out {} is a file", a.out.display());
    }
    Ok(())
}

pub fn run(a: &CasesArgs) -> Result<()> {
    check(a)?;
    let started = Instant::now();
    let overrides = icam_app::dataset::parse_class_map(&a.class_map)?;
    let mut samples = dataset::list(&a.data)?;
    if let Some(l) = a.limit {
        if l == 0 {
            bail!("--limit must be at least 1");
        }
        samples.truncate(l);
    }
    if samples.iter().all(|s| s.label.is_none()) {
        bail!(
            "none of the {} images of {} has a label; the cases need the true class (a VOC folder, or a CSV path,class)",
            samples.len(),
            a.data.display()
        );
    }
    let loaded = a.model.load()?;
    let net = loaded.model.net.as_ref();
    let classes = net.num_classes();
    // Every label must name a class of the model before any work.
    let labels: BTreeSet<&str> = samples.iter().filter_map(|s| s.label.as_deref()).collect();
    for l in &labels {
        let t = classes_for(l, loaded.labels.as_ref(), &overrides);
        if t.is_empty() {
            bail!("label `{l}` names no class of the model; map it with --class-map {l}=C1,C2");
        }
        if let Some(c) = t.iter().find(|&&c| c >= classes) {
            bail!(
                "label `{l}` maps to class {c}, out of range: the model has {classes} classes (0..{})",
                classes - 1
            );
        }
    }
    let train = a
        .train
        .as_deref()
        .map(|t| TrainSet::open(t, &loaded))
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
    let pb = bar(samples.len() as u64, "images predicted");
    for (index, s) in samples.iter().enumerate() {
        let name = rel(&a.data, &s.path);
        pb.set_message(name.clone());
        match predict(a, &loaded, s, index, &name, &overrides) {
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
                pb.suspend(|| eprintln!("warning: {name}: {e:#}; skipped"));
                if failures.len() < 20 {
                    failures.push(json!({"image": name, "error": format!("{e:#}")}));
                }
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
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
        let identity = ModelIdentity::of(&loaded, &layer)?;
        let pb = bar(0, "training images embedded");
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
            &mut |p| match p {
                icam_app::Progress::Begin(_, n) => {
                    pb.set_length(n as u64);
                    pb.set_position(0);
                }
                icam_app::Progress::Item(m) => pb.set_message(m.to_string()),
                icam_app::Progress::Step => pb.inc(1),
                icam_app::Progress::Warning(w) => pb.suspend(|| eprintln!("warning: {w}")),
                _ => {}
            },
        )?;
        pb.finish_and_clear();
        eprintln!(
            "neighbours: embedded {} new training images ({} from the cache {}) of {} classes",
            e.embedded,
            e.cached,
            e.cache_dir.display(),
            need.len()
        );
        embedding = Some(e);
    }
    let embed_s = t2.elapsed().as_secs_f64();

    // Pass 2: explain the kept images.
    let t3 = Instant::now();
    let total: usize = kept.iter().map(Vec::len).sum();
    let pb = bar(total as u64, "images explained");
    let ctx = Ctx {
        a,
        loaded: &loaded,
        layer: &layer,
        embedding: embedding.as_ref(),
        cmap: a.colormap.into(),
    };
    let mut sections_html = String::new();
    let mut sections_json = Vec::new();
    for case in CASES {
        let list = &kept[case.index()];
        let mut items_html = String::new();
        let mut items_json = Vec::new();
        for c in list {
            pb.set_message(c.name.clone());
            let (j, h) = explain_item(&ctx, c).unwrap_or_else(|e| {
                pb.suspend(|| eprintln!("warning: {}: {e:#}", c.name));
                let j = cand_json(&loaded, c, json!({"error": format!("{e:#}")}));
                let h = format!(
                    "<article class=\"item\"><h3>{}</h3><p class=\"err\">{}</p></article>\n",
                    esc(&c.name),
                    esc(&format!("{e:#}"))
                );
                (j, h)
            });
            items_json.push(j);
            items_html.push_str(&h);
            pb.inc(1);
        }
        let n = *counts.case(case);
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
    pb.finish_and_clear();
    let explain_s = t3.elapsed().as_secs_f64();

    let cfg = a.icam.config();
    let neighbours_json = embedding.as_ref().map(|e| {
        json!({
            "train": a.train.as_ref().map(|t| t.display().to_string()),
            "classes_in_train": train.as_ref().map(TrainSet::class_count),
            "cache": e.cache_dir.display().to_string(),
            "embedded": e.embedded,
            "from_cache": e.cached,
            "failed": e.failed,
            "layer": layer,
            "pooling": if a.weighted { "test image: I-CAM-weighted average (map area-averaged to the feature resolution); training images: global average" } else { "global average" },
            "k": a.neighbours,
        })
    });
    let report = json!({
        "data": a.data.display().to_string(),
        "arch": net.arch(),
        "weights_file": loaded.weights.display().to_string(),
        "normalize": loaded.normalization.name(),
        "no_resize": a.model.no_resize,
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
                OrderArg::Confidence => "high cases: most confident first; low cases: least confident first; ties in dataset order",
                OrderArg::Dataset => "dataset order",
            },
            "per_case": a.per_case,
            "seed": "--seed XOR FNV-1a(image name)",
        },
        "config": cfg,
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
    for case in CASES {
        println!(
            "{}: {} image(s), {} shown",
            case.title(),
            counts.case(case),
            kept[case.index()].len()
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
    println!("report: {}", a.out.join("report.html").display());
    eprintln!(
        "done in {:.1} s (predictions {predict_s:.1} s, training examples {embed_s:.1} s, maps {explain_s:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The selection pass for one image: `None` for an unlabelled image.
fn predict(
    _a: &CasesArgs,
    loaded: &Loaded,
    s: &Sample,
    index: usize,
    name: &str,
    overrides: &BTreeMap<String, Vec<usize>>,
) -> Result<Option<Cand>> {
    let Some(label) = s.label.as_deref() else {
        return Ok(None);
    };
    let truth = classes_for(label, loaded.labels.as_ref(), overrides);
    let net = loaded.model.net.as_ref();
    let px = loaded.open_image(&s.path)?.pixels;
    let input = loaded.normalization.to_model_input(&px, net.precision());
    let logits = icam_models::logits(net, &input)?.to_f64();
    if logits.iter().any(|v| !v.is_finite()) {
        bail!("the network produced NaN or infinite logits");
    }
    let lsm = log_softmax(&logits);
    let pred = argmax(&logits);
    let correct = truth.contains(&pred);
    let true_class = if correct {
        pred
    } else {
        *truth
            .iter()
            .max_by(|&&x, &&y| logits[x].total_cmp(&logits[y]).then(y.cmp(&x)))
            .expect("labels checked to name a class")
    };
    let true_rank = 1 + logits
        .iter()
        .enumerate()
        .filter(|&(i, &v)| v > logits[true_class] || (v == logits[true_class] && i < true_class))
        .count();
    Ok(Some(Cand {
        index,
        name: name.to_string(),
        path: s.path.clone(),
        label: label.to_string(),
        truth,
        pred,
        prob: lsm[pred].exp(),
        correct,
        true_class,
        true_prob: lsm[true_class].exp(),
        true_rank,
    }))
}

struct Ctx<'a> {
    a: &'a CasesArgs,
    loaded: &'a Loaded,
    layer: &'a str,
    embedding: Option<&'a Embedding>,
    cmap: Colormap,
}

fn cand_json(loaded: &Loaded, c: &Cand, extra: Value) -> Value {
    let name = |k: usize| loaded.labels.as_ref().and_then(|l| l.name(k));
    let mut v = json!({
        "image": c.name,
        "label": c.label,
        "true_classes": c.truth,
        "pred": c.pred,
        "pred_name": name(c.pred),
        "prob": c.prob,
        "correct": c.correct,
        "true_class": c.true_class,
        "true_name": name(c.true_class),
        "true_prob": c.true_prob,
        "true_rank": c.true_rank,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// `w × h` scaled so that the longer side is at most `max`.
fn thumb_size(w: u32, h: u32, max: u32) -> (u32, u32) {
    let s = (max as f64 / w.max(h) as f64).min(1.0);
    (
        ((w as f64 * s).round() as u32).max(1),
        ((h as f64 * s).round() as u32).max(1),
    )
}

fn thumbnail(img: &RgbImage, max: u32) -> RgbImage {
    let (w, h) = thumb_size(img.width(), img.height(), max);
    if (w, h) == img.dimensions() {
        return img.clone();
    }
    image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
}

fn data_uri(img: &RgbImage) -> Result<String> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
    ))
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn figure(uri: &str, caption: &str) -> String {
    format!("<figure><img src=\"{uri}\" alt=\"\"><figcaption>{caption}</figcaption></figure>")
}

/// The layer selection in one line: the selected layers by rank with weight W and score S.
fn selection_summary(r: &IcamResult) -> String {
    let rep = &r.report;
    let mut sel: Vec<_> = rep.layers.iter().filter(|l| l.selected).collect();
    sel.sort_by_key(|l| l.rank);
    if rep.selection.degenerate {
        return format!(
            "degenerate selection: all {} layers, equal weights 1/{}",
            rep.layers.len(),
            rep.layers.len()
        );
    }
    const SHOWN: usize = 6;
    let mut s = format!(
        "selected {} of {} layers: {}",
        sel.len(),
        rep.layers.len(),
        sel.iter()
            .take(SHOWN)
            .map(|l| format!(
                "{} (#{}, S={:.4}, W={:.3})",
                l.name, l.rank, l.score, l.weight
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if sel.len() > SHOWN {
        let _ = write!(s, " and {} more", sel.len() - SHOWN);
    }
    s
}

fn map_json(r: &IcamResult, role: &str, prob: f64, name: Option<&str>) -> Value {
    let rep = &r.report;
    let weights: BTreeMap<String, f64> = rep
        .layers
        .iter()
        .filter(|l| l.selected)
        .map(|l| (l.name.clone(), l.weight))
        .collect();
    let mut ranked: Vec<_> = rep.layers.iter().collect();
    ranked.sort_by_key(|l| l.rank);
    let top: Vec<Value> = ranked
        .iter()
        .take(5)
        .map(|l| json!({"name": l.name, "rank": l.rank, "score": l.score}))
        .collect();
    json!({
        "role": role,
        "class": rep.target_class,
        "name": name,
        "prob": prob,
        "logit": rep.logit_c,
        "selected_layers": rep.selected_layers,
        "layer_weights": weights,
        "top_layers": top,
        "degenerate": rep.selection.degenerate,
        "zero_weight_perturbations": rep.zero_weight_perturbations,
        "summary": selection_summary(r),
        "warnings": rep.warnings,
    })
}

/// Explain one kept image: (its entry of cases.json, its HTML).
fn explain_item(ctx: &Ctx, c: &Cand) -> Result<(Value, String)> {
    let (a, loaded) = (ctx.a, ctx.loaded);
    let net = loaded.model.net.as_ref();
    let img = loaded.open_image(&c.path)?;
    let (rgb, px) = (&*img.rgb, &*img.pixels);
    let seed = a.icam.seed ^ fnv1a(c.name.as_bytes());
    let cfg = icam::IcamConfig {
        seed,
        ..a.icam.config()
    };
    let subject = Subject {
        net,
        image: &px,
        normalization: loaded.normalization,
    };
    let pert = Perturbations::generate(cfg.n, px.height, px.width, cfg.alpha, seed);
    let layers = net.candidate_layers();
    let run = |class: usize| -> Result<IcamResult> {
        let prep = prepare_icam(
            &subject,
            &layers,
            &cfg,
            Target::Class(class),
            &pert,
            &mut |_| {},
        )?;
        Ok(finish_icam(&prep, &cfg)?)
    };
    let thumb = thumbnail(&rgb, a.thumb);
    let tg = Geometry {
        original: thumb.dimensions(),
        ..px.geometry
    };
    let describe = |k: usize| esc(&loaded.describe(k));
    let pred_map = run(c.pred)?;
    let true_map = if c.correct {
        None
    } else {
        Some(run(c.true_class)?)
    };
    let mut figs = vec![figure(&data_uri(&thumb)?, "image")];
    let mut maps_html = String::new();
    let mut maps_json = Vec::new();
    let name = |k: usize| loaded.labels.as_ref().and_then(|l| l.name(k));
    for (r, role, prob) in std::iter::once((&pred_map, "predicted", c.prob))
        .chain(true_map.as_ref().map(|t| (t, "true", c.true_prob)))
    {
        let role_txt = if c.correct {
            "predicted = true class"
        } else if role == "true" {
            "true class"
        } else {
            "predicted class"
        };
        let ov = overlay(&thumb, &tg, &r.heat, ctx.cmap, 0.5);
        figs.push(figure(
            &data_uri(&ov)?,
            &format!(
                "I-CAM, {role_txt}<br><b>{}</b> p={prob:.3}",
                describe(r.report.target_class)
            ),
        ));
        let _ = write!(
            maps_html,
            "<p class=\"layers\"><b>{role_txt}</b>: {}</p>",
            esc(&selection_summary(r))
        );
        if !r.report.warnings.is_empty() {
            maps_html.push_str("<ul class=\"warn\">");
            for w in &r.report.warnings {
                let _ = write!(maps_html, "<li>warning: {}</li>", esc(w));
            }
            maps_html.push_str("</ul>");
        }
        maps_json.push(map_json(
            r,
            if c.correct { "predicted = true" } else { role },
            prob,
            name(r.report.target_class),
        ));
    }

    // Nearest training examples of a misclassified image.
    let mut nb_html = String::new();
    let mut nb_json = Value::Null;
    if let (Some(emb), false) = (ctx.embedding, c.correct) {
        let act = features::layer_activation(net, loaded.normalization, &px, ctx.layer)?;
        let gap = act.average_pool();
        let mut groups = Vec::new();
        for (role, class, map) in [
            ("predicted", c.pred, &pred_map),
            ("true", c.true_class, true_map.as_ref().expect("incorrect")),
        ] {
            let (query, pooling) = if a.weighted {
                match act.weighted_pool(&map.heat) {
                    Some(q) => (q, "icam-weighted"),
                    None => (gap.clone(), "average (the I-CAM map is all zero)"),
                }
            } else {
                (gap.clone(), "average")
            };
            let near = emb.nearest(class, &query, a.neighbours);
            let _ = write!(
                nb_html,
                "<div class=\"nb\"><h4>Nearest training images of the {role} class, {} <small>(cosine of {} pooled {} features)</small></h4><div class=\"figs\">",
                describe(class),
                pooling,
                esc(ctx.layer)
            );
            if near.is_empty() {
                let _ = write!(
                    nb_html,
                    "<p class=\"none\">The training folder has no image of this class.</p>"
                );
            }
            let mut list = Vec::new();
            for (ex, sim) in &near {
                let uri = icam_models::preprocess::load_rgb(&ex.path)
                    .ok()
                    .map(|img| data_uri(&thumbnail(&img, a.thumb)))
                    .transpose()?;
                match uri {
                    Some(u) => {
                        nb_html.push_str(&figure(&u, &format!("{}<br>cos {sim:.3}", esc(&ex.file))))
                    }
                    None => {
                        let _ = write!(
                            nb_html,
                            "<p class=\"err\">{}: unreadable now</p>",
                            esc(&ex.file)
                        );
                    }
                }
                list.push(json!({"file": ex.file, "class": ex.class, "similarity": sim}));
            }
            nb_html.push_str("</div></div>");
            groups.push((
                role,
                json!({"class": class, "pooling": pooling, "nearest": list}),
            ));
        }
        nb_json = Value::Object(
            groups
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
    }

    let truth_txt = if c.correct {
        String::new()
    } else {
        format!(
            "; true class <b>{}</b> p={:.3} (rank {})",
            describe(c.true_class),
            c.true_prob,
            c.true_rank
        )
    };
    let html = format!(
        "<article class=\"item\"><h3>{} <span class=\"tag\">label: {}</span></h3>\
         <p>predicted <b>{}</b> p={:.3}{truth_txt}; seed {seed}</p>\
         <div class=\"figs\">{}</div>{maps_html}{nb_html}</article>\n",
        esc(&c.name),
        esc(&c.label),
        describe(c.pred),
        c.prob,
        figs.join("")
    );
    let j = cand_json(
        loaded,
        c,
        json!({"seed": seed, "maps": maps_json, "neighbours": nb_json}),
    );
    Ok((j, html))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}\
h1{margin-bottom:4px}h2{border-bottom:2px solid #ccc;padding-bottom:4px;margin-top:36px}\
h2 small,h4 small{font-weight:normal;color:#666;font-size:70%}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#eee}td:first-child,th:first-child{text-align:left}\
.meta{color:#444;font-size:90%}.item{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:14px 0}\
.item h3{margin:2px 0 6px}.tag{font-weight:normal;font-size:75%;color:#555;background:#eee;border-radius:4px;padding:1px 6px}\
.figs{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}figure img{display:block;border:1px solid #bbb}\
figcaption{font-size:80%;max-width:260px;margin-top:3px}.layers{font-size:85%;margin:6px 0}\
.warn{color:#a40;font-size:85%;margin:4px 0}.err{color:#b00}.none{color:#777;font-style:italic}\
.nb{margin-top:10px;border-top:1px dashed #ccc}.nb h4{margin:8px 0 6px;font-weight:normal}";

fn page(ctx: &Ctx, counts: &Counts, report: &Value, sections: &str) -> String {
    let a = ctx.a;
    let net = ctx.loaded.model.net.as_ref();
    let cfg = a.icam.config();
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>icam cases: {}</title><style>{STYLE}</style></head><body>",
        esc(&a.data.display().to_string())
    );
    let _ = writeln!(
        h,
        "<h1>I-CAM confidence cases</h1><p class=\"meta\">data <code>{}</code> · model {} (<code>{}</code>, {}, {}{}) · I-CAM n={} α={} T={} bias {} · per-image seed = {} XOR FNV-1a(name)</p>",
        esc(&a.data.display().to_string()),
        esc(net.arch()),
        esc(&ctx.loaded.weights.display().to_string()),
        ctx.loaded.normalization.name(),
        net.precision().name(),
        if a.model.no_resize { ", no resize" } else { "" },
        cfg.n,
        cfg.alpha,
        cfg.threshold,
        format!("{:?}", cfg.bias).to_lowercase(),
        a.icam.seed
    );
    let _ = writeln!(
        h,
        "<p>Confidence p = softmax probability of the predicted class. High: p ≥ {}; low: p &lt; {}{}. \
         Correct: the predicted class is one of the classes the label names. Shown: up to {} per case, {}.</p>",
        a.high,
        a.low,
        if a.low < a.high {
            format!(
                "; {} ≤ p &lt; {}: in neither case (counted, not shown)",
                a.low, a.high
            )
        } else {
            String::new()
        },
        a.per_case,
        match a.order {
            OrderArg::Confidence =>
                "the most confident first in the high cases, the least confident first in the low cases",
            OrderArg::Dataset => "the first in dataset order",
        }
    );
    let _ = writeln!(
        h,
        "<table><tr><th></th><th>correct</th><th>incorrect</th></tr>\
         <tr><td>high (p ≥ {})</td><td><a href=\"#correct_high\">{}</a></td><td><a href=\"#incorrect_high\">{}</a></td></tr>\
         <tr><td>low (p &lt; {})</td><td><a href=\"#correct_low\">{}</a></td><td><a href=\"#incorrect_low\">{}</a></td></tr></table>\n\
         <p class=\"meta\">{} images: {} predicted ({} correct), {} between the thresholds, {} unlabelled, {} unreadable.</p>",
        a.high,
        counts.correct_high,
        counts.incorrect_high,
        a.low,
        counts.correct_low,
        counts.incorrect_low,
        counts.images,
        counts.predicted,
        counts.correct,
        counts.between,
        counts.unlabelled,
        counts.failed
    );
    if let Some(n) = report.get("neighbours").filter(|n| !n.is_null()) {
        let _ = writeln!(
            h,
            "<p class=\"meta\">Training examples from <code>{}</code>: {} nearest per class by cosine similarity of pooled <code>{}</code> features ({}); {} embedded now, {} from the cache <code>{}</code>.</p>",
            esc(n["train"].as_str().unwrap_or_default()),
            a.neighbours,
            esc(ctx.layer),
            esc(n["pooling"].as_str().unwrap_or_default()),
            n["embedded"],
            n["from_cache"],
            esc(n["cache"].as_str().unwrap_or_default())
        );
    }
    h.push_str(sections);
    let _ = writeln!(
        h,
        "<p class=\"meta\">icam {} · {:.1} s</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        report["timing_s"]["total"].as_f64().unwrap_or_default()
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(index: usize, prob: f64) -> Cand {
        Cand {
            index,
            name: format!("{index}.png"),
            path: PathBuf::new(),
            label: "x".into(),
            truth: vec![1],
            pred: 1,
            prob,
            correct: true,
            true_class: 1,
            true_prob: prob,
            true_rank: 1,
        }
    }

    #[test]
    fn kept_lists_follow_the_order_rule() {
        let probs = [0.8, 0.95, 0.8, 0.99, 0.7];
        let idx = |order, high| {
            let mut k = Vec::new();
            for (i, &p) in probs.iter().enumerate() {
                offer(&mut k, cand(i, p), order, high, 3);
            }
            k.iter().map(|c| c.index).collect::<Vec<_>>()
        };
        assert_eq!(idx(OrderArg::Confidence, true), vec![3, 1, 0]);
        assert_eq!(idx(OrderArg::Confidence, false), vec![4, 0, 2]);
        assert_eq!(idx(OrderArg::Dataset, true), vec![0, 1, 2]);
        assert_eq!(Case::of(false, true), Case::IncorrectHigh);
        assert_eq!(Case::of(true, false).title(), CASES[1].title());
        assert_eq!(thumb_size(1000, 500, 256), (256, 128));
        assert_eq!(thumb_size(100, 50, 256), (100, 50));
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
