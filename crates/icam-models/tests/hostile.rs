//! Hostile model and input files: hand-made faulty ONNX graphs end in one-line errors that
//! name the fault, and a seeded property test feeds thousands of mutated and truncated files
//! to every loader of the crate (ONNX, safetensors, zip and legacy .pth, images); each must
//! end in `Ok` or a clean error, never a panic.

use std::path::{Path, PathBuf};

use icam_models::onnx::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto, attr_type, data_type,
};
use icam_models::{HostTensor, Precision, cpu, load, logits};
use prost::Message;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: Some(d),
                            dim_param: None,
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn node(op: &str, name: &str, ins: &[&str], outs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: attr_type::INTS,
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A valid tiny classifier: Conv(3→2, 3×3) → Relu → GlobalAveragePool → Flatten → Gemm(2→4).
fn tiny() -> ModelProto {
    let mut conv = node("Conv", "conv", &["x", "w", "b"], &["c"]);
    conv.attribute = vec![ints("pads", &[1, 1, 1, 1]), ints("kernel_shape", &[3, 3])];
    let mut gemm = node("Gemm", "fc", &["f", "fw", "fb"], &["y"]);
    gemm.attribute = vec![AttributeProto {
        name: "transB".into(),
        i: 1,
        r#type: attr_type::INT,
        ..Default::default()
    }];
    ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        producer_version: String::new(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            name: "g".into(),
            node: vec![
                conv,
                node("Relu", "relu", &["c"], &["r"]),
                node("GlobalAveragePool", "gap", &["r"], &["p"]),
                node("Flatten", "flat", &["p"], &["f"]),
                gemm,
            ],
            initializer: vec![
                floats("w", &[2, 3, 3, 3], &[0.125; 54]),
                floats("b", &[2], &[0.0, 0.5]),
                floats("fw", &[4, 2], &[1.0, -1.0, 0.5, 0.25, -0.5, 2.0, 0.0, 1.0]),
                floats("fb", &[4], &[0.0; 4]),
            ],
            input: vec![value("x", &[1, 3, 32, 32])],
            output: vec![value("y", &[1, 4])],
        }),
    }
}

fn write(dir: &Path, name: &str, m: &ModelProto) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, m.encode_to_vec()).unwrap();
    p
}

fn load_err(m: &ModelProto) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.onnx", m);
    let e = load(&p, None, &cpu(), Precision::F32)
        .err()
        .expect("the model must be refused")
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn the_tiny_model_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.onnx", &tiny());
    let m = load(&p, None, &cpu(), Precision::F64).unwrap();
    assert_eq!(m.net.num_classes(), 4);
    assert_eq!(m.net.baseline_layer(), "relu");
    let x = HostTensor::f64(vec![1, 3, 32, 32], vec![1.0; 3 * 32 * 32]);
    let y = logits(m.net.as_ref(), &x).unwrap().to_f64();
    // Interior pixels see 27 ones: 27/8 (+0.5 for channel 1); the border sees fewer.
    let mean = |bias: f64| {
        let mut s = 0.0;
        for i in 0..32 {
            for j in 0..32 {
                let k = |a: usize| if a == 0 || a == 31 { 2.0 } else { 3.0 };
                s += (0.125 * 3.0 * k(i) * k(j) + bias).max(0.0);
            }
        }
        s / 1024.0
    };
    let (c0, c1) = (mean(0.0), mean(0.5));
    let expect = [c0 - c1, 0.5 * c0 + 0.25 * c1, -0.5 * c0 + 2.0 * c1, c1];
    for (a, b) in y.iter().zip(expect) {
        assert!((a - b).abs() < 1e-12, "{y:?} vs {expect:?}");
    }
    // A fixed 32×32 input refuses other sizes before any work.
    let x = HostTensor::f64(vec![1, 3, 40, 40], vec![0.0; 3 * 40 * 40]);
    let e = logits(m.net.as_ref(), &x).unwrap_err().to_string();
    assert!(e.contains("height 32"), "{e}");
}

