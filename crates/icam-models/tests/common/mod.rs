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
