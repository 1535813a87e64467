//! `icam eval`: every method on every image of a dataset, streamed, resumable, shardable;
//! a per-image CSV and a summary (mean ± standard error per method and metric).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use icam::evaluate::{EvalOptions, MapMetrics, Stat, map_metrics};
use icam::explain::{argmax, probability};
use icam::methods::icam::Bias;
use icam::metrics::{Box2, CurveOptions, NetworkScorer, RoadOptions};
use icam::{
    Map, Perturbations, Subject, Target, explain_baseline, finish_icam, methods, prepare_icam,
};

use crate::explain_cmd::{BiasArg, IcamArgs, MethodArg};
use crate::model_args::ModelArgs;
use icam_app::LoadedModel as Loaded;
use icam_app::dataset::{self, Sample, classes_for};

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

/// Parse `i/N`.
fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (i, n) = s
        .split_once('/')
        .with_context(|| format!("--shard `{s}`: expected i/N"))?;
    let (i, n): (usize, usize) = (i.trim().parse()?, n.trim().parse()?);
    if n == 0 || i >= n {
        bail!("--shard {s}: need 0 <= i < N");
    }
    Ok((i, n))
}

/// FNV-1a of a string: a stable per-image seed, independent of shards and resumption.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

const FIXED: [&str; 11] = [
    "image",
    "method",
    "label",
    "true_classes",
    "pred",
    "pred_name",
    "prob",
    "correct",
    "seed",
    "n_boxes",
    "error",
];

/// Columns of `icam_layers.csv`: I-CAM's per-layer scores of every image (layer prominence).
const LAYER_HEADER: [&str; 11] = [
    "image",
    "true_classes",
    "pred",
    "pred_name",
    "correct",
    "layer",
    "score",
    "rank",
    "selected",
    "weight",
    "degenerate",
];

fn header(thresholds: &[f64]) -> Vec<String> {
    let mut h: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    h.extend(["energy", "pointing"].map(String::from));
    h.extend(thresholds.iter().map(|t| format!("iou@{t}")));
    h.extend(thresholds.iter().map(|t| format!("mask_iou@{t}")));
    h.extend(
        [
            "deletion",
            "insertion",
            "avg_drop",
            "increase",
            "road",
            "degenerate",
        ]
        .map(String::from),
    );
    h
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

struct Row {
    fixed: [String; 11],
    metrics: MapMetrics,
    degenerate: Option<bool>,
}

impl Row {
    fn cells(&self) -> Vec<String> {
        let m = &self.metrics;
        let mut c: Vec<String> = self.fixed.to_vec();
        c.push(opt(m.energy));
        c.push(opt(m.pointing.map(u8::from)));
        c.extend(m.iou.iter().map(|v| opt(*v)));
        c.extend(m.mask_iou.iter().map(|v| opt(*v)));
        c.push(opt(m.deletion));
        c.push(opt(m.insertion));
        c.push(opt(m.avg_drop));
        c.push(opt(m.increase.map(u8::from)));
        c.push(opt(m.road));
        c.push(opt(self.degenerate.map(u8::from)));
        c
    }
}

/// Images already complete in `csv` (every method row present); the file is rewritten with
/// only those rows, so a line cut by an interruption is dropped.
fn resume(csv_path: &Path, header: &[String], methods: &[String]) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(csv_path)?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Ok(BTreeSet::new());
    };
    if first.trim_end() != header.join(",") {
        bail!(
            "{} was written with other options (its columns differ); use --restart or another --out",
            csv_path.display()
        );
    }
    let mut rows: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
    for line in &lines[1..] {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        if let Some(Ok(rec)) = r.records().next() {
            rows.entry(rec[0].to_string())
                .or_default()
                .push((rec[1].to_string(), line));
        }
    }
    let done: BTreeSet<String> = rows
        .iter()
        .filter(|(_, v)| {
            v.iter().any(|(m, _)| m == "-") || methods.iter().all(|m| v.iter().any(|(x, _)| x == m))
        })
        .map(|(k, _)| k.clone())
        .collect();
    keep_rows(csv_path, &done)?;
    Ok(done)
}