/// Weights stored beside the model (the torch.export exporter's default `model.onnx.data`).
#[test]
fn external_data_is_read_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let inline = tiny();
    let mut m = tiny();
    let w = &mut m.graph.as_mut().unwrap().initializer[0];
    let mut data = vec![7u8; 16];
    data.extend_from_slice(&w.raw_data);
    std::fs::write(dir.path().join("m.onnx.data"), &data).unwrap();
    let n = w.raw_data.len();
    w.raw_data.clear();
    w.data_location = 1;
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    w.external_data = vec![
        entry("location", "m.onnx.data".into()),
        entry("offset", "16".into()),
        entry("length", n.to_string()),
    ];
    let ext = write(dir.path(), "m.onnx", &m);
    let inl = write(dir.path(), "inline.onnx", &inline);
    let x = HostTensor::f64(
        vec![1, 3, 32, 32],
        (0..3072).map(|i| (i % 7) as f64).collect(),
    );
    let run = |p: &Path| {
        let m = load(p, None, &cpu(), Precision::F64).unwrap();
        logits(m.net.as_ref(), &x).unwrap().to_f64()
    };
    assert_eq!(run(&ext), run(&inl));
    // An offset past the end of the data file.
    m.graph.as_mut().unwrap().initializer[0].external_data[1] = entry("offset", "17".into());
    let e = load_err_in(dir.path(), &m);
    assert!(e.contains("past its end"), "{e}");
}

fn load_err_in(dir: &Path, m: &ModelProto) -> String {
    let p = write(dir, "m.onnx", m);
    let e = load(&p, None, &cpu(), Precision::F32)
        .err()
        .expect("the model must be refused")
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn faulty_graphs_are_one_line_errors() {
    // relu → gap → flatten → relu
    let mut m = tiny();
    m.graph.as_mut().unwrap().node[1].input = vec!["f".into()];
    let e = load_err(&m);
    assert!(e.contains("cycle"), "{e}");

    let mut m = tiny();
    m.graph.as_mut().unwrap().node[1].op_type = "FancyOp".into();
    let e = load_err(&m);
    assert!(
        e.contains("FancyOp") && e.contains("`relu`") && e.contains("opset 17"),
        "{e}"
    );

    let mut m = tiny();
    m.graph.as_mut().unwrap().node[0]
        .attribute
        .push(AttributeProto {
            name: "auto_pad".into(),
            s: b"SIDEWAYS".to_vec(),
            r#type: attr_type::STRING,
            ..Default::default()
        });
    let e = load_err(&m);
    assert!(
        e.contains("SIDEWAYS") && e.contains("Conv node `conv`"),
        "{e}"
    );

    let mut m = tiny();
    m.graph.as_mut().unwrap().initializer[0].dims = vec![2, 3, 3, 4];
    let e = load_err(&m);
    assert!(e.contains("initializer `w`") && e.contains("bytes"), "{e}");

    let mut m = tiny();
    m.graph.as_mut().unwrap().initializer[0].dims = vec![1 << 40, 1 << 40];
    let e = load_err(&m);
    assert!(e.contains("elements"), "{e}");

    let mut m = tiny();
    m.graph.as_mut().unwrap().node[2].input = vec!["nowhere".into()];
    let e = load_err(&m);
    assert!(e.contains("nowhere"), "{e}");

    let mut m = tiny();
    m.graph.as_mut().unwrap().node[4].attribute.clear();
    let mut m2 = m.clone();
    let e = load_err(&m);
    assert!(e.contains("do not multiply") || e.contains("Gemm"), "{e}");
    m2.graph.as_mut().unwrap().input[0] = value("x", &[1, 1, 32, 32]);
    let e = load_err(&m2);
    assert!(e.contains("channel"), "{e}");

    let mut m = tiny();
    let w = &mut m.graph.as_mut().unwrap().initializer[0];
    w.raw_data.clear();
    w.data_location = 1;
    w.external_data = vec![StringStringEntryProto {
        key: "location".into(),
        value: "../../etc/passwd".into(),
    }];
    let e = load_err(&m);
    assert!(e.contains("leaves the model's folder"), "{e}");

    let bytes = tiny().encode_to_vec();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&p, None, &cpu(), Precision::F32)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a valid ONNX model"), "{e}");
}

