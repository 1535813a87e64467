//! End-to-end tests of the `icam` binary.
//!
//! The developers' guide: bad input never panics. Every failure below must give exactly one
//! line on stderr starting with `error: `, a non-zero exit status, no `panicked`, and no
//! output left behind (a new `--out` folder must not exist afterwards, an existing one must be
//! unchanged). The positive tests compare the outputs with the reference goldens.
//!
//! Tests that need the reference fixtures (`../shared/reference/fixtures`, or `$ICAM_SHARED`)
//! or the cached EfficientNet-Lite0 weights print `SKIPPED: …` and pass when those are absent.
//! Tests marked `#[ignore = "BUG: …"]` reproduce known CLI bugs; run them with
//! `cargo test --release -p icam-cli --test cli -- --ignored`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{
    Run, args, assert_one_error, example_image, fixtures_with, icam, icam_limited, json_file,
    lite0_cached, tmpdir,
};

// ---------------------------------------------------------------------------------------------
// Running the binary

/// Every file (with its bytes) and folder under `dir`; `None` if `dir` does not exist.
fn snapshot(dir: &Path) -> Option<BTreeMap<PathBuf, Option<Vec<u8>>>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                into.insert(rel, None);
                walk(root, &p, into);
            } else {
                into.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    if !dir.exists() {
        return None;
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    Some(m)
}

/// Run an `icam explain` that must fail with `needle`, twice: with `--out` a folder that does
/// not exist (it must not exist afterwards) and with `--out` an existing folder holding an
/// earlier run's files (they must be unchanged).
fn explain_fails(tmp: &Path, label: &str, args: &[OsString], needle: &str) -> String {
    let fresh = tmp.join(format!("out-{label}"));
    let mut a = args.to_vec();
    a.extend(args!["--out", &fresh]);
    let msg = assert_one_error(&icam(&a), needle);
    assert!(
        !fresh.exists(),
        "{label}: the failed run left {} behind",
        fresh.display()
    );

    let existing = tmp.join(format!("existing-{label}"));
    std::fs::create_dir_all(existing.join("class-509")).unwrap();
    for (name, body) in [
        ("heatmap.npy", "old heatmap"),
        ("overlay.png", "old overlay"),
        ("report.json", "{\"old\": true}"),
        ("class-509/heatmap.npy", "old class heatmap"),
    ] {
        std::fs::write(existing.join(name), body).unwrap();
    }
    let before = snapshot(&existing);
    let mut a = args.to_vec();
    a.extend(args!["--out", &existing]);
    let msg2 = assert_one_error(&icam(&a), needle);
    assert_eq!(msg, msg2, "{label}: the message depends on --out");
    assert!(
        snapshot(&existing) == before,
        "{label}: the failed run changed the existing --out folder"
    );
    msg
}

// ---------------------------------------------------------------------------------------------
// Fixtures

struct Fx {
    dir: PathBuf,
}

impl Fx {
    fn weights(&self) -> PathBuf {
        self.dir.join("resnet50_seed0.safetensors")
    }
    fn image(&self) -> PathBuf {
        self.dir.join("chelsea224.png")
    }
    fn noise(&self) -> PathBuf {
        self.dir.join("noise_n8_seed0.npy")
    }
    fn mask(&self) -> PathBuf {
        self.dir.join("mask_n8_a0.4_seed0.npy")
    }
    fn golden(&self, name: &str) -> PathBuf {
        self.dir.join("golden").join(name)
    }
    /// `--weights W --no-resize`, the reference's setting.
    fn model(&self) -> Vec<OsString> {
        args!["--weights", self.weights(), "--no-resize"]
    }
    /// `--noise N --mask M --preset paper`, the reference's perturbations and options.
    fn pert(&self) -> Vec<OsString> {
        args![
            "--noise",
            self.noise(),
            "--mask",
            self.mask(),
            "--preset",
            "paper"
        ]
    }
}

/// The reference fixtures with every file in `need` (relative to the fixtures folder), or
/// `None` with a printed reason.
fn fixtures(need: &[&str]) -> Option<Fx> {
    let base = [
        "resnet50_seed0.safetensors",
        "chelsea224.png",
        "noise_n8_seed0.npy",
        "mask_n8_a0.4_seed0.npy",
    ];
    let all: Vec<&str> = base.iter().chain(need).copied().collect();
    fixtures_with(&all).map(|dir| Fx { dir })
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A float32 `.npy` as (shape, values); panics unless it is `<f4`.
fn read_npy_f32(p: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(
        f.dtype(),
        npyz::DType::new_scalar("<f4".parse().unwrap()),
        "{} is not float32",
        p.display()
    );
    let shape = f.shape().to_vec();
    (shape, f.into_vec::<f32>().unwrap())
}

fn npy_bytes<T: npyz::AutoSerialize + npyz::Serialize + Copy>(
    shape: &[u64],
    data: &[T],
) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    buf
}

/// An `.npy` (version 1.0) with a hand-written header dictionary.
fn npy_raw(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// (max |a − b|, mean |a − b|).
fn diff(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .collect();
    let max = d.iter().copied().fold(0.0, f64::max);
    (max, d.iter().sum::<f64>() / d.len() as f64)
}

/// A heatmap written by icam: float32, `h`×`w`, finite, in [0, 1].
fn heatmap(dir: &Path, h: u64, w: u64) -> Vec<f32> {
    let (shape, v) = read_npy_f32(&dir.join("heatmap.npy"));
    assert_eq!(shape, vec![h, w], "heatmap shape");
    assert!(
        v.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x)),
        "heatmap values must lie in [0, 1]"
    );
    v
}

fn assert_png(p: &Path, w: u32, h: u32) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if w > 0 {
        assert_eq!((img.width(), img.height()), (w, h), "{}", p.display());
    }
}

// ---------------------------------------------------------------------------------------------
// safetensors surgery on the reference weights

struct StTensor {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    data: Vec<u8>,
}

struct St {
    metadata: Option<Value>,
    tensors: Vec<StTensor>,
}

