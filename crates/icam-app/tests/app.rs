//! The application layer through its public API, on the reference fixtures (ResNet-50 with
//! seeded random weights, `chelsea224.png`, the reference's perturbations): explanations equal
//! the goldens and their files hold what the API returns; evaluation resumes byte for byte and
//! shards partition the rows; errors carry their kind.
//!
//! Tests that need `../shared/reference/fixtures` (or `$ICAM_SHARED`) print `SKIPPED: …` and
//! pass when it is absent.

use std::path::{Path, PathBuf};

use icam::Target;
use icam_app::error::{ErrorKind, kind};
use icam_app::eval::{EvalPlan, EvalRequest};
use icam_app::explanation::{self, ExplainRequest, Explainer, NoiseMask};
use icam_app::{LoadedModel, ModelSpec, Progress};
use serde_json::Value;

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("ICAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("reference/fixtures");
    if dir.join("resnet50_seed0.safetensors").is_file()
        && dir.join("golden/icam_default_f32.npy").is_file()
    {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: reference fixtures not found at {} (set ICAM_SHARED)",
            dir.display()
        );
        None
    }
}

/// The reference's setting: its weights, no resize.
fn model(fx: &Path) -> LoadedModel {
    ModelSpec {
        weights: Some(fx.join("resnet50_seed0.safetensors")),
        no_resize: true,
        ..ModelSpec::default()
    }
    .load()
    .unwrap()
}

fn read_npy_f32(p: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(p).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = f.shape().to_vec();
    (shape, f.into_vec::<f32>().unwrap())
}