/// A seeded generator (splitmix64): the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `src`: truncation, byte flips, random bytes, a duplicated or removed span,
/// or a small integer written over a varint-looking byte (lengths and dimensions).
fn mutate(src: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(3) {
        let n = v.len().max(1);
        match rng.below(6) {
            0 => v.truncate(rng.below(n)),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(n);
                    if let Some(b) = v.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
            2 => {
                let i = rng.below(n);
                if let Some(b) = v.get_mut(i) {
                    *b = rng.next() as u8;
                }
            }
            3 => {
                let a = rng.below(n);
                let len = rng.below(64).min(v.len().saturating_sub(a));
                let chunk = v[a..a + len].to_vec();
                let at = rng.below(n);
                v.splice(at.min(v.len())..at.min(v.len()), chunk);
            }
            4 => {
                let a = rng.below(n);
                let len = rng.below(64).min(v.len().saturating_sub(a));
                v.drain(a..a + len);
            }
            _ => {
                let i = rng.below(n);
                if let Some(b) = v.get_mut(i) {
                    *b = [0x00, 0x01, 0x7f, 0xff, 0x80][rng.below(5)];
                }
            }
        }
    }
    v
}

fn fuzz(name: &str, src: &[u8], ext: &str, count: usize, seed: u64, f: impl Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let p = dir.path().join(format!("input.{ext}"));
    for i in 0..count {
        let bytes = mutate(src, &mut rng);
        std::fs::write(&p, &bytes).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&p)));
        assert!(
            r.is_ok(),
            "{name}: mutation {i} (seed {seed}) panicked; the input is at {}",
            {
                let keep = std::env::temp_dir().join(format!("icam-fuzz-{name}-{i}.{ext}"));
                let _ = std::fs::write(&keep, &bytes);
                keep.display().to_string()
            }
        );
    }
}

#[test]
fn mutated_onnx_files_never_panic() {
    let tiny = tiny().encode_to_vec();
    let squeeze = std::fs::read(fixtures().join("onnx/squeezenet_ts.onnx")).unwrap();
    let run = |p: &Path| {
        if let Ok(m) = load(p, None, &cpu(), Precision::F32) {
            let dims = [1usize, 3, 67, 67];
            let x = HostTensor::f32(dims.to_vec(), vec![0.5; 3 * 67 * 67]);
            let _ = logits(m.net.as_ref(), &x);
            let x = HostTensor::f32(vec![1, 3, 32, 32], vec![0.5; 3 * 32 * 32]);
            let _ = logits(m.net.as_ref(), &x);
        }
    };
    fuzz("tiny-onnx", &tiny, "onnx", 3000, 1, run);
    fuzz("squeezenet-onnx", &squeeze, "onnx", 300, 2, run);
}

#[test]
fn mutated_weight_files_and_images_never_panic() {
    let weights = |p: &Path| {
        let _ = icam_models::WeightFile::load(p);
    };
    for (name, file, ext) in [
        ("safetensors", "weights_small.safetensors", "safetensors"),
        ("pth-zip", "weights_small_zip.pth", "pth"),
        ("pth-legacy", "weights_small_legacy.pth", "pth"),
    ] {
        let src = std::fs::read(fixtures().join(file)).unwrap();
        fuzz(name, &src, ext, 1000, 3, weights);
    }
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/images");
    let image = |p: &Path| {
        let _ = icam_models::preprocess::load_rgb(p);
    };
    for e in std::fs::read_dir(&examples).unwrap() {
        let p = e.unwrap().path();
        let ext = p.extension().map(|x| x.to_string_lossy().to_lowercase());
        if let Some(ext) = ext.filter(|x| x == "png" || x == "jpg" || x == "jpeg") {
            let src = std::fs::read(&p).unwrap();
            if src.len() > 300_000 {
                continue;
            }
            fuzz(&format!("image-{ext}"), &src, &ext, 300, 4, image);
        }
    }
}