impl St {
    fn read(p: &Path) -> Self {
        let bytes = std::fs::read(p).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Map<String, Value> =
            serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let data = &bytes[8 + n..];
        let mut metadata = None;
        let mut tensors = Vec::new();
        for (name, v) in header {
            if name == "__metadata__" {
                metadata = Some(v);
                continue;
            }
            let off: Vec<usize> = serde_json::from_value(v["data_offsets"].clone()).unwrap();
            tensors.push((
                off[0],
                StTensor {
                    name,
                    dtype: v["dtype"].as_str().unwrap().to_string(),
                    shape: serde_json::from_value(v["shape"].clone()).unwrap(),
                    data: data[off[0]..off[1]].to_vec(),
                },
            ));
        }
        tensors.sort_by_key(|(o, _)| *o);
        Self {
            metadata,
            tensors: tensors.into_iter().map(|(_, t)| t).collect(),
        }
    }

    fn get(&mut self, name: &str) -> &mut StTensor {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    fn bytes(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        if let Some(m) = &self.metadata {
            header.insert("__metadata__".into(), m.clone());
        }
        let mut off = 0usize;
        for t in &self.tensors {
            header.insert(
                t.name.clone(),
                serde_json::json!({
                    "dtype": t.dtype,
                    "shape": t.shape,
                    "data_offsets": [off, off + t.data.len()],
                }),
            );
            off += t.data.len();
        }
        let mut h = serde_json::to_vec(&header).unwrap();
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
        }
        out
    }

    fn write(&self, p: &Path) -> PathBuf {
        std::fs::write(p, self.bytes()).unwrap();
        p.to_path_buf()
    }
}

/// A PNG of `w`×`h`, mid grey.
fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]))
        .write_to(&mut buf, image::ImageFormat::Png)
        .unwrap();
    buf.into_inner()
}

// ---------------------------------------------------------------------------------------------
// Errors: images

#[test]
fn corrupt_images_are_one_line_errors() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    let png = std::fs::read(fx.image()).unwrap();
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "garbage",
            write(dir, "garbage.png", b"this is not an image at all"),
            "cannot decode image",
        ),
        (
            "truncated",
            write(dir, "truncated.png", &png[..png.len() / 3]),
            "cannot decode image",
        ),
        ("empty", write(dir, "empty.png", b""), "cannot decode image"),
        (
            "bad-jpeg",
            write(dir, "bad.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00garbage"),
            "cannot decode image",
        ),
        (
            "missing",
            dir.join("no-such-image.png"),
            "image not found: ",
        ),
        (
            "folder",
            {
                std::fs::create_dir(dir.join("a-folder.png")).unwrap();
                dir.join("a-folder.png")
            },
            "image not found: ",
        ),
        (
            "too-small",
            write(dir, "small.png", &png_bytes(16, 16)),
            "the image is 16×16; the model needs at least 32×32",
        ),
    ];
    for (label, img, needle) in cases {
        let mut a = args!["explain", &img];
        a.extend(fx.model());
        let msg = explain_fails(dir, label, &a, needle);
        assert!(msg.contains(&*img.to_string_lossy()), "{label}: {msg}");
        // predict: the same one-line error, naming the image.
        let mut a = args!["predict", &img];
        a.extend(fx.model());
        assert_one_error(&icam(&a), &img.to_string_lossy());
    }
}

/// A 1×1,000,000 PNG (a few kB) passes the decoder's memory limit but the resize to a shorter
/// side of 256 asks for 256×256,000,000 pixels: icam aborts with "memory allocation of … bytes
/// failed" (SIGABRT) or is OOM-killed, instead of refusing the image.
#[test]
fn extreme_aspect_ratio_image_is_refused() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let img = write(t.path(), "tall.png", &png_bytes(1, 1_000_000));
    let out = t.path().join("out");
    let a = args!["explain", &img, "--weights", fx.weights(), "--out", &out];
    let r = icam_limited(8_000_000, &a);
    assert_one_error(&r, &img.display().to_string());
    assert!(!out.exists());
    let r = icam_limited(8_000_000, args!["predict", &img, "--weights", fx.weights()]);
    assert_one_error(&r, &img.display().to_string());
}

// ---------------------------------------------------------------------------------------------
// Errors: weight files

#[test]
fn bad_weight_files_are_one_line_errors() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    let good = std::fs::read(fx.weights()).unwrap();

    let mut hostile = (1u64 << 62).to_le_bytes().to_vec();
    hostile.extend_from_slice(b"{\"a\":1}");
    let header = br#"{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}"#;
    let mut past_end = (header.len() as u64).to_le_bytes().to_vec();
    past_end.extend_from_slice(header);
    past_end.extend_from_slice(&[0u8; 16]);
    let header = br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let mut unknown = (header.len() as u64).to_le_bytes().to_vec();
    unknown.extend_from_slice(header);
    unknown.extend_from_slice(&[0u8; 16]);

    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "garbage",
            write(dir, "garbage.bin", b"hello, this is not a model"),
            "not a safetensors file or a PyTorch .pth checkpoint (unrecognised first bytes)",
        ),
        (
            "empty",
            write(dir, "empty.safetensors", b""),
            "not a safetensors file or a PyTorch .pth checkpoint",
        ),
        (
            "truncated-safetensors",
            write(dir, "trunc.safetensors", &good[..good.len() - 10]),
            "invalid weight file ",
        ),
        (
            "half-safetensors",
            write(dir, "half.safetensors", &good[..good.len() / 2]),
            "invalid weight file ",
        ),
        (
            "hostile-header-length",
            write(dir, "hostile.safetensors", &hostile),
            "invalid weight file ",
        ),
        (
            "offsets-past-end",
            write(dir, "offsets.safetensors", &past_end),
            "invalid weight file ",
        ),
        (
            "hostile-legacy-pth",
            write(dir, "legacy.pth", b"\x80\x02garbage, not a pickle"),
            "invalid weight file ",
        ),
        (
            "hostile-zip-pth",
            write(dir, "zip.pth", b"PK\x03\x04garbage, not a zip archive"),
            "invalid weight file ",
        ),
        (
            "unknown-layout",
            write(dir, "unknown.safetensors", &unknown),
            "cannot tell the architecture of ",
        ),
        (
            "missing-file",
            dir.join("no-such-weights.safetensors"),
            "cannot read ",
        ),
    ];
    for (label, w, needle) in cases {
        let a = args!["explain", fx.image(), "--weights", &w, "--no-resize"];
        let msg = explain_fails(dir, label, &a, needle);
        assert!(msg.contains(&*w.to_string_lossy()), "{label}: {msg}");
        let a = args!["predict", fx.image(), "--weights", &w];
        assert_one_error(&icam(&a), needle);
    }

    // Truncated zip and legacy checkpoints (the model zoo's small test files), when present.
    let zoo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../icam-models/tests/fixtures");
    for name in ["weights_small_zip.pth", "weights_small_legacy.pth"] {
        let Ok(full) = std::fs::read(zoo.join(name)) else {
            eprintln!("SKIPPED: {} not found", zoo.join(name).display());
            continue;
        };
        for cut in [full.len() / 3, full.len() / 2, full.len() - 7] {
            let w = write(dir, &format!("cut{cut}_{name}"), &full[..cut]);
            let a = args!["explain", fx.image(), "--weights", &w];
            explain_fails(dir, &format!("cut{cut}-{name}"), &a, "invalid weight file ");
        }
    }
}

