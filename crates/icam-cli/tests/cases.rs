//! End-to-end tests of `icam cases` (the paper's four confidence/correctness cases) and of its
//! example-based explanations (`--train`, the neighbour cache).
//!
//! Tests that need the reference fixtures (`../shared/reference/fixtures`, or `$ICAM_SHARED`),
//! the VOC elephants or the cached EfficientNet-Lite0 weights print `SKIPPED: …` and pass when
//! those are absent. Failures follow the contract of `tests/cli.rs`: one `error: ` line on
//! stderr, a non-zero exit, no `--out` folder left behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

mod common;
use common::{args, assert_one_error, fixtures, icam, json_file, lite0_cached, shared_dir, tmpdir};

fn model(fx: &Path) -> Vec<OsString> {
    args![
        "--weights",
        fx.join("resnet50_seed0.safetensors"),
        "--no-resize",
        "--n",
        "2"
    ]
}

/// `icam predict --json` top-1 and top-2: ((class, prob), (class, prob)).
fn predict(fx: &Path, image: &Path) -> ((u64, f64), (u64, f64)) {
    let mut a = args!["predict", image, "--json", "--top-k", "2"];
    a.extend(model(fx).into_iter().take(3));
    let r = icam(&a);
    r.assert_ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let get = |i: usize| {
        (
            v["top"][i]["class"].as_u64().unwrap(),
            v["top"][i]["prob"].as_f64().unwrap(),
        )
    };
    (get(0), get(1))
}

/// Every image entry of cases.json as (case, entry).
fn entries(v: &Value) -> Vec<(String, Value)> {
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            let id = c["case"].as_str().unwrap().to_string();
            c["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |e| (id.clone(), e.clone()))
        })
        .collect()
}

/// The inline PNGs of an HTML page, decoded.
fn data_uris(html: &str) -> Vec<image::DynamicImage> {
    let tag = "data:image/png;base64,";
    html.match_indices(tag)
        .map(|(i, _)| {
            let rest = &html[i + tag.len()..];
            let b64 = &rest[..rest.find('"').expect("closed attribute")];
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("valid base64");
            image::load_from_memory(&bytes).expect("a valid PNG")
        })
        .collect()
}

/// A CSV dataset over the two fixture images: chelsea labelled with its own prediction
/// (correct), synthetic with a class it does not predict (incorrect).
struct Setup {
    fx: PathBuf,
    csv: PathBuf,
    chelsea: (u64, f64),
    synthetic: (u64, f64),
    wrong: u64,
}

fn setup(dir: &Path) -> Option<Setup> {
    let fx = fixtures()?;
    let chelsea = predict(&fx, &fx.join("chelsea224.png")).0;
    let (synthetic, second) = predict(&fx, &fx.join("synthetic224.png"));
    assert_ne!(
        chelsea.1, synthetic.1,
        "the test needs distinct confidences"
    );
    let wrong = second.0;
    let csv = dir.join("data.csv");
    std::fs::write(
        &csv,
        format!(
            "path,class\n{},{}\n{},{}\n",
            fx.join("chelsea224.png").display(),
            chelsea.0,
            fx.join("synthetic224.png").display(),
            wrong
        ),
    )
    .unwrap();
    Some(Setup {
        fx,
        csv,
        chelsea,
        synthetic,
        wrong,
    })
}