/// Rewrite a CSV keeping its header and the complete rows whose first field is in `keep`.
fn keep_rows(csv_path: &Path, keep: &BTreeSet<String>) -> Result<()> {
    if !csv_path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(csv_path)?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Ok(());
    };
    let mut kept = String::from(*first);
    for line in &lines[1..] {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        if let Some(Ok(rec)) = r.records().next()
            && keep.contains(&rec[0])
        {
            kept.push_str(line);
        }
    }
    let tmp = csv_path.with_extension("csv.tmp");
    std::fs::write(&tmp, kept)?;
    std::fs::rename(&tmp, csv_path)?;
    Ok(())
}

fn csv_line(cells: &[String]) -> Result<String> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(cells)?;
    Ok(String::from_utf8(
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
    )?)
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let base_cfg = a.icam.config();
    base_cfg.validate()?;
    a.icam.validate_baseline()?;
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    if a.thresholds.iter().any(|t| !(0.0..1.0).contains(t)) {
        bail!("--thresholds must lie in [0, 1)");
    }
    let known = ["localisation", "drop", "deletion", "insertion", "road"];
    if let Some(m) = a.metrics.iter().find(|m| !known.contains(&m.as_str())) {
        bail!("unknown metric `{m}`; known: {}", known.join(", "));
    }
    let overrides = dataset::parse_class_map(&a.class_map)?;
    let mut samples = dataset::list(&a.data)?;
    if let Some((i, n)) = shard {
        samples = samples
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % n == i)
            .map(|(_, s)| s)
            .collect();
    }
    if let Some(l) = a.limit {
        samples.truncate(l);
    }
    let loaded = a.model.load()?;
    let method_names = method_list(a);
    let metrics = |m: &str| a.metrics.iter().any(|x| x == m);
    let curve = |o: CurveOptions| CurveOptions {
        steps: a.curve_steps.max(1),
        ..o
    };
    let opts = EvalOptions {
        thresholds: a.thresholds.clone(),
        deletion: metrics("deletion").then(|| curve(CurveOptions::deletion())),
        insertion: metrics("insertion").then(|| curve(CurveOptions::insertion())),
        confidence: metrics("drop"),
        road: metrics("road").then(|| (vec![10.0, 30.0, 50.0, 70.0, 90.0], RoadOptions::default())),
    };
    let header = header(&a.thresholds);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let csv_path = a.out.join("per_image.csv");
    let layers_path = a.out.join("icam_layers.csv");
    let done = if csv_path.exists() && !a.restart {
        resume(&csv_path, &header, &method_names)?
    } else {
        BTreeSet::new()
    };
    if done.is_empty() {
        std::fs::write(&csv_path, csv_line(&header)?)?;
        std::fs::write(&layers_path, csv_line(&LAYER_HEADER.map(String::from))?)?;
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
        .open(a.out.join("timings.csv"))?;
    let todo: Vec<&Sample> = samples
        .iter()
        .filter(|s| !done.contains(&rel(&a.data, &s.path)))
        .collect();
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} images already done",
            samples.len() - todo.len(),
            samples.len()
        );
    }
    let pb = indicatif::ProgressBar::new(todo.len() as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} images  [{elapsed_precise} < {eta_precise}]  {msg}",
        )
        .expect("valid template"),
    );
    let started = Instant::now();
    for s in todo {
        let name = rel(&a.data, &s.path);
        pb.set_message(name.clone());
        let t0 = Instant::now();
        let (rows, layer_rows) = match eval_image(a, &loaded, s, &name, &opts, &overrides) {
            Ok(r) => r,
            Err(e) => {
                pb.suspend(|| eprintln!("warning: {name}: {e:#}"));
                let mut fixed: [String; 11] = Default::default();
                fixed[0] = name.clone();
                fixed[1] = "-".into();
                fixed[10] = format!("{e:#}");
                let n = a.thresholds.len();
                let row = Row {
                    fixed,
                    metrics: MapMetrics {
                        iou: vec![None; n],
                        mask_iou: vec![None; n],
                        ..Default::default()
                    },
                    degenerate: None,
                };
                (vec![row], vec![])
            }
        };
        // Layer rows first: an image counts as done only once its per_image rows are written.
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
        pb.inc(1);
    }
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let summary = summarize(&csv_path, &a.thresholds, &method_names)?;
    std::fs::write(a.out.join("summary.md"), &summary.0)?;
    std::fs::write(a.out.join("summary.csv"), &summary.1)?;
    println!("{}", summary.0);
    if a.methods.contains(&MethodArg::Icam) {
        let (md, png) = prominence(&layers_path)?;
        std::fs::write(a.out.join("layer_prominence.md"), &md)?;
        let mut o = icam_app::output::Outputs::default();
        o.png(a.out.join("layer_prominence.png"), &png)?;
        o.commit()?;
        eprintln!(
            "layer prominence: {}",
            a.out.join("layer_prominence.md").display()
        );
    }
    eprintln!(
        "{} images in {secs:.1} s; per-image rows in {}",
        samples.len() - done.len(),
        csv_path.display()
    );
    Ok(())
}