/// A missing `--weights` file (explain and predict) or a missing image (predict): the OS
/// error is printed twice ("cannot read X: No such file or directory (os error 2): No such
/// file or directory (os error 2)"), because `ModelError::Io` shows its source in its own
/// message and main's `{:#}` shows the source chain again.
#[test]
fn missing_file_message_is_not_repeated() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let w = t.path().join("nope.safetensors");
    let img = t.path().join("nope.png");
    for a in [
        args!["predict", fx.image(), "--weights", &w],
        args![
            "explain",
            fx.image(),
            "--weights",
            &w,
            "--out",
            t.path().join("o")
        ],
        args!["predict", &img, "--weights", fx.weights()],
    ] {
        let msg = assert_one_error(&icam(&a), "cannot read ");
        assert_eq!(
            msg.matches("(os error 2)").count(),
            1,
            "repeated cause: {msg}"
        );
    }
}

#[test]
fn misfit_weights_name_the_tensor() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    let path = dir.join("edited.safetensors");
    let edited = |f: &dyn Fn(&mut St)| {
        let mut st = St::read(&fx.weights());
        f(&mut st);
        st.write(&path)
    };
    type Edit = Box<dyn Fn(&mut St)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "shape-mismatch",
            Box::new(|st: &mut St| st.get("layer2.0.conv2.weight").shape = vec![128, 64, 3, 3, 2]),
            "tensor `layer2.0.conv2.weight` has shape [128, 64, 3, 3, 2] but resnet50 expects [128, 128, 3, 3]",
        ),
        (
            "missing-tensor",
            Box::new(|st: &mut St| st.tensors.retain(|t| t.name != "layer3.4.bn2.running_var")),
            "weights for resnet50 lack tensor `layer3.4.bn2.running_var` (expected shape [256])",
        ),
        (
            "extra-tensor",
            Box::new(|st: &mut St| {
                let b = st.get("fc.bias");
                let extra = StTensor {
                    name: "head.extra".into(),
                    dtype: b.dtype.clone(),
                    shape: b.shape.clone(),
                    data: b.data.clone(),
                };
                st.tensors.push(extra);
            }),
            "weights hold tensor `head.extra` (shape [1000]) that resnet50 does not use",
        ),
        (
            "nan-weight",
            Box::new(|st: &mut St| {
                let t = st.get("layer1.0.bn1.weight");
                assert_eq!(t.dtype, "F32");
                t.data[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
            }),
            "tensor `layer1.0.bn1.weight` holds a non-finite value (NaN or infinity)",
        ),
        (
            "integer-weight",
            Box::new(|st: &mut St| st.get("conv1.weight").dtype = "I32".into()),
            "tensor `conv1.weight` has element type i32, which cannot be a weight",
        ),
        (
            "inconsistent-bytes",
            Box::new(|st: &mut St| st.get("conv1.weight").shape = vec![64, 3, 7, 8]),
            "invalid weight file ",
        ),
        (
            "hostile-metadata-arch",
            Box::new(|st: &mut St| {
                st.metadata = Some(serde_json::json!({"arch": "vgg16"}));
            }),
            "unknown architecture `vgg16`",
        ),
    ];
    for (label, f, needle) in cases {
        let w = edited(&*f);
        let mut a = args!["explain", fx.image(), "--weights", &w, "--no-resize"];
        a.extend(fx.pert());
        explain_fails(dir, label, &a, needle);
        let a = args!["predict", fx.image(), "--weights", &w];
        assert_one_error(&icam(&a), needle);
    }

    // The wrong or an unknown --arch.
    let mut a = fx.model();
    a.splice(0..0, args!["explain", fx.image(), "--arch", "resnet18"]);
    explain_fails(
        dir,
        "wrong-arch",
        &a,
        "are resnet50, not resnet18; pass --arch resnet50",
    );
    let mut a = fx.model();
    a.splice(0..0, args!["explain", fx.image(), "--arch", "vgg16"]);
    explain_fails(
        dir,
        "unknown-arch",
        &a,
        "unknown architecture `vgg16`; known: resnet18",
    );
}

// ---------------------------------------------------------------------------------------------
// Errors: layers, classes, options