#[test]
fn cases_follow_the_predictions_and_the_report_is_self_contained() {
    let tmp = tmpdir();
    let Some(s) = setup(tmp.path()) else { return };
    // Thresholds half-way between the two confidences: the more confident image is high.
    let mid = (s.chelsea.1 + s.synthetic.1) / 2.0;
    let out = tmp.path().join("out");
    let mut a = args!["cases", &s.csv, "--out", &out, "--high", mid.to_string()];
    a.extend(args!["--low", mid.to_string()]);
    a.extend(model(&s.fx));
    let r = icam(&a);
    r.assert_ok();
    let v = json_file(&out.join("cases.json"));
    let c = &v["counts"];
    assert_eq!(c["images"], 2);
    assert_eq!(c["predicted"], 2);
    assert_eq!(c["correct"], 1);
    assert_eq!(c["between"], 0);
    let chelsea_case = if s.chelsea.1 >= mid {
        "correct_high"
    } else {
        "correct_low"
    };
    let synthetic_case = if s.synthetic.1 >= mid {
        "incorrect_high"
    } else {
        "incorrect_low"
    };
    assert_eq!(c[chelsea_case], 1, "{c}");
    assert_eq!(c[synthetic_case], 1, "{c}");
    let e = entries(&v);
    assert_eq!(e.len(), 2);
    for (case, item) in &e {
        let img = item["image"].as_str().unwrap();
        let ((want_case, (pred, prob)), n_maps) = if img.ends_with("chelsea224.png") {
            ((chelsea_case, s.chelsea), 1)
        } else {
            ((synthetic_case, s.synthetic), 2)
        };
        assert_eq!(case, want_case, "{item}");
        assert_eq!(item["pred"], pred, "{item}");
        let p = item["prob"].as_f64().unwrap();
        assert!((p - prob).abs() <= 1e-9, "prob {p} vs predict's {prob}");
        let maps = item["maps"].as_array().unwrap();
        assert_eq!(maps.len(), n_maps, "{item}");
        assert_eq!(maps[0]["class"], pred);
        assert!(maps[0]["summary"].as_str().unwrap().contains("layers"));
        assert!(maps[0]["warnings"].is_array());
        if n_maps == 2 {
            assert_eq!(item["correct"], false);
            assert_eq!(item["true_class"], s.wrong);
            assert_eq!(maps[1]["class"], s.wrong);
            assert_eq!(item["true_rank"], 2, "the label is predict's second class");
        } else {
            assert_eq!(item["correct"], true);
            assert_eq!(maps[0]["role"], "predicted = true");
        }
    }
    // report.html: one section per case, every picture inline (image + 1 overlay for the
    // correct image, image + 2 overlays for the incorrect one), nothing fetched from outside.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for id in [
        "correct_high",
        "correct_low",
        "incorrect_high",
        "incorrect_low",
    ] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    let pngs = data_uris(&html);
    assert_eq!(pngs.len(), 5);
    assert!(pngs.iter().all(|p| (p.width(), p.height()) == (224, 224)));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(r.stdout.contains("report.html"), "{}", r.stdout);

    // --thumb shrinks the pictures; thresholds that class nothing leave the sections empty
    // (and run no I-CAM at all).
    let out2 = tmp.path().join("out2");
    let mut a = args!["cases", &s.csv, "--out", &out2, "--low", "0", "--high", "1"];
    a.extend(model(&s.fx));
    let r = icam(&a);
    r.assert_ok();
    let v = json_file(&out2.join("cases.json"));
    assert_eq!(v["counts"]["between"], 2);
    assert!(entries(&v).is_empty());
    let html = std::fs::read_to_string(out2.join("report.html")).unwrap();
    assert_eq!(
        html.matches("No image of the dataset fell into this case")
            .count(),
        4
    );
    let out3 = tmp.path().join("out3");
    let mut a = args!["cases", &s.csv, "--out", &out3, "--thumb", "100"];
    a.extend(args!["--low", "0.5", "--high", "0.5", "--order", "dataset"]);
    a.extend(model(&s.fx));
    icam(&a).assert_ok();
    let html = std::fs::read_to_string(out3.join("report.html")).unwrap();
    let pngs = data_uris(&html);
    assert_eq!(pngs.len(), 5);
    assert!(pngs.iter().all(|p| (p.width(), p.height()) == (100, 100)));
}