fn rel(root: &Path, p: &Path) -> String {
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new(""))
    } else {
        root
    };
    p.strip_prefix(base).unwrap_or(p).display().to_string()
}

fn method_list(a: &EvalArgs) -> Vec<String> {
    let mut v = Vec::new();
    for m in &a.methods {
        if *m == MethodArg::Icam {
            for b in &a.biases {
                let b: Bias = (*b).into();
                v.push(format!("icam-{}", format!("{b:?}").to_lowercase()));
            }
        } else {
            v.push(m.name().to_string());
        }
    }
    v
}

fn eval_image(
    a: &EvalArgs,
    loaded: &Loaded,
    s: &Sample,
    name: &str,
    opts: &EvalOptions,
    overrides: &BTreeMap<String, Vec<usize>>,
) -> Result<(Vec<Row>, Vec<Vec<String>>)> {
    let net = loaded.model.net.as_ref();
    let px = loaded.open_image(&s.path)?.pixels;
    let (h, w) = (px.height, px.width);
    let boxes: Vec<Box2> = s
        .boxes
        .iter()
        .map(|b| {
            let (x0, y0) = px.geometry.original_to_model(b.x0, b.y0);
            let (x1, y1) = px.geometry.original_to_model(b.x1, b.y1);
            Box2::new(x0.max(0.0), y0.max(0.0), x1.min(w as f64), y1.min(h as f64))
        })
        .filter(|b| b.area() > 0.0)
        .collect();
    let input = loaded.normalization.to_model_input(&px, net.precision());
    let logits = icam_models::logits(net, &input)?.to_f64();
    let pred = argmax(&logits);
    let prob = probability(&logits, pred);
    let truth = s
        .label
        .as_deref()
        .map(|l| classes_for(l, loaded.labels.as_ref(), overrides));
    if let (Some(l), Some(t)) = (&s.label, &truth)
        && t.is_empty()
    {
        bail!("label `{l}` names no class of the model; map it with --class-map {l}=C1,C2");
    }
    let correct = truth.as_ref().map(|t| t.contains(&pred));
    let seed = a.icam.seed ^ fnv1a(name);
    let fixed = |method: &str| -> [String; 11] {
        [
            name.to_string(),
            method.to_string(),
            s.label.clone().unwrap_or_default(),
            truth
                .as_ref()
                .map(|t| {
                    t.iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            pred.to_string(),
            loaded
                .labels
                .as_ref()
                .and_then(|l| l.name(pred))
                .unwrap_or_default()
                .to_string(),
            prob.to_string(),
            opt(correct.map(u8::from)),
            seed.to_string(),
            boxes.len().to_string(),
            String::new(),
        ]
    };
    let subject = Subject {
        net,
        image: &px,
        normalization: loaded.normalization,
    };
    let mut scorer = NetworkScorer {
        net,
        normalization: loaded.normalization,
        height: h,
        width: w,
    };
    let mut rows = Vec::new();
    let mut layer_rows = Vec::new();
    let mut measure =
        |method: &str, heat: &Map, degenerate: Option<bool>, rows: &mut Vec<Row>| -> Result<()> {
            let metrics = map_metrics(heat, &px.data, &boxes, pred, &mut scorer, opts)?;
            rows.push(Row {
                fixed: fixed(method),
                metrics,
                degenerate,
            });
            Ok(())
        };
    for m in &a.methods {
        if *m == MethodArg::Icam {
            let cfg = icam::IcamConfig {
                seed,
                ..a.icam.config()
            };
            let pert = Perturbations::generate(cfg.n, h, w, cfg.alpha, seed);
            let layers = net.candidate_layers();
            let prep = prepare_icam(
                &subject,
                &layers,
                &cfg,
                Target::Class(pred),
                &pert,
                &mut |_| {},
            )?;
            let f = fixed("");
            for (li, l) in layers.iter().enumerate() {
                let rank = prep.sel.rank(li);
                layer_rows.push(vec![
                    f[0].clone(),
                    f[3].clone(),
                    f[4].clone(),
                    f[5].clone(),
                    f[7].clone(),
                    l.clone(),
                    prep.scores[li].to_string(),
                    rank.to_string(),
                    u8::from(prep.sel.is_selected(li)).to_string(),
                    prep.sel.weights[li].to_string(),
                    u8::from(prep.sel.degenerate).to_string(),
                ]);
            }
            for b in &a.biases {
                let bias: Bias = (*b).into();
                let r = finish_icam(
                    &prep,
                    &icam::IcamConfig {
                        bias,
                        ..cfg.clone()
                    },
                )?;
                let method = format!("icam-{}", format!("{bias:?}").to_lowercase());
                measure(
                    &method,
                    &r.heat,
                    Some(r.report.selection.degenerate),
                    &mut rows,
                )?;
            }
        } else {
            let method = methods::baseline(m.name(), a.icam.gradcampp_eps).expect("baseline");
            let layers = vec![net.baseline_layer()];
            let r = explain_baseline(
                &subject,
                method.as_ref(),
                &layers,
                &[Target::Class(pred)],
                a.icam.gradcampp_eps,
            )?
            .remove(0);
            measure(m.name(), &r.heat, None, &mut rows)?;
        }
    }
    Ok((rows, layer_rows))
}

/// Layer prominence (issue: is a layer's importance specific to an image or general to a
/// class?): per layer over the dataset, mean score ± SE, mean rank, selection frequency and
/// mean weight `W_l`; per predicted class, the mean `W_l` of every layer (table and plot).
fn prominence(layers_csv: &Path) -> Result<(String, image::RgbImage)> {
    let mut rdr = csv::Reader::from_path(layers_csv)?;
    let recs: Vec<csv::StringRecord> = rdr.records().collect::<std::result::Result<_, _>>()?;
    let mut layer_order: Vec<String> = Vec::new();
    let mut by_layer: BTreeMap<String, Vec<&csv::StringRecord>> = BTreeMap::new();
    let mut by_class: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut images = BTreeSet::new();
    let mut degenerate = BTreeSet::new();
    for r in &recs {
        let layer = r[5].to_string();
        if !layer_order.contains(&layer) {
            layer_order.push(layer.clone());
        }
        images.insert(r[0].to_string());
        if &r[10] == "1" {
            degenerate.insert(r[0].to_string());
        }
        by_layer.entry(layer.clone()).or_default().push(r);
        let class = if r[3].is_empty() {
            r[2].to_string()
        } else {
            format!("{} ({})", &r[3], &r[2])
        };
        by_class
            .entry(class)
            .or_default()
            .entry(layer)
            .or_default()
            .push(r[9].parse().unwrap_or(f64::NAN));
    }
    let num = |rs: &[&csv::StringRecord], c: usize| -> Vec<f64> {
        rs.iter().filter_map(|r| r[c].parse().ok()).collect()
    };
    let mut md = format!(
        "# I-CAM layer prominence\n\n{} images, {} with a degenerate selection (all layers, equal weights).\n\n| layer | score | mean rank | selected | mean weight W |\n|---|---|---|---|---|\n",
        images.len(),
        degenerate.len()
    );
    for l in &layer_order {
        let rs = &by_layer[l];
        let sel = Stat::of(&num(rs, 8));
        md.push_str(&format!(
            "| {l} | {} | {:.2} | {:.0}% | {:.4} |\n",
            Stat::of(&num(rs, 6)).display(3),
            Stat::of(&num(rs, 7)).mean,
            100.0 * sel.mean,
            Stat::of(&num(rs, 9)).mean
        ));
    }
    let mut classes: Vec<(&String, usize)> = by_class
        .iter()
        .map(|(c, m)| (c, m.values().next().map_or(0, Vec::len)))
        .collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    classes.truncate(30);
    md.push_str("\n## Mean layer weight W per predicted class\n\n| class | images | top layers (mean W) |\n|---|---|---|\n");
    let mut rows = vec!["all images".to_string()];
    let mut values = vec![
        layer_order
            .iter()
            .map(|l| Stat::of(&num(&by_layer[l], 9)).mean)
            .collect::<Vec<_>>(),
    ];
    for (c, n) in &classes {
        let m = &by_class[*c];
        let v: Vec<f64> = layer_order
            .iter()
            .map(|l| m.get(l).map_or(f64::NAN, |x| Stat::of(x).mean))
            .collect();
        let mut top: Vec<(usize, f64)> = v
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, x)| x.is_finite())
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<String> = top
            .iter()
            .take(3)
            .map(|(i, x)| format!("{} ({x:.3})", layer_order[*i]))
            .collect();
        md.push_str(&format!("| {c} | {n} | {} |\n", top.join(", ")));
        rows.push(format!("{c} n={n}"));
        values.push(v);
    }
    let png = icam::render::matrix_plot(
        "mean I-CAM layer weight W_l",
        &rows,
        &layer_order,
        &values,
        icam::render::Colormap::Viridis,
    );
    Ok((md, png))
}