#[test]
fn unknown_layers_and_classes() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    let base = |extra: Vec<OsString>| {
        let mut a = args!["explain", fx.image()];
        a.extend(fx.model());
        a.extend(extra);
        a
    };
    let layer_msg = "unknown layer `layer9.9` for resnet50; valid layers: layer1.0, layer1.1";
    explain_fails(
        dir,
        "layer",
        &base(args!["--layers", "layer9.9"]),
        layer_msg,
    );
    explain_fails(
        dir,
        "layer-second",
        &base(args!["--layers", "layer4.2,layer9.9"]),
        layer_msg,
    );
    explain_fails(
        dir,
        "layer-gradcam",
        &base(args!["--method", "gradcam", "--layers", "layer9.9"]),
        layer_msg,
    );
    explain_fails(
        dir,
        "layer-empty",
        &base(args!["--layers", ""]),
        "unknown layer `` for resnet50",
    );
    let m = explain_fails(dir, "class-1000", &base(args!["--class", "1000"]), "");
    assert_eq!(
        m,
        "class 1000 is out of range: the model has 1000 classes (0..999)"
    );
    explain_fails(
        dir,
        "class-huge",
        &base(args!["--class", "509,99999999999999999999999"]),
        "",
    );
    explain_fails(
        dir,
        "class-second",
        &base(args!["--method", "gradcam", "--class", "509,1000"]),
        "class 1000 is out of range",
    );
    explain_fails(
        dir,
        "class-name",
        &base(args!["--class", "no such thing"]),
        "unknown class `no such thing`",
    );
    explain_fails(dir, "class-negative", &base(args!["--class=-1"]), "-1");
}

#[test]
fn bad_option_values() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "alpha-0",
            &["--alpha", "0"],
            "--alpha must lie in (0, 1), got 0",
        ),
        (
            "alpha-1",
            &["--alpha", "1"],
            "--alpha must lie in (0, 1), got 1",
        ),
        (
            "alpha-1.5",
            &["--alpha", "1.5"],
            "--alpha must lie in (0, 1), got 1.5",
        ),
        (
            "alpha-neg",
            &["--alpha=-0.1"],
            "--alpha must lie in (0, 1), got -0.1",
        ),
        (
            "alpha-nan",
            &["--alpha", "nan"],
            "--alpha must lie in (0, 1), got NaN",
        ),
        (
            "alpha-inf",
            &["--alpha", "inf"],
            "--alpha must lie in (0, 1), got inf",
        ),
        (
            "n-0",
            &["--n", "0"],
            "--n must be at least 1 (the number of perturbations)",
        ),
        (
            "threshold-0",
            &["--threshold", "0"],
            "--threshold must lie in (0, 1], got 0",
        ),
        (
            "threshold-1.01",
            &["--threshold", "1.01"],
            "--threshold must lie in (0, 1], got 1.01",
        ),
        (
            "threshold-neg",
            &["--threshold=-0.5"],
            "--threshold must lie in (0, 1], got -0.5",
        ),
        (
            "threshold-nan",
            &["--threshold", "nan"],
            "--threshold must lie in (0, 1], got NaN",
        ),
        (
            "svim-sigma-0",
            &["--svim-sigma", "0"],
            "--svim-sigma must be positive, got 0",
        ),
    ];
    for (label, extra, needle) in cases {
        let mut a = args!["explain", fx.image()];
        a.extend(fx.model());
        a.extend(extra.iter().map(OsString::from));
        let m = explain_fails(dir, label, &a, needle);
        assert_eq!(&m, needle, "{label}");
        // Options are checked before anything is loaded: also with a missing model.
        let mut a = args![
            "explain",
            fx.image(),
            "--model-dir",
            dir.join("empty-cache")
        ];
        a.extend(extra.iter().map(OsString::from));
        explain_fails(dir, &format!("{label}-nomodel"), &a, needle);
    }
    let mut a = args!["predict", fx.image(), "--top-k", "0"];
    a.extend(fx.model());
    assert_eq!(
        assert_one_error(&icam(&a), ""),
        "--top-k must be at least 1"
    );
}

/// `--alpha -0.1` (value as a separate word): clap takes `-0` for a flag and prints its
/// 7-line usage error ("unexpected argument '-0' found", exit 2) instead of the range error.
#[test]
fn negative_values_reach_the_range_check() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let mut a = args!["explain", fx.image(), "--alpha", "-0.1"];
    a.extend(fx.model());
    explain_fails(
        t.path(),
        "alpha-neg",
        &a,
        "--alpha must lie in (0, 1), got -0.1",
    );
}

/// `--n 100000` is accepted and the perturbation draw asks for 60 GB: icam aborts with
/// "memory allocation of 60211200000 bytes failed" (SIGABRT), no `error:` line.
#[test]
fn huge_n_is_refused() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let out = t.path().join("out");
    let mut a = args!["explain", fx.image(), "--n", "100000", "--out", &out];
    a.extend(fx.model());
    assert_one_error(&icam_limited(8_000_000, &a), "--n");
    assert!(!out.exists());
}

/// `--gradcampp-eps nan`, `inf` or `-1` are accepted; the run "succeeds" with an all-zero
/// heatmap and report.json records `"gradcampp_eps": null` for NaN/inf.
#[test]
fn bad_gradcampp_eps_is_refused() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    for (label, eps) in [("nan", "nan"), ("inf", "inf"), ("neg", "-1")] {
        let mut a = args![
            "explain",
            fx.image(),
            "--method",
            "gradcampp",
            format!("--gradcampp-eps={eps}")
        ];
        a.extend(fx.model());
        explain_fails(t.path(), label, &a, "--gradcampp-eps");
    }
}

