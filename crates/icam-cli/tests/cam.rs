//! The CAM family's options end to end: `icam explain --method NAME --scaling grad-cam` with
//! `--eigen-smooth`, `--aug-smooth`, `--finer`, `--batch-size` writes the library's golden
//! maps (pytorch-grad-cam 1.5.7's, `crates/icam/tests/fixtures/cam_goldens.safetensors`, made
//! by `tools/make_cam_goldens.py`) and records the options in report.json; bad combinations
//! are one-line errors before any work; `compare --methods` and `cases --method` run any
//! method.
//!
//! Needs the reference fixtures (`../shared/reference/fixtures`, or `$ICAM_SHARED`) and, for
//! the EfficientNet-Lite0 cases, the cached model; prints `SKIPPED: …` and passes without them.
//! Cheap: one ResNet-50 pass per case (Ablation-CAM's 2,049 passes run only the pooling and
//! the classifier), Score-CAM and Ablation-CAM on Lite0's first block (16 channels).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{Run, args, fixtures, icam, json_file, lite0_cached, tmpdir};

impl Run {
    /// Exactly one line on stderr, `error: …`, and a non-zero exit; returns the message.
    fn one_error(&self) -> String {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failure:\n{}",
            self.show()
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.show());
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr:\n{}", self.show());
        lines[0]
            .strip_prefix("error: ")
            .expect("`error: `")
            .to_string()
    }
}

/// `--weights W --no-resize`: the goldens' setting (ResNet-50, chelsea224 as it is).
fn resnet(fx: &Path) -> Vec<OsString> {
    args![
        "--weights",
        fx.join("resnet50_seed0.safetensors"),
        "--no-resize"
    ]
}

fn heatmap(p: &Path) -> Vec<f32> {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(f.shape(), &[224, 224], "{}", p.display());
    f.into_vec::<f32>().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The library's goldens

struct Goldens {
    meta: Value,
    tensors: Vec<(String, Vec<f64>)>,
}

fn goldens() -> Goldens {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../icam/tests/fixtures/cam_goldens.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    let (_, md) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta: Value = serde_json::from_str(&md.metadata().as_ref().unwrap()["json"]).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let data = v
                .data()
                .chunks(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect();
            (name, data)
        })
        .collect();
    Goldens { meta, tensors }
}

