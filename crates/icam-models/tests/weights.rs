//! Weight files: the three formats load to identical tensors, and every bad file is a clear
//! error (never a panic, never an unbounded allocation).

mod common;

use std::path::Path;

use common::{fixture, shared_dir};
use icam_models::{HostData, ModelError, Precision, WeightFile, WeightFormat, build, cpu};

#[test]
fn safetensors_zip_and_legacy_pth_load_identical_tensors() {
    let st = WeightFile::load(fixture("weights_small.safetensors")).unwrap();
    let zip = WeightFile::load(fixture("weights_small_zip.pth")).unwrap();
    let legacy = WeightFile::load(fixture("weights_small_legacy.pth")).unwrap();
    assert_eq!(st.format, WeightFormat::Safetensors);
    assert_eq!(zip.format, WeightFormat::PthZip);
    assert_eq!(legacy.format, WeightFormat::PthLegacy);
    // num_batches_tracked (int64) is ignored; the five float tensors remain.
    let names: Vec<_> = st.tensors.keys().cloned().collect();
    assert_eq!(
        names,
        ["a.bias", "a.weight", "b.bf16", "b.half", "c.strided"]
    );
    assert_eq!(st.tensors, zip.tensors);
    assert_eq!(st.tensors, legacy.tensors);
    // float64 stays float64; float16/bfloat16 are widened to float32.
    assert!(matches!(st.tensors["a.bias"].data, HostData::F64(_)));
    assert!(matches!(st.tensors["b.half"].data, HostData::F32(_)));
    // The strided view (base.t()[2:8:2] of a 6x10 tensor) is gathered, not read raw.
    assert_eq!(st.tensors["c.strided"].shape, vec![3, 6]);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn bad_msg(r: Result<WeightFile, ModelError>) -> String {
    match r {
        Err(e @ ModelError::BadWeights { .. }) => e.to_string(),
        Err(e) => panic!("expected BadWeights, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn truncated_and_hostile_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("weights_small.safetensors")).unwrap();

    // Truncated safetensors: the data section is shorter than the header promises.
    let p = write(dir.path(), "trunc.safetensors", &good[..good.len() - 10]);
    let m = bad_msg(WeightFile::load(&p));
    assert!(
        m.starts_with(&format!("invalid weight file {}: ", p.display())),
        "{m}"
    );

    // Hostile header length (2^62 bytes): refused without allocating it.
    let mut hostile = (1u64 << 62).to_le_bytes().to_vec();
    hostile.extend_from_slice(b"{\"a\":1}");
    let p = write(dir.path(), "hostile.safetensors", &hostile);
    let m = bad_msg(WeightFile::load(&p));
    assert!(m.contains("invalid weight file"), "{m}");

    // Header whose offsets point past the end of the file.
    let header = br#"{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 16]);
    let p = write(dir.path(), "offsets.safetensors", &bytes);
    bad_msg(WeightFile::load(&p));

    // Truncated zip and legacy checkpoints.
    for name in ["weights_small_zip.pth", "weights_small_legacy.pth"] {
        let full = std::fs::read(fixture(name)).unwrap();
        for cut in [full.len() / 3, full.len() / 2, full.len() - 7] {
            let p = write(dir.path(), &format!("cut{cut}_{name}"), &full[..cut]);
            bad_msg(WeightFile::load(&p));
        }
    }

    // Not a weight file at all, and an empty file.
    let p = write(dir.path(), "garbage.bin", b"hello, this is not a model");
    assert_eq!(
        bad_msg(WeightFile::load(&p)),
        format!(
            "invalid weight file {}: not a safetensors file or a PyTorch .pth checkpoint (unrecognised first bytes)",
            p.display()
        )
    );
    let p = write(dir.path(), "empty.pth", b"");
    bad_msg(WeightFile::load(&p));

    // A missing file is an I/O error naming the path.
    let missing = dir.path().join("nope.safetensors");
    let e = WeightFile::load(&missing).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display()))
    );
}