/// Usage errors are clap's: several lines, exit status 2, but still `error: ` first, no
/// panic and no output.
#[test]
fn usage_errors_are_clap_errors() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let out = t.path().join("out");
    let cases: Vec<(Vec<OsString>, &str)> = vec![
        (
            args!["explain", fx.image(), "--noise", fx.noise()],
            "the following required arguments were not provided",
        ),
        (
            args!["explain", fx.image(), "--mask", fx.mask()],
            "the following required arguments were not provided",
        ),
        (
            args!["explain", fx.image(), "--alpha", "abc"],
            "invalid value 'abc' for '--alpha <ALPHA>'",
        ),
        (args!["explain", fx.image(), "--n", "-3"], ""),
        (
            args!["explain", fx.image(), "--method", "bogus"],
            "invalid value 'bogus' for '--method <METHOD>'",
        ),
        (
            args!["explain", fx.image(), "--dtype", "float16"],
            "invalid value 'float16' for '--dtype <DTYPE>'",
        ),
    ];
    for (mut a, needle) in cases {
        a.extend(args!["--out", &out]);
        a.extend(fx.model());
        let r = icam(&a);
        assert_eq!(r.code, Some(2), "{}", r.show());
        assert!(!r.stderr.contains("panicked"), "{}", r.show());
        let first = r.stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("error: "), "{}", r.show());
        assert!(r.stderr.contains(needle), "{needle:?}:\n{}", r.show());
        assert!(r.stdout.is_empty(), "{}", r.show());
        assert!(!out.exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: --noise / --mask

#[test]
fn mismatched_noise_and_mask_files() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    let noise_bytes = std::fs::read(fx.noise()).unwrap();
    let hw = 224 * 224;
    let ones = vec![1u8; 8 * hw];
    let mask4 = write(
        dir,
        "mask4.npy",
        &npy_bytes(&[4, 1, 224, 224], &ones[..4 * hw]),
    );
    let mut twos = ones.clone();
    twos[100] = 2;
    let mask_two = write(dir, "mask_two.npy", &npy_bytes(&[8, 1, 224, 224], &twos));
    let mask112 = write(
        dir,
        "mask112.npy",
        &npy_bytes(&[8, 1, 112, 112], &ones[..8 * 112 * 112]),
    );
    let mut nan = vec![0f32; 3 * hw];
    nan[7] = f32::NAN;
    let noise_nan = write(dir, "noise_nan.npy", &npy_bytes(&[1, 3, 224, 224], &nan));
    let mask1 = write(dir, "mask1.npy", &npy_bytes(&[1, 1, 224, 224], &ones[..hw]));
    let noise112 = write(
        dir,
        "noise112.npy",
        &npy_bytes(&[8, 3, 112, 112], &vec![0f32; 8 * 3 * 112 * 112]),
    );
    let noise_cut = write(dir, "noise_cut.npy", &noise_bytes[..noise_bytes.len() / 2]);
    let not_npy = write(dir, "not.npy", b"not a numpy file");
    let structured = write(
        dir,
        "structured.npy",
        &npy_raw(
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            &[0; 8],
        ),
    );
    let wide = write(dir, "wide.png", &png_bytes(300, 224));

    let image = fx.image();
    let (n, m) = (fx.noise(), fx.mask());
    let cases: Vec<(&str, Vec<OsString>, &str)> = vec![
        (
            "n-differs",
            args![&image, "--noise", &n, "--mask", &m, "--n", "4"],
            "the noise/mask files hold 8 perturbations of 224×224, but the run needs 4 of 224×224 (--n, image size)",
        ),
        (
            "image-size-differs",
            args![&wide, "--noise", &n, "--mask", &m],
            "the noise/mask files hold 8 perturbations of 224×224, but the run needs 8 of 300×224",
        ),
        (
            "size-differs",
            args![&image, "--noise", &noise112, "--mask", &mask112],
            "the noise/mask files hold 8 perturbations of 112×112, but the run needs 8 of 224×224",
        ),
        (
            "swapped",
            args![&image, "--noise", &m, "--mask", &n],
            "noise must have shape (n, 3, H, W), got [8, 1, 224, 224]",
        ),
        (
            "mask-count",
            args![&image, "--noise", &n, "--mask", &mask4],
            "mask shape [4, 1, 224, 224] does not match noise shape [8, 3, 224, 224]",
        ),
        (
            "mask-size",
            args![&image, "--noise", &n, "--mask", &mask112],
            "mask shape [8, 1, 112, 112] does not match noise shape [8, 3, 224, 224]",
        ),
        (
            "mask-values",
            args![&image, "--noise", &n, "--mask", &mask_two],
            "mask must hold only 0 and 1",
        ),
        (
            "noise-nan",
            args![&image, "--noise", &noise_nan, "--mask", &mask1, "--n", "1"],
            "noise holds NaN or infinity",
        ),
        (
            "noise-truncated",
            args![&image, "--noise", &noise_cut, "--mask", &m],
            "noise_cut.npy",
        ),
        (
            "noise-not-npy",
            args![&image, "--noise", &not_npy, "--mask", &m],
            "is not a valid .npy file",
        ),
        (
            "mask-missing",
            args![&image, "--noise", &n, "--mask", dir.join("nope.npy")],
            "nope.npy",
        ),
        (
            "noise-structured",
            args![&image, "--noise", &structured, "--mask", &m],
            "structured.npy",
        ),
    ];
    for (label, extra, needle) in cases {
        let mut a = args!["explain"];
        a.extend(extra);
        a.extend(fx.model());
        explain_fails(dir, label, &a, needle);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors after the network pass: nothing is written

#[test]
fn failures_after_the_network_pass_leave_nothing() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let dir = t.path();
    // fc row 282 zero: class 282 has an all-zero gradient, class 509 is fine.
    let mut st = St::read(&fx.weights());
    let fc = st.get("fc.weight");
    assert_eq!(
        (fc.dtype.as_str(), fc.shape.as_slice()),
        ("F32", &[1000, 2048][..])
    );
    fc.data[282 * 2048 * 4..283 * 2048 * 4].fill(0);
    let w = st.write(&dir.join("fc282zero.safetensors"));
    let zero = "the gradient of class 282 is zero at every explained layer";
    let base = |extra: Vec<OsString>| {
        let mut a = args!["explain", fx.image(), "--weights", &w, "--no-resize"];
        a.extend(extra);
        a
    };
    explain_fails(
        dir,
        "zero-grad",
        &base(args!["--class", "282", "--n", "2"]),
        zero,
    );
    // Several classes: the first succeeds, the second fails; nothing of the first is written.
    explain_fails(
        dir,
        "zero-grad-second",
        &base(args!["--class", "509,282", "--n", "2"]),
        zero,
    );

    // A commit that fails half-way (report.json is a folder): the files written before it
    // are removed again; the folder is as it was.
    let out = dir.join("blocked");
    std::fs::create_dir_all(out.join("report.json")).unwrap();
    std::fs::write(out.join("report.json/keep"), "x").unwrap();
    let before = snapshot(&out);
    let mut a = args!["explain", fx.image(), "--method", "gradcam", "--out", &out];
    a.extend(fx.model());
    assert_one_error(&icam(&a), "report.json");
    assert!(
        snapshot(&out) == before,
        "a failed commit changed {}",
        out.display()
    );

    // --out below a regular file.
    let file = write(dir, "a-file", b"x");
    let mut a = args![
        "explain",
        fx.image(),
        "--method",
        "gradcam",
        "--out",
        file.join("sub")
    ];
    a.extend(fx.model());
    assert_one_error(&icam(&a), "a-file");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

/// A commit that fails half-way into an existing --out folder deletes the earlier run's
/// heatmap.npy/overlay.png/layers.png: they were replaced by rename and then removed by the
/// rollback, so the folder is not "unchanged".
#[test]
fn failed_commit_keeps_earlier_files() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let out = t.path().join("out");
    std::fs::create_dir_all(out.join("report.json")).unwrap();
    std::fs::write(out.join("heatmap.npy"), "earlier heatmap").unwrap();
    std::fs::write(out.join("overlay.png"), "earlier overlay").unwrap();
    let before = snapshot(&out);
    let mut a = args!["explain", fx.image(), "--method", "gradcam", "--out", &out];
    a.extend(fx.model());
    assert_one_error(&icam(&a), "report.json");
    assert!(
        snapshot(&out) == before,
        "left: {:?}",
        snapshot(&out).map(|m| m.into_keys().collect::<Vec<_>>())
    );
}

// ---------------------------------------------------------------------------------------------
// The default model and the store

#[test]
fn missing_default_model_names_the_fetch_command() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let empty = t.path().join("cache");
    std::fs::create_dir(&empty).unwrap();
    let a = args!["explain", fx.image(), "--model-dir", &empty];
    let m = explain_fails(
        t.path(),
        "no-model",
        &a,
        "icam model fetch efficientnet-lite0",
    );
    assert!(m.contains(&*empty.to_string_lossy()), "{m}");
    let a = args!["predict", fx.image(), "--model-dir", &empty];
    assert_one_error(&icam(&a), "icam model fetch efficientnet-lite0");
    let a = args![
        "explain",
        fx.image(),
        "--model-dir",
        &empty,
        "--model",
        "efficientnet-lite2"
    ];
    explain_fails(
        t.path(),
        "no-model2",
        &a,
        "icam model fetch efficientnet-lite2",
    );
    let a = args![
        "explain",
        fx.image(),
        "--model",
        "bogus",
        "--model-dir",
        &empty
    ];
    explain_fails(
        t.path(),
        "unknown-model",
        &a,
        "unknown model `bogus`; known models: efficientnet-lite0, efficientnet-lite1, efficientnet-lite2",
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn model_list_json_of_an_empty_cache() {
    let t = tmpdir();
    let empty = t.path().join("cache");
    let r = icam(args!["model", "list", "--json", "--model-dir", &empty]);
    r.assert_ok();
    let v: Value = serde_json::from_str(&r.stdout).expect("model list --json is JSON");
    let rows = v.as_array().expect("an array of models");
    let lite0 = rows
        .iter()
        .find(|m| m["name"] == "efficientnet-lite0")
        .expect("efficientnet-lite0 is listed");
    assert_eq!(lite0["cached"], false);
    assert_eq!(lite0["arch"], "efficientnet_lite0");
    let path = PathBuf::from(lite0["path"].as_str().unwrap());
    assert!(path.starts_with(&empty), "{}", path.display());
    assert!(rows.iter().all(|m| m["cached"] == false));
    assert!(!empty.exists(), "listing must not create the cache");
}

#[test]
fn default_model_explain_and_predict() {
    if !lite0_cached() {
        return;
    }
    let t = tmpdir();
    let out = t.path().join("out");
    let img = example_image("skimage_chelsea.png");
    let degenerate = |r: &Run| -> usize {
        r.stderr
            .lines()
            .filter(|l| l.starts_with("warning: degenerate layer selection"))
            .count()
    };
    // The README's first command: the recommended preset, no degenerate selection.
    let r = icam(args!["explain", &img, "--out", &out]);
    r.assert_ok();
    assert_eq!(degenerate(&r), 0, "{}", r.show());
    let rep = json_file(&out.join("report.json"));
    assert_eq!(rep["selection"]["degenerate"], false);
    assert_eq!(rep["zero_weight_perturbations"], 0);
    assert_eq!(rep["arch"], "efficientnet_lite0");
    assert_eq!(rep["config"]["seed"], 0);
    assert_eq!(rep["config"]["preset"], "recommended");
    assert_eq!(rep["config"]["candidates"], "block_activations");
    assert_eq!(rep["config"]["mds"], "exp");
    assert_eq!(rep["layer_names"].as_array().unwrap().len(), 17);
    assert_eq!(rep["layer_names"][16], "_head_act");
    heatmap(&out, 224, 224);
    let (w, h) = image::image_dimensions(&img).unwrap();
    assert_png(&out.join("overlay.png"), w, h);
    assert_png(&out.join("layers.png"), 0, 0);

    // The paper's literal reading: every weight clamped, one warning; an explicit option
    // overrides the preset and is recorded.
    let paper = t.path().join("paper");
    let r = icam(args![
        "explain",
        &img,
        "--out",
        &paper,
        "--preset",
        "paper",
        "--threshold",
        "0.9"
    ]);
    r.assert_ok();
    assert_eq!(degenerate(&r), 1, "{}", r.show());
    let rep = json_file(&paper.join("report.json"));
    assert_eq!(rep["selection"]["degenerate"], true);
    assert_eq!(rep["config"]["preset"], "paper");
    assert_eq!(rep["config"]["candidates"], "block_outputs");
    assert_eq!(rep["config"]["threshold"], 0.9);
    assert_eq!(rep["config"]["alpha"], 0.4);
    assert_eq!(rep["layer_names"].as_array().unwrap().len(), 16);

    let r = icam(args![
        "predict",
        example_image("skimage_coffee.png"),
        "--json"
    ]);
    r.assert_ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let top = &v["top"][0];
    assert_eq!(top["class"], 967, "{}", r.stdout);
    assert!(top["prob"].as_f64().unwrap() > 0.9, "{}", r.stdout);
    assert_eq!(top["label"], "espresso");
}

// ---------------------------------------------------------------------------------------------
// Positive: goldens of the reference implementation

#[test]
fn icam_default_matches_the_golden() {
    let Some(fx) = fixtures(&[
        "golden/icam_default_f32.npy",
        "golden/icam_default_f32.json",
    ]) else {
        return;
    };
    let t = tmpdir();
    let out = t.path().join("out");
    let mut a = args!["explain", fx.image(), "--out", &out];
    a.extend(fx.model());
    a.extend(fx.pert());
    let r = icam(&a);
    r.assert_ok();
    assert!(
        r.stdout.contains("confectionery (509)"),
        "summary line: {}",
        r.show()
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["heatmap.npy", "layers.png", "overlay.png", "report.json"],
        "exactly the four outputs, no temporary files"
    );

    let heat = heatmap(&out, 224, 224);
    let (_, golden) = read_npy_f32(&fx.golden("icam_default_f32.npy"));
    let (max, mean) = diff(&heat, &golden);
    assert!(
        max <= 1e-2 && mean <= 1e-3,
        "max |d| {max:e}, mean {mean:e}"
    );
    assert_png(&out.join("overlay.png"), 224, 224);
    assert_png(&out.join("layers.png"), 0, 0);

    let rep = json_file(&out.join("report.json"));
    let gold = json_file(&fx.golden("icam_default_f32.json"));
    assert_eq!(rep["target_class"], 509);
    assert_eq!(rep["target_class"], gold["target_class"]);
    assert_eq!(rep["selected_layers"], gold["selected_layers"]);
    let pw = |v: &Value| -> Vec<f64> {
        v["perturbation_weights"]
            .as_array()
            .expect("perturbation_weights")
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (ours, theirs) = (pw(&rep), pw(&gold));
    assert_eq!(ours.len(), 8);
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(
            (a - b).abs() <= 1e-4,
            "perturbation weights {ours:?} vs {theirs:?}"
        );
    }
    assert_eq!(rep["config"]["seed"], 0);
    assert_eq!(rep["config"]["n"], 8);
    assert_eq!(rep["zero_weight_perturbations"], 0);
    assert_eq!(rep["selection"]["degenerate"], false);
    assert_eq!(rep["selection"]["k"], gold["selection"]["k"]);
    assert_eq!(rep["class_name"], "confectionery");
    assert_eq!(rep["arch"], "resnet50");
    assert_eq!(rep["no_resize"], true);
}

#[test]
fn baselines_match_the_goldens() {
    let Some(fx) = fixtures(&[
        "golden/gradcam_f32.npy",
        "golden/gradcampp_f32.npy",
        "golden/layercam_f32.npy",
    ]) else {
        return;
    };
    let t = tmpdir();
    for method in ["gradcam", "gradcampp", "layercam"] {
        let out = t.path().join(method);
        let mut a = args!["explain", fx.image(), "--method", method, "--out", &out];
        a.extend(fx.model());
        icam(&a).assert_ok();
        let heat = heatmap(&out, 224, 224);
        let (_, golden) = read_npy_f32(&fx.golden(&format!("{method}_f32.npy")));
        let (max, _) = diff(&heat, &golden);
        assert!(max <= 1e-2, "{method}: max |d| {max:e}");
        let rep = json_file(&out.join("report.json"));
        assert_eq!(rep["target_class"], 509, "{method}");
        assert_png(&out.join("overlay.png"), 224, 224);
        assert_png(&out.join("layers.png"), 0, 0);
    }
}

#[test]
fn icam_float64_matches_the_golden() {
    let Some(fx) = fixtures(&["golden/icam_default_f64.npy"]) else {
        return;
    };
    let t = tmpdir();
    let out = t.path().join("out");
    let mut a = args!["explain", fx.image(), "--dtype", "float64", "--out", &out];
    a.extend(fx.model());
    a.extend(fx.pert());
    icam(&a).assert_ok();
    let heat = heatmap(&out, 224, 224);
    let (_, golden) = read_npy_f32(&fx.golden("icam_default_f64.npy"));
    let (max, _) = diff(&heat, &golden);
    assert!(max <= 1e-6, "max |d| {max:e}");
    let rep = json_file(&out.join("report.json"));
    assert_eq!(rep["dtype"], "float64");
    assert_eq!(rep["target_class"], 509);
}

#[test]
fn help_shows_each_presets_value() {
    let r = icam(["explain", "--help"]);
    r.assert_ok();
    let line = |opt: &str| -> String {
        // The option's help may wrap: take its paragraph.
        let start = r
            .stdout
            .find(opt)
            .unwrap_or_else(|| panic!("{opt} in help"));
        r.stdout[start..]
            .split("\n\n")
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(line("--mds <MDS>").contains("[paper: clamp, recommended: exp]"));
    assert!(line("--alpha <ALPHA>").contains("[paper: 0.4, recommended: 0.4]"));
    assert!(
        line("--candidates <CANDIDATES>")
            .contains("[paper: block-outputs, recommended: block-activations]")
    );
    assert!(line("--fusion <FUSION>").contains("[paper: sum, recommended: max]"));
}

/// `icam eval --presets`: one row per preset in the summary, the layer table per preset.
#[test]
fn eval_compares_presets_in_one_run() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fx.image(), data.join("a.png")).unwrap();
    let csv = write(
        &data,
        "d.csv",
        b"path,class,xmin,ymin,xmax,ymax\na.png,509,40,40,180,180\n",
    );
    let out = t.path().join("eval");
    let mut a = args![
        "eval",
        &csv,
        "--out",
        &out,
        "--methods",
        "icam,gradcam",
        "--presets",
        "paper,recommended",
        "--metrics",
        "localisation",
        "--n",
        "2"
    ];
    a.extend(fx.model());
    let r = icam(&a);
    r.assert_ok();
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let methods: Vec<&str> = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(methods, ["icam-paper", "icam-recommended", "gradcam"]);
    let layers = std::fs::read_to_string(out.join("icam_layers.csv")).unwrap();
    assert!(layers.lines().next().unwrap().ends_with(",preset"));
    // ResNet-50: both rules name the 16 block outputs.
    for p in ["paper", "recommended"] {
        let n = layers
            .lines()
            .filter(|l| l.ends_with(&format!(",{p}")))
            .count();
        assert_eq!(n, 16, "{p}: {layers}");
        assert_png(&out.join(format!("layer_prominence-{p}.png")), 0, 0);
    }
    let md = std::fs::read_to_string(out.join("layer_prominence.md")).unwrap();
    assert!(md.contains("preset paper") && md.contains("preset recommended"));
}

#[test]
fn several_classes_and_class_names() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    // Two classes, I-CAM with seeded perturbations (n = 2 keeps it quick).
    let out = t.path().join("multi");
    let mut a = args![
        "explain",
        fx.image(),
        "--class",
        "509,282",
        "--n",
        "2",
        "--seed",
        "7",
        "--out",
        &out
    ];
    a.extend(fx.model());
    icam(&a).assert_ok();
    for c in [509, 282] {
        let d = out.join(format!("class-{c}"));
        heatmap(&d, 224, 224);
        assert_png(&d.join("overlay.png"), 224, 224);
        assert_png(&d.join("layers.png"), 0, 0);
        let rep = json_file(&d.join("report.json"));
        assert_eq!(rep["target_class"], c);
        assert_eq!(rep["config"]["seed"], 7);
        assert_eq!(rep["config"]["n"], 2);
    }
    assert!(!out.join("heatmap.npy").exists());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);

    // A class name and a WordNet id.
    for (label, spec) in [("name", "tiger cat"), ("wnid", "n02123159")] {
        let out = t.path().join(label);
        let mut a = args![
            "explain",
            fx.image(),
            "--method",
            "gradcam",
            "--class",
            spec,
            "--out",
            &out
        ];
        a.extend(fx.model());
        icam(&a).assert_ok();
        let rep = json_file(&out.join("report.json"));
        assert_eq!(rep["target_class"], 282, "{spec}");
        assert_eq!(rep["class_name"], "tiger cat");
    }
}

