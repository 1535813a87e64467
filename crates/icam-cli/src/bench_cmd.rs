//! `icam bench`: timings of the network pass and of the methods, median of several runs, with
//! peak memory. Numbers are meant to be compared as ratios within one run of one machine.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use icam::{CamSpec, Perturbations, Preset, Subject, Target, explain_cam, explain_icam};
use icam_models::{HostTensor, Objective, activations, trace};
use serde_json::json;

use icam_app::options::ModelArgs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Image to run on (default: a synthetic gradient image of the model's input size).
    #[arg(long)]
    pub image: Option<std::path::PathBuf>,
    /// Batch sizes of the forward+backward measurement.
    #[arg(long, value_delimiter = ',', default_value = "1,9")]
    pub batch: Vec<usize>,
    /// Timed runs per measurement (the median is reported), after one warm-up.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Skip the method timings (I-CAM n=8, Grad-CAM, Score-CAM, Ablation-CAM).
    #[arg(long)]
    pub network_only: bool,
    /// Time the network rows forward only (the taps recorded, no gradients, no autodiff
    /// graph): with the default forward+backward rows, this splits a pass's time (and a
    /// profile) into its forward and backward halves.
    #[arg(long)]
    pub forward_only: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Run only measurement N in this process (the parent runs each one in a fresh child
    /// process so that peak memory is per measurement).
    #[arg(long, hide = true)]
    pub only: Option<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Peak resident memory of this process in bytes (Linux), and a reset of that peak.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn measure(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, Option<u64>)> {
    f()?;
    reset_peak_rss();
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], peak_rss()))
}

/// Run every measurement in a child process of its own (fresh allocator, honest peak RSS),
/// then print the table.
pub fn run(a: &BenchArgs) -> Result<()> {
    anyhow::ensure!(a.repeats >= 1, "--repeats must be at least 1");
    anyhow::ensure!(
        a.batch.iter().all(|&b| b >= 1),
        "batch sizes must be at least 1"
    );
    if let Some(i) = a.only {
        let row = measure_one(a, i)?;
        println!("{}", serde_json::to_string(&row)?);
        return Ok(());
    }
    let count = a.batch.len() + if a.network_only { 0 } else { 4 };
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads: usize = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(threads);
    let mut header = None;
    for i in 0..count {
        let out = std::process::Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .arg("--only")
            .arg(i.to_string())
            .stderr(std::process::Stdio::inherit())
            .output()?;
        anyhow::ensure!(out.status.success(), "benchmark {i} failed");
        let row: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        if header.is_none() {
            header = Some(format!(
                "{} {} on {}, {threads} threads, median of {}, each measurement in a fresh process",
                row["arch"].as_str().unwrap_or("?"),
                row["dtype"].as_str().unwrap_or("?"),
                row["image"].as_str().unwrap_or("?"),
                a.repeats
            ));
            if !a.json {
                println!("{}", header.as_deref().unwrap_or_default());
            }
        }
        if !a.json {
            let peak = row["peak_rss_bytes"]
                .as_f64()
                .map(|b| format!("{:.0} MB", b / 1e6))
                .unwrap_or_else(|| "?".into());
            println!(
                "{:<58} {:>9.1} ms   peak RSS {peak}",
                row["name"].as_str().unwrap_or("?"),
                row["median_ms"].as_f64().unwrap_or(f64::NAN)
            );
        }
        rows.push(row);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"threads": threads, "repeats": a.repeats, "results": rows})
            )?
        );
    }
    Ok(())
}

fn measure_one(a: &BenchArgs, index: usize) -> Result<serde_json::Value> {
    let loaded = a.model.load()?;
    let net = loaded.model.net.as_ref();
    let px = match &a.image {
        Some(p) => (*loaded.open_image(p)?.pixels).clone(),
        None => {
            // The model's own input size (224×224 for the zoo; an ONNX graph's fixed size).
            let (h, w) = loaded.model.preprocess.crop.unwrap_or((224, 224));
            icam_app::model::synthetic_image(h as usize, w as usize)
        }
    };
    let prec = a.model.precision();
    let one = loaded.normalization.to_model_input(&px, prec);
    let layers = net.candidate_layers();
    let (name, (t, peak)) = if let Some(&b) = a.batch.get(index) {
        let mut data = Vec::with_capacity(b * one.len());
        for i in 0..b {
            data.extend(
                one.to_f64()
                    .into_iter()
                    .map(|v| v * (1.0 - 0.01 * i as f64)),
            );
        }
        let mut shape = one.shape.clone();
        shape[0] = b;
        let batch = match prec {
            icam_models::Precision::F32 => {
                HostTensor::f32(shape, data.iter().map(|&v| v as f32).collect())
            }
            icam_models::Precision::F64 => HostTensor::f64(shape, data),
        };
        let objs = vec![Objective::Prob(0); b];
        if a.forward_only {
            (
                format!("forward only ({} taps), batch {b}", layers.len()),
                measure(a.repeats, || {
                    activations(net, &batch, &layers)?;
                    Ok(())
                })?,
            )
        } else {
            (
                format!(
                    "forward+backward (input + {} taps), batch {b}",
                    layers.len()
                ),
                measure(a.repeats, || {
                    trace(net, &batch, &layers, &objs, true)?;
                    Ok(())
                })?,
            )
        }
    } else {
        let s = Subject {
            net,
            image: &px,
            normalization: loaded.normalization,
        };
        if index == a.batch.len() {
            // The reference implementation runs the paper's defaults: time the same.
            let cfg = Preset::Paper.config();
            let pert = Perturbations::generate(cfg.n, px.height, px.width, cfg.alpha, cfg.seed);
            (
                format!("I-CAM per image (n={}, {} layers)", cfg.n, layers.len()),
                measure(a.repeats, || {
                    explain_icam(&s, &layers, &cfg, Target::Predicted, &pert, &mut |_| {})?;
                    Ok(())
                })?,
            )
        } else {
            // Grad-CAM, Score-CAM, Ablation-CAM on the baseline layer (compare with
            // tools/bench_gradcam_pkg.py); the last two run thousands of passes, so once.
            let (method, label, repeats) = match index - a.batch.len() {
                1 => ("gradcam", "Grad-CAM", a.repeats),
                2 => ("scorecam", "Score-CAM", 1),
                _ => ("ablationcam", "Ablation-CAM", 1),
            };
            let bl = vec![net.baseline_layer()];
            let spec = CamSpec::new(method);
            (
                format!("{label} per image ({})", bl[0]),
                measure(repeats, || {
                    explain_cam(&s, &spec, &bl, &[Target::Predicted], &mut |_| {})?;
                    Ok(())
                })?,
            )
        }
    };
    Ok(json!({
        "name": name, "median_ms": t * 1e3, "peak_rss_bytes": peak,
        "arch": net.arch(), "dtype": prec.name(), "image": format!("{}×{}", px.width, px.height),
    }))
}