impl Goldens {
    /// max |d| between `heat` (224×224) and case `key`'s sampled pixels, and whether it and
    /// the case's two checksums (plain and position-weighted sums) are within `tol`.
    fn compare(&self, key: &str, heat: &[f32], tol: f64) -> (f64, bool) {
        let rc: Vec<usize> = self.meta["rows_cols"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let gold = &self.tensors.iter().find(|(n, _)| n == key).unwrap().1;
        let mut mx = 0.0f64;
        for (i, &r) in rc.iter().enumerate() {
            for (j, &c) in rc.iter().enumerate() {
                mx = mx.max((f64::from(heat[r * 224 + c]) - gold[i * rc.len() + j]).abs());
            }
        }
        let case = &self.meta["cases"][key];
        let n = heat.len() as f64;
        let sum: f64 = heat.iter().map(|&v| f64::from(v)).sum();
        let wsum: f64 = heat
            .iter()
            .enumerate()
            .map(|(i, &v)| f64::from(v) * ((i % 97) + 1) as f64)
            .sum();
        let ds = (sum - case["sum"].as_f64().unwrap()).abs() / n;
        let dw = (wsum - case["wsum"].as_f64().unwrap()).abs() / (n * 49.0);
        eprintln!("{key:32} max|d| {mx:.2e}  mean-sum |d| {ds:.1e}  weighted {dw:.1e}");
        (mx, mx <= tol && ds <= tol && dw <= tol)
    }

    /// The flags of case `key`: method, layers, and its options.
    fn flags(&self, key: &str) -> Vec<OsString> {
        let case = &self.meta["cases"][key];
        let layers: Vec<&str> = case["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let method = case["method"].as_str().unwrap();
        let mut a = args![
            "--method",
            method,
            "--scaling",
            "grad-cam",
            "--gradcampp-eps",
            "1e-6"
        ];
        if method != "fullgrad" {
            a.extend(args!["--layers", layers.join(",")]);
        }
        let flag = |k: &str| case[k].as_bool().unwrap_or(false);
        if flag("eigen") {
            a.push("--eigen-smooth".into());
        }
        if flag("aug") {
            a.push("--aug-smooth".into());
        }
        if flag("finer") {
            a.push("--finer".into());
        } else {
            a.extend(args!["--class", self.class(key).to_string()]);
        }
        if let Some(b) = case["batch_size"].as_u64() {
            a.extend(args!["--batch-size", b.to_string()]);
        }
        a
    }

    fn class(&self, key: &str) -> u64 {
        let model = key.split('/').next().unwrap();
        self.meta[model]["target_class"].as_u64().unwrap()
    }
}

const TOL: f64 = 1e-4;
/// See `crates/icam/tests/cam_goldens.rs`: float32 cancellation in Ablation-CAM's `(y − y_k)/y`
/// on ResNet-50's layer4.
const ABLATION_F32_TOL: f64 = 5e-4;

/// `icam explain` with the case's flags: the golden map, and report.json records the options.
fn explain_case(g: &Goldens, key: &str, model: &[OsString], dir: &Path) -> Value {
    let out = dir.join(key.replace('/', "_"));
    let mut a = args![
        "explain",
        fixtures().expect("checked").join("chelsea224.png")
    ];
    a.extend(model.iter().cloned());
    a.extend(g.flags(key));
    a.extend(args!["--out", &out]);
    let r = icam(&a);
    r.assert_success();
    let tol = if key == "resnet50/ablationcam" {
        ABLATION_F32_TOL
    } else {
        TOL
    };
    let (mx, ok) = g.compare(key, &heatmap(&out.join("heatmap.npy")), tol);
    assert!(ok, "{key}: max |d| {mx:e}");
    let rep = json_file(&out.join("report.json"));
    let case = &g.meta["cases"][key];
    assert_eq!(rep["method"], case["method"], "{key}");
    assert_eq!(rep["scaling"], "grad-cam", "{key}");
    assert_eq!(rep["target_class"], g.class(key), "{key}");
    let flag = |k: &str| case[k].as_bool().unwrap_or(false);
    assert_eq!(rep["eigen_smooth"], flag("eigen"), "{key}");
    assert_eq!(rep["aug_smooth"], flag("aug"), "{key}");
    assert_eq!(rep["finer"].is_object(), flag("finer"), "{key}");
    rep
}

#[test]
fn explain_flags_give_the_package_maps_on_resnet50() {
    let Some(fx) = fixtures() else { return };
    let g = goldens();
    let t = tmpdir();
    for key in [
        "resnet50/hirescam",
        "resnet50/gradcampp",
        "resnet50/xgradcam",
        "resnet50/fem",
        "resnet50/gradcam+eigen",
        "resnet50/fullgrad",
        "resnet50/hirescam+aug",
        "resnet50/layercam+finer",
        "resnet50/gradcam+multi",
    ] {
        let rep = explain_case(&g, key, &resnet(&fx), t.path());
        assert_eq!(rep["batch_size"], Value::Null, "{key}: no passes to batch");
        if key.ends_with("+finer") {
            // Finer-CAM's comparison classes: the 3 closest logits, named.
            let f = &rep["finer"];
            assert_eq!(f["comparisons"].as_array().unwrap().len(), 3);
            assert_eq!(f["alpha"], 1.0);
            assert_eq!(f["comparison_names"].as_array().unwrap().len(), 3);
        }
    }
}

/// Ablation-CAM's 2,049 passes (pooling and classifier only) in batches of 300.
#[test]
fn ablationcam_with_a_batch_size_on_resnet50() {
    let Some(fx) = fixtures() else { return };
    let g = goldens();
    let t = tmpdir();
    let mut model = resnet(&fx);
    model.extend(args!["--batch-size", "300"]);
    let rep = explain_case(&g, "resnet50/ablationcam", &model, t.path());
    assert_eq!(rep["batch_size"], 300);
}

/// Score-CAM and Ablation-CAM on Lite0's first block (16 channels), with and without a batch
/// size: the batch size changes nothing in the map, and the one used is recorded.
#[test]
fn passes_on_efficientnet_lite0() {
    if fixtures().is_none() || !lite0_cached() {
        return;
    }
    let g = goldens();
    let t = tmpdir();
    let model = args!["--no-resize"];
    let rep = explain_case(&g, "lite0/scorecam+early", &model, t.path());
    let chosen = rep["batch_size"].as_u64().expect("a batch size");
    assert!((1..=64).contains(&chosen), "{chosen}");
    let rep = explain_case(&g, "lite0/ablationcam+early", &model, t.path());
    assert_eq!(rep["batch_size"], 1);
    let mut small = model.clone();
    small.extend(args!["--batch-size", "5"]);
    let dir = t.path().join("b5");
    std::fs::create_dir_all(&dir).unwrap();
    let rep = explain_case(&g, "lite0/scorecam+early", &small, &dir);
    assert_eq!(rep["batch_size"], 5);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn bad_cam_options_are_one_line_errors_before_any_work() {
    let Some(fx) = fixtures() else { return };
    let t = tmpdir();
    let img = fx.join("chelsea224.png");
    // An empty model cache: the options are refused before a model is looked for.
    let nomodel = args!["--model-dir", t.path().join("empty")];
    let out = t.path().join("out");
    let cases: &[(&[&str], &str)] = &[
        (
            &["explain", "--eigen-smooth"],
            "--eigen-smooth does not apply to icam: it is an option of the CAM methods, not of I-CAM",
        ),
        (
            &["explain", "--aug-smooth"],
            "--aug-smooth does not apply to icam: it is an option of the CAM methods, not of I-CAM",
        ),
        (
            &["explain", "--scaling", "grad-cam"],
            "--scaling grad-cam does not apply to icam: it is the post-processing of the CAM methods (I-CAM fuses its layers itself)",
        ),
        (
            &["explain", "--method", "eigencam", "--finer"],
            "--finer does not apply to eigencam: it changes the target class's score, for the CAM methods that use one (all but eigencam and fem)",
        ),
        (
            &["explain", "--method", "gradcam", "--batch-size", "8"],
            "--batch-size does not apply to gradcam: it batches the forward passes of scorecam and ablationcam",
        ),
        (
            &["explain", "--method", "scorecam", "--batch-size", "0"],
            "--batch-size must be at least 1",
        ),
        (
            &[
                "explain",
                "--method",
                "gradcam",
                "--finer",
                "--finer-k",
                "0",
            ],
            "--finer-k must be at least 1",
        ),
        (
            &[
                "explain",
                "--method",
                "gradcam",
                "--finer",
                "--finer-alpha",
                "inf",
            ],
            "--finer-alpha must be finite, got inf",
        ),
        (
            &["eval", "--methods", "icam,fem", "--finer"],
            "--finer does not apply to icam, fem: it changes the target class's score, for the CAM methods that use one (all but eigencam and fem)",
        ),
        (
            &["compare", "--methods", "icam", "--eigen-smooth"],
            "--eigen-smooth does not apply to icam: it is an option of the CAM methods, not of I-CAM",
        ),
        (
            &["compare", "--methods", "gradcam,hirescam,gradcam"],
            "--methods names gradcam twice",
        ),
        (
            &["cases", "--method", "fem", "--finer"],
            "--finer does not apply to fem: it changes the target class's score, for the CAM methods that use one (all but eigencam and fem)",
        ),
        (
            &["cases", "--batch-size", "4"],
            "--batch-size does not apply to icam: it batches the forward passes of scorecam and ablationcam",
        ),
    ];
    let data = t.path().join("d.csv");
    std::fs::write(&data, format!("{},285\n", img.display())).unwrap();
    for (argv, want) in cases {
        let mut a = args![argv[0]];
        a.push(if argv[0] == "explain" || argv[0] == "compare" {
            img.clone().into()
        } else {
            data.clone().into()
        });
        a.extend(argv[1..].iter().map(OsString::from));
        a.extend(nomodel.iter().cloned());
        a.extend(args!["--out", &out]);
        let msg = icam(&a).one_error();
        assert_eq!(&msg, want, "{argv:?}");
        assert!(!out.exists(), "{argv:?} left {}", out.display());
    }
    // In a list, an option needs one method that takes it; the others run without it.
    let mut a = args!["eval", &data, "--methods", "icam,gradcam", "--eigen-smooth"];
    a.extend(nomodel.iter().cloned());
    a.extend(args!["--out", &out]);
    let msg = icam(&a).one_error();
    assert!(
        msg.contains("efficientnet-lite0"),
        "the model is looked for: {msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// compare --methods, cases --method

#[test]
fn compare_any_methods() {
    let Some(fx) = fixtures() else { return };
    let g = goldens();
    let t = tmpdir();
    let out = t.path().join("cmp");
    let mut a = args!["compare", fx.join("chelsea224.png"), "--out", &out];
    a.extend(resnet(&fx));
    a.extend(args![
        "--methods",
        "hirescam,eigencam,fullgrad",
        "--scaling",
        "grad-cam",
        "--class",
        "509"
    ]);
    let r = icam(&a);
    r.assert_success();
    let v = json_file(&out.join("compare.json"));
    let methods: Vec<&str> = v["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["hirescam", "eigencam", "fullgrad"]);
    assert_eq!(v["cam"]["scaling"], "grad-cam");
    assert_eq!(v["target_class"], 509);
    for (m, key) in [
        ("hirescam", "resnet50/hirescam"),
        ("eigencam", "resnet50/eigencam"),
        ("fullgrad", "resnet50/fullgrad"),
    ] {
        let (mx, ok) = g.compare(key, &heatmap(&out.join(format!("heatmap_{m}.npy"))), TOL);
        assert!(ok, "{m}: {mx:e}");
    }
    assert!(!out.join("heatmap_icam_channel.npy").exists());
    let fig = image::open(out.join("compare.png")).unwrap();
    assert!(fig.width() > 3 * 224, "four panels: {}", fig.width());
}

#[test]
fn cases_with_a_cam_method() {
    let Some(fx) = fixtures() else { return };
    let t = tmpdir();
    // chelsea labelled with its prediction (509 on these weights), the synthetic image with
    // a class it does not predict: one correct image, one incorrect with two maps.
    let csv = t.path().join("d.csv");
    std::fs::write(
        &csv,
        format!(
            "path,class\n{},509\n{},1\n",
            fx.join("chelsea224.png").display(),
            fx.join("synthetic224.png").display()
        ),
    )
    .unwrap();
    let out = t.path().join("cases");
    let mut a = args![
        "cases", &csv, "--out", &out, "--low", "0.5", "--high", "0.5"
    ];
    a.extend(resnet(&fx));
    a.extend(args!["--method", "hirescam", "--scaling", "grad-cam"]);
    icam(&a).assert_success();
    let v = json_file(&out.join("cases.json"));
    assert_eq!(v["method"], "hirescam");
    assert_eq!(v["cam"]["scaling"], "grad-cam");
    let items: Vec<&Value> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["images"].as_array().unwrap())
        .collect();
    assert_eq!(items.len(), 2);
    for item in items {
        let maps = item["maps"].as_array().unwrap();
        let want = if item["correct"] == true { 1 } else { 2 };
        assert_eq!(maps.len(), want, "{item}");
        assert_eq!(maps[0]["class"], item["pred"]);
        if want == 2 {
            assert_eq!(maps[1]["class"], 1);
        }
        for m in maps {
            assert_eq!(m["method"], "hirescam");
            assert_eq!(m["layers"], serde_json::json!(["layer4"]));
            assert_eq!(m["summary"], "hirescam on layer4");
        }
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h1>hirescam confidence cases</h1>"));
    assert!(html.contains("hirescam, scaling grad-cam"));
}