#[test]
fn unreadable_images_are_skipped_with_a_warning() {
    let tmp = tmpdir();
    let Some(fx) = fixtures() else { return };
    std::fs::write(tmp.path().join("bad.png"), b"not a png").unwrap();
    let csv = tmp.path().join("d.csv");
    std::fs::write(
        &csv,
        format!(
            "bad.png,1\n{},2\nunlabelled.png,\n",
            fx.join("chelsea224.png").display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let mut a = args!["cases", &csv, "--out", &out, "--low", "0", "--high", "1"];
    a.extend(model(&fx));
    let r = icam(&a);
    r.assert_ok();
    assert!(
        r.stderr.lines().any(|l| l.starts_with("warning: bad.png")),
        "{}",
        r.show()
    );
    let v = json_file(&out.join("cases.json"));
    assert_eq!(v["counts"]["failed"], 1);
    assert_eq!(v["counts"]["unlabelled"], 1);
    assert_eq!(v["counts"]["predicted"], 1);
    assert_eq!(v["failures"][0]["image"], "bad.png");
}

fn mtimes(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(mtimes(&p));
        } else {
            let m = std::fs::metadata(&p).unwrap().modified().unwrap();
            v.push((p.clone(), m, std::fs::read(&p).unwrap()));
        }
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn neighbours_come_from_a_cache_that_is_filled_once() {
    let tmp = tmpdir();
    let Some(s) = setup(tmp.path()) else { return };
    // Training folder: the predicted class of the misclassified synthetic image (by index)
    // holds a copy of it and of chelsea; its true class (named by WordNet id) holds chelsea;
    // another class and a hidden folder are never embedded.
    let train = tmp.path().join("train");
    let pred_dir = train.join(s.synthetic.0.to_string());
    let wnid = icam_models::labels::Labels::imagenet()
        .wnid(s.wrong as usize)
        .unwrap()
        .to_string();
    let true_dir = train.join(&wnid);
    let other = train.join(if s.synthetic.0 == 0 { "1" } else { "0" });
    for d in [&pred_dir, &true_dir, &other, &train.join(".hidden")] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (syn, che) = (s.fx.join("synthetic224.png"), s.fx.join("chelsea224.png"));
    std::fs::copy(&syn, pred_dir.join("a.png")).unwrap();
    std::fs::copy(&che, pred_dir.join("b.png")).unwrap();
    std::fs::write(pred_dir.join("notes.txt"), "not an image").unwrap();
    std::fs::copy(&che, true_dir.join("c.png")).unwrap();
    std::fs::copy(&che, other.join("d.png")).unwrap();
    std::fs::write(train.join(".hidden/junk.png"), b"junk").unwrap();

    let run = |out: &str, extra: &[&str]| {
        let out = tmp.path().join(out);
        let mut a = args!["cases", &s.csv, "--out", &out, "--train", &train];
        a.extend(args!["--low", "0.5", "--high", "0.5", "--neighbours", "5"]);
        a.extend(extra.iter().map(OsString::from));
        a.extend(model(&s.fx));
        let r = icam(&a);
        r.assert_ok();
        (r, json_file(&out.join("cases.json")))
    };
    let (r1, v1) = run("o1", &[]);
    assert!(
        r1.stderr
            .contains("neighbours: embedded 3 new training images (0 from the cache"),
        "{}",
        r1.show()
    );
    let cache = train.join(".icam-cache");
    let files = mtimes(&cache);
    // model.json plus one index and one matrix per embedded class folder.
    assert_eq!(files.len(), 5, "{files:?}");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.0.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&format!("class-{wnid}.npy")), "{names:?}");
    assert!(names.contains(&"model.json".to_string()), "{names:?}");

    let syn_entry = |v: &Value| {
        entries(v)
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| e["correct"] == false)
            .unwrap()
    };
    let e1 = syn_entry(&v1);
    let nb = &e1["neighbours"];
    let pred_nb = nb["predicted"]["nearest"].as_array().unwrap();
    assert_eq!(pred_nb.len(), 2, "{nb}");
    // The image itself is in the training folder: its nearest neighbour, cosine 1.
    assert_eq!(pred_nb[0]["file"], format!("{}/a.png", s.synthetic.0));
    assert!((pred_nb[0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    assert!(pred_nb[1]["similarity"].as_f64().unwrap() < 0.9999);
    let true_nb = nb["true"]["nearest"].as_array().unwrap();
    assert_eq!(true_nb.len(), 1);
    assert_eq!(true_nb[0]["file"], format!("{wnid}/c.png"));
    assert_eq!(true_nb[0]["class"], s.wrong);
    let html = std::fs::read_to_string(tmp.path().join("o1/report.html")).unwrap();
    // image + 2 overlays (synthetic), image + 1 overlay (chelsea), 3 training pictures.
    assert_eq!(data_uris(&html).len(), 8);
    assert!(html.contains("Nearest training images of the predicted class"));

    // Second run: nothing embedded, the cache untouched, the same neighbours.
    let (r2, v2) = run("o2", &[]);
    assert!(
        r2.stderr
            .contains("neighbours: embedded 0 new training images (3 from the cache"),
        "{}",
        r2.show()
    );
    assert_eq!(mtimes(&cache), files, "the second run rewrote the cache");
    assert_eq!(syn_entry(&v2)["neighbours"], e1["neighbours"]);

    // --weighted: the query is the map-weighted average; still served from the cache.
    let (r3, v3) = run("o3", &["--weighted"]);
    assert!(r3.stderr.contains("embedded 0 new"), "{}", r3.show());
    let p = &syn_entry(&v3)["neighbours"]["predicted"];
    assert!(
        p["pooling"] == "icam-weighted" || p["pooling"].as_str().unwrap().contains("all zero"),
        "{p}"
    );

    // A changed training image is embedded again (stale entry), the others are not.
    std::fs::copy(&syn, pred_dir.join("b.png")).unwrap();
    let (r4, v4) = run("o4", &[]);
    assert!(
        r4.stderr
            .contains("neighbours: embedded 1 new training images (2 from the cache"),
        "{}",
        r4.show()
    );
    let p = syn_entry(&v4)["neighbours"]["predicted"]["nearest"].clone();
    assert!(
        (p[1]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-6,
        "{p}"
    );

    // A torn cache (matrix replaced) is detected and recomputed with a warning.
    let npy = mtimes(&cache)
        .into_iter()
        .find(|f| {
            f.0.to_string_lossy()
                .ends_with(&format!("class-{wnid}.npy"))
        })
        .unwrap()
        .0;
    std::fs::write(&npy, b"garbage").unwrap();
    let (r5, _) = run("o5", &[]);
    assert!(r5.stderr.contains("embedded 1 new"), "{}", r5.show());
    assert!(
        r5.stderr.contains("warning: feature cache of"),
        "{}",
        r5.show()
    );
}

#[test]
fn bad_options_and_inputs_are_one_line_errors() {
    let tmp = tmpdir();
    let out = tmp.path().join("out");
    let csv = tmp.path().join("d.csv");
    std::fs::write(&csv, "x.png,1\n").unwrap();
    let fails = |extra: Vec<OsString>, needle: &str| {
        let mut a = args!["cases", &csv, "--out", &out];
        a.extend(extra);
        assert_one_error(&icam(&a), needle);
        assert!(!out.exists(), "a failed run left {}", out.display());
    };
    fails(
        args!["--low", "0.8", "--high", "0.2"],
        "--low (0.8) must not exceed",
    );
    fails(args!["--high", "1.5"], "--high must lie in [0, 1]");
    fails(args!["--low", "-0.1"], "--low must lie in [0, 1]");
    fails(args!["--per-case", "0"], "--per-case must be at least 1");
    fails(args!["--weighted"], "--weighted needs --train");
    fails(args!["--thumb", "3"], "--thumb must lie in");
    fails(args!["--alpha", "2"], "alpha");
    let mut a = args!["cases", tmp.path().join("missing.csv"), "--out", &out];
    a.extend(args!["--weights", tmp.path().join("w.safetensors")]);
    assert_one_error(&icam(&a), "missing.csv");

    let folder = tmp.path().join("plain");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.png"), b"never decoded").unwrap();
    let mut a = args!["cases", &folder, "--out", &out];
    a.extend(args!["--weights", tmp.path().join("w.safetensors")]);
    assert_one_error(&icam(&a), "none of the 1 images");
    assert!(!out.exists());

    let Some(fx) = fixtures() else { return };
    let model = model(&fx);
    std::fs::write(
        &csv,
        format!("{},not a class name\n", fx.join("chelsea224.png").display()),
    )
    .unwrap();
    let mut a = model.clone();
    a.extend(args!["--class-map", "other=1"]);
    fails(a, "label `not a class name` names no class of the model");
    std::fs::write(
        &csv,
        format!("{},12345\n", fx.join("chelsea224.png").display()),
    )
    .unwrap();
    fails(model.clone(), "out of range");
    std::fs::write(&csv, format!("{},1\n", fx.join("chelsea224.png").display())).unwrap();
    let train = tmp.path().join("train");
    std::fs::create_dir_all(train.join("no such class")).unwrap();
    let mut a = model.clone();
    a.extend(args!["--train", &train]);
    fails(a, "sub-folder `no such class` names no class of the model");
    let mut a = model.clone();
    a.extend(args!["--train", tmp.path().join("nowhere")]);
    fails(a, "not a folder");
    let mut a = model;
    a.extend(args!["--train", &train, "--neighbours", "0"]);
    fails(a, "--neighbours must be at least 1");
}

/// The VOC elephants with the default model (EfficientNet-Lite0): every image predicted,
/// each in one case or between, the report written.
#[test]
fn voc_elephants_with_the_default_model() {
    let data = shared_dir().join("data/voc-elephants");
    if !data.is_dir() {
        eprintln!("SKIPPED: {} not found", data.display());
        return;
    }
    if !lite0_cached() {
        return;
    }
    let tmp = tmpdir();
    let out = tmp.path().join("out");
    let r = icam(args![
        "cases",
        &data,
        "--out",
        &out,
        "--per-case",
        "1",
        "--n",
        "2"
    ]);
    r.assert_ok();
    let v = json_file(&out.join("cases.json"));
    let c = &v["counts"];
    assert_eq!(c["images"], 10);
    assert_eq!(c["predicted"], 10);
    let classed: u64 = [
        "correct_high",
        "correct_low",
        "incorrect_high",
        "incorrect_low",
    ]
    .iter()
    .map(|k| c[*k].as_u64().unwrap())
    .sum();
    assert_eq!(classed + c["between"].as_u64().unwrap(), 10, "{c}");
    for (_, e) in entries(&v) {
        let truth = e["true_classes"].as_array().unwrap();
        assert_eq!(truth.len(), 2, "elephant = Indian + African: {e}");
        assert_eq!(
            e["correct"].as_bool().unwrap(),
            truth.contains(&e["pred"]),
            "{e}"
        );
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,"));
}