/// Operator details no torchvision export exercises: `auto_pad` (SAME_UPPER/LOWER equal the
/// explicit asymmetric padding they stand for) and Gemm's `transA`, `alpha`, `beta`.
#[test]
fn auto_pad_asymmetric_pads_and_gemm_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let x = HostTensor::f64(
        vec![1, 3, 33, 33],
        (0..3 * 33 * 33)
            .map(|i| ((i * 37) % 11) as f64 - 5.0)
            .collect(),
    );
    let run = |m: &ModelProto, name: &str| {
        let p = write(dir.path(), name, m);
        let net = load(&p, None, &cpu(), Precision::F64).unwrap();
        logits(net.net.as_ref(), &x).unwrap().to_f64()
    };
    let with_pad = |attrs: Vec<AttributeProto>| {
        let mut m = tiny();
        let g = m.graph.as_mut().unwrap();
        g.input[0] = value("x", &[1, 3, 33, 33]);
        let w: Vec<f32> = (0..54).map(|i| ((i * 7) % 5) as f32 * 0.25 - 0.5).collect();
        g.initializer[0] = floats("w", &[2, 3, 3, 3], &w);
        g.node[0].attribute = attrs;
        g.node[0].attribute.push(ints("strides", &[2, 2]));
        m
    };
    let s = |v: &str| AttributeProto {
        name: "auto_pad".into(),
        s: v.as_bytes().to_vec(),
        r#type: attr_type::STRING,
        ..Default::default()
    };
    // 33 input, kernel 3, stride 2: 17 outputs, total padding 2·16 + 3 − 33 = 2 → (1, 1).
    let upper = run(&with_pad(vec![s("SAME_UPPER")]), "u.onnx");
    let explicit = run(&with_pad(vec![ints("pads", &[1, 1, 1, 1])]), "e.onnx");
    assert_eq!(upper, explicit);
    // Kernel 2, stride 1 on 33: total padding 1, after (upper) or before (lower).
    let k2 = |attrs: Vec<AttributeProto>| {
        let mut m = with_pad(attrs);
        let g = m.graph.as_mut().unwrap();
        let w: Vec<f32> = (0..24).map(|i| ((i * 3) % 5) as f32 * 0.5 - 1.0).collect();
        g.initializer[0] = floats("w", &[2, 3, 2, 2], &w);
        g.node[0]
            .attribute
            .retain(|a| a.name != "strides" && a.name != "kernel_shape");
        m
    };
    let (up, low) = (
        run(&k2(vec![s("SAME_UPPER")]), "ku.onnx"),
        run(&k2(vec![s("SAME_LOWER")]), "kl.onnx"),
    );
    assert_eq!(up, run(&k2(vec![ints("pads", &[0, 0, 1, 1])]), "kue.onnx"));
    assert_eq!(low, run(&k2(vec![ints("pads", &[1, 1, 0, 0])]), "kle.onnx"));
    assert_ne!(up, low);

    // Gemm: y = alpha·Aᵀ·B + beta·C with A given transposed ([K, M] for M = 1).
    let mut m = tiny();
    let g = m.graph.as_mut().unwrap();
    g.node.insert(4, node("Transpose", "t", &["f"], &["ft"]));
    g.node[5].input[0] = "ft".into();
    g.node[5].attribute = vec![
        AttributeProto {
            name: "transA".into(),
            i: 1,
            r#type: attr_type::INT,
            ..Default::default()
        },
        AttributeProto {
            name: "alpha".into(),
            f: 0.5,
            r#type: attr_type::FLOAT,
            ..Default::default()
        },
        AttributeProto {
            name: "beta".into(),
            f: 2.0,
            r#type: attr_type::FLOAT,
            ..Default::default()
        },
    ];
    g.initializer[2] = floats("fw", &[2, 4], &[1.0, 0.5, -0.5, 0.0, -1.0, 0.25, 2.0, 1.0]);
    g.initializer[3] = floats("fb", &[4], &[1.0, 2.0, 3.0, 4.0]);
    let plain = {
        let p = write(dir.path(), "plain.onnx", &tiny());
        let x = HostTensor::f64(vec![1, 3, 32, 32], vec![1.0; 3 * 32 * 32]);
        let net = load(&p, None, &cpu(), Precision::F64).unwrap();
        logits(net.net.as_ref(), &x).unwrap().to_f64()
    };
    let p = write(dir.path(), "gemm.onnx", &m);
    let net = load(&p, None, &cpu(), Precision::F64).unwrap();
    let y = logits(
        net.net.as_ref(),
        &HostTensor::f64(vec![1, 3, 32, 32], vec![1.0; 3 * 32 * 32]),
    )
    .unwrap()
    .to_f64();
    // The pooled features f = (c0, c1) are recovered from the plain model's logits:
    // y0 = c0 − c1, y3 = c1.
    let (c1, c0) = (plain[3], plain[0] + plain[3]);
    let expect = [
        0.5 * (c0 - c1) + 2.0,
        0.5 * (0.5 * c0 + 0.25 * c1) + 4.0,
        0.5 * (-0.5 * c0 + 2.0 * c1) + 6.0,
        0.5 * c1 + 8.0,
    ];
    for (a, b) in y.iter().zip(expect) {
        assert!((a - b).abs() < 1e-12, "{y:?} vs {expect:?}");
    }
}