/// The summary table (markdown, csv) from the per-image CSV: per method, mean ± standard error
/// of each metric; IoU only over correctly classified images (as the paper's Table 1).
fn summarize(csv_path: &Path, thresholds: &[f64], methods: &[String]) -> Result<(String, String)> {
    let mut rdr = csv::Reader::from_path(csv_path)?;
    let head: Vec<String> = rdr.headers()?.iter().map(String::from).collect();
    let col = |n: &str| head.iter().position(|h| h == n);
    let records: Vec<csv::StringRecord> = rdr.records().collect::<std::result::Result<_, _>>()?;
    let mut metric_cols: Vec<(String, bool)> =
        vec![("energy".into(), false), ("pointing".into(), false)];
    metric_cols.extend(thresholds.iter().map(|t| (format!("iou@{t}"), true)));
    metric_cols.extend(thresholds.iter().map(|t| (format!("mask_iou@{t}"), true)));
    metric_cols.extend(
        [
            "deletion",
            "insertion",
            "avg_drop",
            "increase",
            "road",
            "degenerate",
        ]
        .map(|m| (m.to_string(), false)),
    );
    let failed = records.iter().filter(|r| &r[1] == "-").count();
    let mut md = String::from("| method | images | correct |");
    let mut csv_out = String::from("method,images,correct");
    let present: Vec<&(String, bool)> = metric_cols
        .iter()
        .filter(|(m, _)| col(m).is_some_and(|c| records.iter().any(|r| !r[c].is_empty())))
        .collect();
    for (m, only_correct) in &present {
        md.push_str(&format!(
            " {m}{} |",
            if *only_correct { " (correct)" } else { "" }
        ));
        csv_out.push_str(&format!(",{m}_mean,{m}_se,{m}_n"));
    }
    md.push_str("\n|---|---|---|");
    md.push_str(&"---|".repeat(present.len()));
    md.push('\n');
    csv_out.push('\n');
    let c_correct = col("correct").expect("column");
    for method in methods {
        let rows: Vec<&csv::StringRecord> = records.iter().filter(|r| &r[1] == method).collect();
        let correct: Vec<f64> = rows
            .iter()
            .filter_map(|r| r[c_correct].parse::<f64>().ok())
            .collect();
        let acc = Stat::of(&correct);
        md.push_str(&format!(
            "| {method} | {} | {} |",
            rows.len(),
            if acc.n > 0 {
                format!("{:.0}/{}", acc.mean * acc.n as f64, acc.n)
            } else {
                "–".into()
            }
        ));
        csv_out.push_str(&format!(
            "{method},{},{}",
            rows.len(),
            if acc.n > 0 {
                (acc.mean * acc.n as f64).round().to_string()
            } else {
                String::new()
            }
        ));
        for (m, only_correct) in &present {
            let c = col(m).expect("present");
            let vals: Vec<f64> = rows
                .iter()
                .filter(|r| !*only_correct || &r[c_correct] == "1")
                .filter_map(|r| r[c].parse::<f64>().ok())
                .collect();
            let st = Stat::of(&vals);
            md.push_str(&format!(" {} |", st.display(3)));
            csv_out.push_str(&format!(",{},{},{}", st.mean, st.se, st.n));
        }
        md.push('\n');
        csv_out.push('\n');
    }
    if failed > 0 {
        md.push_str(&format!(
            "\n{failed} image(s) failed; see the `error` column of per_image.csv.\n"
        ));
    }
    Ok((md, csv_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_seeds() {
        assert_eq!(parse_shard("1/4").unwrap(), (1, 4));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("x").is_err());
        assert_eq!(fnv1a(""), 0xcbf29ce484222325);
        assert_ne!(fnv1a("a.jpg"), fnv1a("b.jpg"));
    }
}