fn max_abs_diff(a: &[f64], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - y as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn explanations_match_the_goldens_and_their_files() {
    let Some(fx) = fixtures() else { return };
    let m = model(&fx);
    let image = m.open_image(&fx.join("chelsea224.png")).unwrap();
    assert_eq!((image.pixels.height, image.pixels.width), (224, 224));

    // I-CAM with the reference's perturbations and options (the paper's preset).
    let req = ExplainRequest {
        noise_mask: Some(NoiseMask {
            noise: fx.join("noise_n8_seed0.npy"),
            mask: fx.join("mask_n8_a0.4_seed0.npy"),
        }),
        config: icam::Preset::Paper.config(),
        ..ExplainRequest::default()
    };
    let mut stages = Vec::new();
    let ex = explanation::explain(&m, &image, req, &mut |e| {
        if let explanation::Event::Stage(s) = e {
            stages.push(s)
        }
    })
    .unwrap();
    assert_eq!(ex.len(), 1);
    let e = &ex[0];
    assert_eq!(
        stages.len(),
        4,
        "network, weights, scores, maps: {stages:?}"
    );
    let (_, golden) = read_npy_f32(&fx.join("golden/icam_default_f32.npy"));
    let d = max_abs_diff(&e.heatmap().data, &golden);
    assert!(d <= 1e-2, "max |d| {d:e}");
    let gold: Value =
        serde_json::from_slice(&std::fs::read(fx.join("golden/icam_default_f32.json")).unwrap())
            .unwrap();
    assert_eq!(e.class, 509);
    assert_eq!(e.class_label, "confectionery (509)");
    assert_eq!(e.report["selected_layers"], gold["selected_layers"]);
    assert_eq!(e.report["class_name"], "confectionery");
    assert_eq!(e.report["no_resize"], true);
    assert_eq!(
        e.report["image"],
        fx.join("chelsea224.png").display().to_string()
    );
    // One layer entry per candidate block, with the report's facts.
    assert_eq!(e.layers.len(), 16);
    let selected: Vec<&str> = e
        .layers
        .iter()
        .filter(|l| l.facts.unwrap().selected)
        .map(|l| l.name.as_str())
        .collect();
    let mut gold_sel: Vec<&str> = gold["selected_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut sel_sorted = selected.clone();
    sel_sorted.sort();
    gold_sel.sort();
    assert_eq!(sel_sorted, gold_sel);
    let w: f64 = e.layers.iter().map(|l| l.facts.unwrap().weight).sum();
    assert!((w - 1.0).abs() < 1e-9, "layer weights sum to {w}");

    // The files hold what the API returned.
    let dir = tempfile::tempdir().unwrap();
    let written = e.save(dir.path()).unwrap();
    assert_eq!(written.len(), 4);
    let (shape, heat) = read_npy_f32(&dir.path().join("heatmap.npy"));
    assert_eq!(shape, vec![224, 224]);
    assert_eq!(
        heat,
        e.heatmap()
            .data
            .iter()
            .map(|&v| v as f32)
            .collect::<Vec<_>>()
    );
    let overlay = image::open(dir.path().join("overlay.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(overlay, e.overlay());
    let grid = image::open(dir.path().join("layers.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(grid, e.layer_grid());
    let rep = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert_eq!(rep, serde_json::to_string_pretty(&e.report).unwrap() + "\n");
    check_json(e);

    // Grad-CAM for two classes in one pass: one explanation each, in request order.
    let req = ExplainRequest {
        method: "gradcam".into(),
        classes: vec!["509".into(), "tiger cat".into()],
        ..ExplainRequest::default()
    };
    let ex = explanation::explain(&m, &image, req, &mut |_| {}).unwrap();
    assert_eq!(
        ex.iter().map(|e| e.class).collect::<Vec<_>>(),
        vec![509, 282]
    );
    let (_, golden) = read_npy_f32(&fx.join("golden/gradcam_f32.npy"));
    let d = max_abs_diff(&ex[0].heatmap().data, &golden);
    assert!(d <= 1e-4, "Grad-CAM max |d| {d:e}");
    assert_eq!(ex[0].layers.len(), 1);
    assert_eq!(ex[0].layers[0].name, "layer4");
    assert!(ex[0].layers[0].facts.is_none());
    check_json(&ex[0]);
    let mut out = icam_app::Outputs::default();
    let dirs = explanation::stage_all(&ex, &mut out, dir.path(), None).unwrap();
    assert_eq!(
        dirs,
        vec![dir.path().join("class-509"), dir.path().join("class-282")]
    );
    // Intermediates are I-CAM's only.
    let err = explanation::stage_all(&ex, &mut out, dir.path(), Some(dir.path())).unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidOption);

    // Top-5 predictions: the explained class first, probabilities decreasing.
    let top = m.predict(&image, 5).unwrap();
    assert_eq!(top.len(), 5);
    assert_eq!(top[0].class, 509);
    assert_eq!(top[0].label.as_deref(), Some("confectionery"));
    assert!(top.windows(2).all(|w| w[0].prob >= w[1].prob));
    assert!((top[0].prob - ex[0].prob).abs() < 1e-6);
}

fn decode_png(b64: &Value) -> image::DynamicImage {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().expect("a base64 string"))
        .unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap()
}

/// An explanation's JSON holds its facts and the pictures of its files.
fn check_json(e: &explanation::Explanation) {
    let j = e.to_json().unwrap();
    assert_eq!(j["method"], e.method.as_str());
    assert_eq!(j["class"], e.class);
    assert_eq!(j["prob"], e.prob);
    assert_eq!(j["report"], e.report);
    let (w, h) = e.image.rgb.dimensions();
    assert_eq!(j["size"], serde_json::json!([w, h]));
    assert_eq!(decode_png(&j["overlay_png"]).to_rgb8(), e.overlay());
    // The heat layer at opacity 0.5 over the original is the overlay (up to rounding).
    let heat = decode_png(&j["heat_png"]).to_rgb8();
    assert_eq!(heat.dimensions(), (w, h));
    let overlay = e.overlay();
    for ((o, hl), x) in overlay
        .pixels()
        .zip(heat.pixels())
        .zip(e.image.rgb.pixels())
    {
        for c in 0..3 {
            let blended = 0.5 * x[c] as f64 + 0.5 * hl[c] as f64;
            let crop_inside = (o[c] as f64 - blended).abs() <= 1.0;
            let dimmed_outside = o[c] == hl[c];
            assert!(crop_inside || dimmed_outside, "{o:?} {hl:?} {x:?}");
        }
    }
    let gray = decode_png(&j["heatmap_png"]).to_luma8();
    let m = e.heatmap();
    assert_eq!(gray.dimensions(), (m.w as u32, m.h as u32));
    for (g, v) in gray.pixels().zip(&m.data) {
        assert!((g[0] as f64 / 255.0 - v).abs() <= 0.5 / 255.0 + 1e-12);
    }
    let (iw, ih) = (e.image.pixels.width as u32, e.image.pixels.height as u32);
    assert_eq!(decode_png(&j["input_png"]).to_rgb8().dimensions(), (iw, ih));
    assert_eq!(decode_png(&j["fused_png"]).to_rgb8().dimensions(), (iw, ih));
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), e.layers.len());
    for (i, (jl, l)) in layers.iter().zip(&e.layers).enumerate() {
        assert_eq!(jl["name"], l.name.as_str());
        assert_eq!(jl["size"], serde_json::json!([l.map.w, l.map.h]));
        assert_eq!(decode_png(&jl["png"]).to_rgb8(), e.layer_picture(i));
        match l.facts {
            Some(f) => {
                assert_eq!(jl["score"], f.score);
                assert_eq!(jl["rank"], f.rank);
                assert_eq!(jl["weight"], f.weight);
                assert_eq!(jl["selected"], f.selected);
            }
            None => assert!(jl.get("weight").is_none()),
        }
    }
}

/// An upload decodes as the same file opened from disk; what is too large or not an image is
/// refused with the file's message.
#[test]
fn uploads_decode_as_files_do() {
    let Some(fx) = fixtures() else { return };
    let m = model(&fx);
    let path = fx.join("chelsea224.png");
    let bytes = std::fs::read(&path).unwrap();
    let from_file = m.open_image(&path).unwrap();
    let up = m.decode_image("up.png", &bytes, 224 * 224).unwrap();
    assert_eq!(up.name, "up.png");
    assert_eq!(up.pixels.data, from_file.pixels.data);
    let e = m.decode_image("up.png", &bytes, 224 * 224 - 1).unwrap_err();
    assert!(format!("{e:#}").contains("at most"), "{e:#}");
    let e = m.decode_image("notes.txt", b"hello", 1 << 20).unwrap_err();
    assert!(
        format!("{e:#}").starts_with("cannot decode image notes.txt: "),
        "{e:#}"
    );
    assert_eq!(kind(&e), ErrorKind::Failed);
}

#[test]
fn requests_are_checked_with_kinds() {
    let Some(fx) = fixtures() else { return };
    let m = model(&fx);
    let check = |req: ExplainRequest| Explainer::new(&m, req).err().unwrap();
    let e = check(ExplainRequest {
        layers: vec!["layer9".into()],
        ..ExplainRequest::default()
    });
    assert!(
        e.to_string()
            .starts_with("unknown layer `layer9` for resnet50")
    );
    assert_eq!(kind(&e), ErrorKind::InvalidOption);
    let e = check(ExplainRequest {
        classes: vec!["1000".into()],
        ..ExplainRequest::default()
    });
    assert_eq!(
        e.to_string(),
        "class 1000 is out of range: the model has 1000 classes (0..999)"
    );
    assert_eq!(kind(&e), ErrorKind::InvalidOption);
    let e = check(ExplainRequest {
        method: "nope".into(),
        ..ExplainRequest::default()
    });
    assert_eq!(kind(&e), ErrorKind::InvalidOption);
    let e = check(ExplainRequest {
        config: icam::IcamConfig {
            alpha: 1.5,
            ..Default::default()
        },
        ..ExplainRequest::default()
    });
    assert_eq!(e.to_string(), "--alpha must lie in (0, 1), got 1.5");
    assert_eq!(kind(&e), ErrorKind::InvalidOption);
    // A layer list is resolved, the classes kept in order.
    let x = Explainer::new(
        &m,
        ExplainRequest {
            method: "layercam".into(),
            classes: vec!["3".into(), "n01440764".into()],
            ..ExplainRequest::default()
        },
    )
    .unwrap();
    assert_eq!(x.layers(), ["layer4"]);
    assert_eq!(x.targets(), [Target::Class(3), Target::Class(0)]);

    let e = m.open_image(&fx.join("missing.png")).unwrap_err();
    assert_eq!(kind(&e), ErrorKind::NotFound);
    let e = ModelSpec {
        weights: Some(fx.join("missing.safetensors")),
        ..ModelSpec::default()
    }
    .load()
    .err()
    .unwrap();
    assert_eq!(kind(&e), ErrorKind::NotFound);
    // An image too small for the model.
    let tiny = image::RgbImage::new(20, 40);
    let e = m.prepare_image("tiny".into(), tiny).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tiny: the image is 20×40; the model needs at least 32×32"
    );
}

/// A dataset of `names` (copies of the fixture image, the first one a corrupt file when
/// `corrupt`) with a CSV labelling them all `509`.
fn dataset(dir: &Path, fx: &Path, names: &[&str], corrupt: bool) -> PathBuf {
    let mut csv = String::from("path,class\n");
    for (i, n) in names.iter().enumerate() {
        if corrupt && i == 0 {
            std::fs::write(dir.join(n), b"not a png").unwrap();
        } else {
            std::fs::copy(fx.join("chelsea224.png"), dir.join(n)).unwrap();
        }
        csv.push_str(&format!("{n},509\n"));
    }
    let p = dir.join("data.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

fn eval_request(data: &Path, out: &Path) -> EvalRequest {
    let config = icam::IcamConfig {
        n: 2,
        ..Default::default()
    };
    EvalRequest {
        data: data.to_path_buf(),
        methods: vec!["icam".into(), "gradcam".into()],
        out: out.to_path_buf(),
        metrics: vec!["localisation".into()],
        config,
        ..EvalRequest::default()
    }
}

#[test]
fn evaluation_resumes_byte_for_byte_and_shards_partition() {
    let Some(fx) = fixtures() else { return };
    let m = model(&fx);
    let t = tempfile::tempdir().unwrap();
    let data = dataset(t.path(), &fx, &["a.png", "b.png", "c.png"], true);

    let full = t.path().join("full");
    let plan = EvalPlan::new(eval_request(&data, &full)).unwrap();
    assert_eq!(plan.method_names(), ["icam-channel", "gradcam"]);
    let mut warnings = Vec::new();
    let mut steps = 0;
    let o = plan
        .run(&m, &mut |p| match p {
            Progress::Warning(w) => warnings.push(w.to_string()),
            Progress::Step => steps += 1,
            _ => {}
        })
        .unwrap();
    assert_eq!((o.evaluated, steps), (3, 3));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("a.png: "), "{warnings:?}");
    let rows = std::fs::read_to_string(full.join("per_image.csv")).unwrap();
    let lines: Vec<&str> = rows.lines().collect();
    // Header, the failed image's one row, two rows for each of the others.
    assert_eq!(lines.len(), 1 + 1 + 2 * 2, "{rows}");
    assert!(lines[1].starts_with("a.png,-,"));
    assert!(lines[2].starts_with("b.png,icam-channel,509,509,"));
    assert!(lines[3].starts_with("b.png,gradcam,509,509,"));
    // The seed column is seed XOR FNV-1a(name), the same for both methods of an image.
    let seed = icam_app::seed::image_seed(0, "b.png").to_string();
    assert_eq!(lines[2].split(',').nth(8), Some(seed.as_str()));
    assert_eq!(lines[3].split(',').nth(8), Some(seed.as_str()));
    // The same image under two names: the same maps, other seeds, so I-CAM differs only
    // through its perturbations; Grad-CAM's rows are equal past the name and seed.
    let tail = |l: &str| l.split(',').skip(9).collect::<Vec<_>>().join(",");
    assert_eq!(tail(lines[3]), tail(lines[5]));
    let layers = std::fs::read_to_string(full.join("icam_layers.csv")).unwrap();
    assert_eq!(layers.lines().count(), 1 + 2 * 16);
    assert!(
        o.summary_md.contains("| icam-channel | 2 | 2/2 |"),
        "{}",
        o.summary_md
    );
    assert!(o.prominence.as_ref().unwrap().is_file());
    assert!(full.join("layer_prominence.png").is_file());

    // Interrupted after b.png, in the middle of c.png's second row: the resumed files are
    // byte-identical to the uninterrupted ones.
    let part = t.path().join("part");
    std::fs::create_dir_all(&part).unwrap();
    let cut = lines[..4].join("\n") + "\n" + lines[4] + "\n" + &lines[5][..10];
    std::fs::write(part.join("per_image.csv"), cut).unwrap();
    let layer_lines: Vec<&str> = layers.lines().collect();
    std::fs::write(
        part.join("icam_layers.csv"),
        layer_lines[..20].join("\n") + "\n",
    )
    .unwrap();
    let mut notes = Vec::new();
    let o2 = EvalPlan::new(eval_request(&data, &part))
        .unwrap()
        .run(&m, &mut |p| {
            if let Progress::Note(n) = p {
                notes.push(n.to_string())
            }
        })
        .unwrap();
    assert_eq!(notes, ["resuming: 2 of 3 images already done"]);
    assert_eq!(o2.evaluated, 1);
    for f in [
        "per_image.csv",
        "icam_layers.csv",
        "summary.md",
        "summary.csv",
    ] {
        assert_eq!(
            std::fs::read(part.join(f)).unwrap(),
            std::fs::read(full.join(f)).unwrap(),
            "{f}"
        );
    }

    // Shards: every image in exactly one, with the rows of the full run.
    let mut shard_rows = Vec::new();
    for i in 0..2 {
        let out = t.path().join(format!("shard{i}"));
        let mut r = eval_request(&data, &out);
        r.shard = Some((i, 2));
        EvalPlan::new(r).unwrap().run(&m, &mut |_| {}).unwrap();
        let s = std::fs::read_to_string(out.join("per_image.csv")).unwrap();
        shard_rows.extend(s.lines().skip(1).map(String::from));
    }
    shard_rows.sort();
    let mut full_rows: Vec<String> = lines[1..].iter().map(|s| s.to_string()).collect();
    full_rows.sort();
    assert_eq!(shard_rows, full_rows);

    // Other options in the same folder are refused.
    let mut r = eval_request(&data, &full);
    r.thresholds = vec![0.3];
    let e = EvalPlan::new(r).unwrap().run(&m, &mut |_| {}).unwrap_err();
    assert!(
        e.to_string().contains("was written with other options"),
        "{e}"
    );
}

#[test]
fn evaluation_requests_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("d.csv");
    std::fs::write(&data, "a.png,1\n").unwrap();
    let err = |f: &dyn Fn(&mut EvalRequest)| {
        let mut r = eval_request(&data, t.path());
        f(&mut r);
        let e = EvalPlan::new(r).err().unwrap();
        (e.to_string(), kind(&e))
    };
    assert_eq!(
        err(&|r| r.thresholds = vec![1.0]),
        (
            "--thresholds must lie in [0, 1)".into(),
            ErrorKind::InvalidOption
        )
    );
    assert_eq!(
        err(&|r| r.metrics = vec!["speed".into()]).0,
        "unknown metric `speed`; known: localisation, drop, deletion, insertion, road"
    );
    assert_eq!(
        err(&|r| r.shard = Some((2, 2))).0,
        "--shard 2/2: need 0 <= i < N"
    );
    assert_eq!(
        err(&|r| r.methods = vec!["gradcam".into(), "x".into()]).0,
        format!(
            "unknown method `x`; known: icam, {}",
            icam::methods::NAMES.join(", ")
        )
    );
    assert_eq!(
        err(&|r| r.data = t.path().join("none")),
        (
            format!("dataset not found: {}", t.path().join("none").display()),
            ErrorKind::NotFound
        )
    );
    assert_eq!(icam_app::eval::parse_shard("1/4").unwrap(), (1, 4), "i/N");
    let e = icam_app::eval::parse_shard("a/4").unwrap_err();
    assert_eq!(
        (e.to_string(), kind(&e)),
        (
            "invalid digit found in string".into(),
            ErrorKind::InvalidOption
        )
    );
    assert_eq!(
        icam_app::eval::parse_shard("3").unwrap_err().to_string(),
        "--shard `3`: expected i/N"
    );
    // A plan lists (and shards, and limits) before any model is loaded.
    let mut r = eval_request(&data, t.path());
    r.limit = Some(0);
    assert!(EvalPlan::new(r).unwrap().samples.is_empty());
}