#[test]
fn integer_weights_are_refused_by_name() {
    let header = br#"{"conv1.weight":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 8]);
    let e = WeightFile::from_safetensors_bytes(&bytes, Path::new("x.safetensors")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `conv1.weight` has element type i32, which cannot be a weight (float16/bfloat16/float32/float64 only)"
    );
}

#[test]
fn missing_extra_misshapen_and_nan_tensors_are_named() {
    let Some(shared) = shared_dir() else { return };
    let file =
        WeightFile::load(shared.join("reference/fixtures/resnet50_seed0.safetensors")).unwrap();
    let dev = cpu();
    let err = |f: &WeightFile| {
        build(f, "resnet50", &dev, Precision::F32)
            .err()
            .expect("must fail")
            .to_string()
    };

    let mut f = file.clone();
    f.tensors.remove("layer3.4.bn2.running_var");
    assert_eq!(
        err(&f),
        "weights for resnet50 lack tensor `layer3.4.bn2.running_var` (expected shape [256])"
    );

    let mut f = file.clone();
    let extra = f.tensors["fc.bias"].clone();
    f.tensors.insert("head.extra".into(), extra);
    assert_eq!(
        err(&f),
        "weights hold tensor `head.extra` (shape [1000]) that resnet50 does not use"
    );

    let mut f = file.clone();
    let mut t = f.tensors["layer2.0.conv2.weight"].clone();
    t.shape = vec![128, 64, 3, 3, 2];
    f.tensors.insert("layer2.0.conv2.weight".into(), t);
    assert_eq!(
        err(&f),
        "tensor `layer2.0.conv2.weight` has shape [128, 64, 3, 3, 2] but resnet50 expects [128, 128, 3, 3]"
    );

    let mut f = file.clone();
    if let HostData::F32(v) = &mut f.tensors.get_mut("layer1.0.bn1.weight").unwrap().data {
        v[3] = f32::NAN;
    }
    assert_eq!(
        err(&f),
        "tensor `layer1.0.bn1.weight` holds a non-finite value (NaN or infinity)"
    );

    // Any number of classes, read from fc.weight.
    let mut f = file.clone();
    let mut w = f.tensors["fc.weight"].clone();
    let mut b = f.tensors["fc.bias"].clone();
    w.shape = vec![10, 2048];
    w.data = HostData::F32(w.to_f64()[..10 * 2048].iter().map(|&x| x as f32).collect());
    b.shape = vec![10];
    b.data = HostData::F32(b.to_f64()[..10].iter().map(|&x| x as f32).collect());
    f.tensors.insert("fc.weight".into(), w);
    f.tensors.insert("fc.bias".into(), b);
    let m = build(&f, "resnet50", &dev, Precision::F32).unwrap();
    assert_eq!(m.net.num_classes(), 10);

    // The wrong architecture is caught before binding.
    let e = icam_models::resolve_arch(&file, Some("resnet18")).unwrap_err();
    assert!(e.to_string().contains("are resnet50, not resnet18"), "{e}");
}

#[test]
fn unknown_layer_lists_valid_ones() {
    let Some(shared) = shared_dir() else { return };
    let m = icam_models::load(
        &shared.join("reference/fixtures/resnet50_seed0.safetensors"),
        None,
        &cpu(),
        Precision::F32,
    )
    .unwrap();
    assert_eq!(m.net.resolve_layer("layer4").unwrap(), "layer4.2");
    assert_eq!(m.net.resolve_layer("layer3.5").unwrap(), "layer3.5");
    let e = m.net.resolve_layer("layer5.0").unwrap_err().to_string();
    assert!(
        e.starts_with("unknown layer `layer5.0` for resnet50; valid layers: layer1.0, layer1.1"),
        "{e}"
    );
    assert!(e.ends_with("layer3, layer4"), "{e}");
}