#[test]
fn class_out_of_range_for_a_ten_class_model() {
    let Some(fx) = fixtures(&[]) else { return };
    let t = tmpdir();
    let mut st = St::read(&fx.weights());
    let fc = st.get("fc.weight");
    fc.shape = vec![10, 2048];
    fc.data.truncate(10 * 2048 * 4);
    let b = st.get("fc.bias");
    b.shape = vec![10];
    b.data.truncate(10 * 4);
    let w = st.write(&t.path().join("ten.safetensors"));
    let base = |extra: Vec<OsString>| {
        let mut a = args!["explain", fx.image(), "--weights", &w, "--no-resize"];
        a.extend(extra);
        a
    };
    let m = explain_fails(t.path(), "ten-10", &base(args!["--class", "10"]), "");
    assert_eq!(
        m,
        "class 10 is out of range: the model has 10 classes (0..9)"
    );
    explain_fails(
        t.path(),
        "ten-name",
        &base(args!["--class", "tiger cat"]),
        "--class `tiger cat`: this model has no class names; give an index",
    );
    // A valid class of it works, and predict lists classes without labels.
    let out = t.path().join("ok");
    let mut a = base(args!["--class", "3", "--method", "gradcam", "--out"]);
    a.push(out.clone().into());
    icam(&a).assert_ok();
    assert_eq!(json_file(&out.join("report.json"))["target_class"], 3);
    let r = icam(args![
        "predict",
        fx.image(),
        "--weights",
        &w,
        "--no-resize",
        "--json"
    ]);
    r.assert_ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["top"].as_array().unwrap().len(), 5);
    assert!(v["top"][0]["label"].is_null());
}

