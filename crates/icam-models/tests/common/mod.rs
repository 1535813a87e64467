//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The project's `shared/` folder (`ICAM_SHARED`, else `../shared` beside the checkout), or
/// `None` with a printed reason when it is absent.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ICAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir
        .join("reference/fixtures/resnet50_seed0.safetensors")
        .exists()
    {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: shared reference fixtures not found at {} (set ICAM_SHARED)",
            dir.display()
        );
        None
    }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// ‖a − b‖₂ / ‖b‖₂.
pub fn l2_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// max |a − b| / max |b|.
pub fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let den = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    num / den
}

/// The cached EfficientNet-Lite0 `.pth` (`icam_models::store`), or `None` with a printed
/// reason and the command that fetches it.
pub fn lite0_weights() -> Option<PathBuf> {
    cached_model("efficientnet-lite0")
}

/// The cached `.pth` of store model `name`, or `None` with a printed reason and the command
/// that fetches it.
pub fn cached_model(name: &str) -> Option<PathBuf> {
    use icam_models::store;
    let dir = store::cache_dir(None);
    let found = store::find(name, &dir);
    if found.is_none() {
        eprintln!(
            "SKIPPED: {name} weights are not in the model cache {}; fetch them with `icam model fetch {name}`",
            dir.display()
        );
    }
    found
}

/// The project's `shared/data/images` folder, or `None` with a printed reason.
pub fn shared_images() -> Option<PathBuf> {
    let dir = std::env::var_os("ICAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data/images");
    if dir.join("skimage_chelsea.png").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: shared images not found at {} (set ICAM_SHARED)",
            dir.display()
        );
        None
    }
}
