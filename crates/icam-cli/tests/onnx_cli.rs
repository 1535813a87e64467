//! `icam` on ONNX models: every command takes `--weights model.onnx`; `icam layers`;
//! `--labels`; one-line errors for conflicting flags and broken files.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{ICAM_BIN, example_image, run_cmd, tmpdir};

/// `icam ARGS`: (exit code, or -1 for a signal; stdout; stderr).
fn icam(args: &[&str]) -> (i32, String, String) {
    let r = run_cmd(Command::new(ICAM_BIN).args(args));
    (r.code.unwrap_or(-1), r.stdout, r.stderr)
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../icam-models/tests/fixtures/onnx")
        .join(name)
        .display()
        .to_string()
}

fn image() -> String {
    example_image("skimage_chelsea.png").display().to_string()
}

fn one_error(r: &(i32, String, String), needle: &str) {
    assert_ne!(r.0, 0, "{r:?}");
    assert!(!r.2.contains("panicked"), "{r:?}");
    assert_eq!(r.2.trim_end().lines().count(), 1, "one line: {r:?}");
    assert!(r.2.starts_with("error: ") && r.2.contains(needle), "{r:?}");
}

#[test]
fn layers_lists_the_graph_and_its_defaults() {
    let r = icam(&["layers", "--weights", &fixture("resnet_ts.onnx"), "--json"]);
    assert_eq!(r.0, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.1).unwrap();
    assert_eq!(v["candidates"].as_array().unwrap().len(), 16);
    assert_eq!(v["baseline"], "/layer4/layer4.2/relu_2/Relu");
    let last = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == v["baseline"])
        .unwrap();
    assert!(
        last["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "layer4")
    );
    assert_eq!(last["default"], serde_json::json!(["icam", "baseline"]));
    let table = icam(&["layers", "--weights", &fixture("convnext_dynamo.onnx")]);
    assert_eq!(table.0, 0, "{table:?}");
    assert!(table.1.contains("I-CAM candidates: 5;"), "{}", table.1);
    // EfficientNet: the default preset's candidates (the activation after each depthwise
    // convolution, and the baseline layer) differ from the paper's block outputs.
    let r = icam(&[
        "layers",
        "--weights",
        &fixture("efficientnet_ts.onnx"),
        "--json",
    ]);
    assert_eq!(r.0, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.1).unwrap();
    let c = v["candidates"].as_array().unwrap();
    assert_eq!(c.len(), 8);
    assert_eq!(c.last().unwrap(), &v["baseline"]);
    assert_ne!(v["candidates"], v["paper_candidates"]);
    let tagged = |tag: &str| {
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["default"].as_array().unwrap().iter().any(|d| d == tag))
            .map(|l| l["name"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(&tagged("icam"), c);
    let paper_only: Vec<_> = v["paper_candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !c.contains(l))
        .cloned()
        .collect();
    assert!(!paper_only.is_empty());
    assert_eq!(tagged("paper"), paper_only);
    let table = icam(&["layers", "--weights", &fixture("efficientnet_ts.onnx")]);
    assert!(
        table.1.contains("I-CAM candidates: 8 (") && table.1.contains("under --preset paper"),
        "{}",
        table.1
    );
}

#[test]
fn explain_predict_and_compare_take_an_onnx_model() {
    let dir = tmpdir();
    let labels = dir.path().join("labels.txt");
    let names: Vec<String> = (0..10).map(|i| format!("thing {i}")).collect();
    std::fs::write(&labels, names.join("\n")).unwrap();
    let labels = labels.display().to_string();
    let w = fixture("squeezenet_ts.onnx");
    let r = icam(&[
        "predict",
        "--weights",
        &w,
        "--labels",
        &labels,
        &image(),
        "--json",
    ]);
    assert_eq!(r.0, 0, "{r:?}");
    assert!(r.1.contains("thing "), "{}", r.1);
    let out = dir.path().join("ex");
    let o = out.display().to_string();
    let r = icam(&["explain", "--weights", &w, &image(), "--out", &o]);
    assert_eq!(r.0, 0, "{r:?}");
    assert!(out.join("report.json").exists() && out.join("overlay.png").exists());
    let out = dir.path().join("cmp").display().to_string();
    let r = icam(&[
        "compare",
        "--weights",
        &fixture("mobilenet_v3_ts.onnx"),
        &image(),
        "--out",
        &out,
    ]);
    assert_eq!(r.0, 0, "{r:?}");
    let r = icam(&[
        "bench",
        "--weights",
        &w,
        "--batch",
        "1",
        "--repeats",
        "1",
        "--network-only",
    ]);
    assert_eq!(r.0, 0, "{r:?}");
}

#[test]
fn onnx_errors_are_one_line() {
    let w = fixture("squeezenet_ts.onnx");
    one_error(
        &icam(&["predict", "--weights", &w, "--arch", "resnet50", &image()]),
        "carries its own architecture",
    );
    let dir = tmpdir();
    let labels = dir.path().join("l.txt");
    std::fs::write(&labels, "a\nb\n").unwrap();
    one_error(
        &icam(&[
            "predict",
            "--weights",
            &w,
            "--labels",
            &labels.display().to_string(),
            &image(),
        ]),
        "names 2 classes, but the model has 10",
    );
    let bytes = std::fs::read(&w).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    one_error(
        &icam(&["predict", "--weights", &cut.display().to_string(), &image()]),
        "not a valid ONNX model",
    );
    one_error(
        &icam(&[
            "explain",
            "--weights",
            &w,
            &image(),
            "--layers",
            "nope",
            "--out",
            &dir.path().join("o").display().to_string(),
        ]),
        "unknown layer `nope`",
    );
    assert!(!Path::new(&dir.path().join("o")).exists());
}