#[test]
fn predict_json_format() {
    let Some(fx) = fixtures(&["golden/gradcam_f32.json"]) else {
        return;
    };
    let mut a = args!["predict", fx.image(), "--json"];
    a.extend(fx.model());
    let r = icam(&a);
    r.assert_ok();
    let v: Value = serde_json::from_str(&r.stdout).expect("--json prints JSON");
    let top = v["top"].as_array().expect("{\"top\": [...]}");
    assert_eq!(top.len(), 5, "top-5 by default");
    let mut last = f64::INFINITY;
    for e in top {
        let logit = e["logit"].as_f64().expect("logit");
        let prob = e["prob"].as_f64().expect("prob");
        assert!(e["class"].as_u64().is_some_and(|c| c < 1000), "{e}");
        assert!(logit <= last, "sorted by logit: {}", r.stdout);
        assert!(prob > 0.0 && prob < 1.0, "{e}");
        assert!(e["label"].is_string(), "{e}");
        last = logit;
    }
    let gold = json_file(&fx.golden("gradcam_f32.json"));
    assert_eq!(top[0]["class"], 509);
    let (ours, theirs) = (
        top[0]["logit"].as_f64().unwrap(),
        gold["logit_c"].as_f64().unwrap(),
    );
    assert!((ours - theirs).abs() <= 1e-4, "logit {ours} vs {theirs}");
    assert_eq!(top[0]["label"], "confectionery");

    // --top-k and the text format.
    let mut a = args!["predict", fx.image(), "--top-k", "3"];
    a.extend(fx.model());
    let r = icam(&a);
    r.assert_ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(lines[0].contains("confectionery (509)"), "{}", r.stdout);
}
