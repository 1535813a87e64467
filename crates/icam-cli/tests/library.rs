//! The command is a front-end: `icam explain` writes exactly the files the library's
//! explanation API stages, byte for byte.
//!
//! Needs the reference fixtures (`../shared/reference/fixtures`, or `$ICAM_SHARED`); prints
//! `SKIPPED: …` and passes when they are absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use icam_app::explanation::{self, ExplainRequest, NoiseMask};
use icam_app::{ModelSpec, Outputs};

mod common;
use common::{ICAM_BIN, fixtures_with, tmpdir};

/// The fixtures folder when the ResNet-50 weights are there.
fn fixtures() -> Option<PathBuf> {
    fixtures_with(&["resnet50_seed0.safetensors"])
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn explain_writes_what_the_library_stages() {
    let Some(fx) = fixtures() else { return };
    let t = tmpdir();
    let (image, weights) = (
        fx.join("chelsea224.png"),
        fx.join("resnet50_seed0.safetensors"),
    );
    let (noise, mask) = (
        fx.join("noise_n8_seed0.npy"),
        fx.join("mask_n8_a0.4_seed0.npy"),
    );
    let spec = ModelSpec {
        weights: Some(weights.clone()),
        no_resize: true,
        ..ModelSpec::default()
    };
    let model = spec.load().unwrap();
    let img = model.open_image(&image).unwrap();
    for (label, cli_args, req) in [
        (
            "icam",
            vec!["--class", "tiger cat"],
            ExplainRequest {
                classes: vec!["tiger cat".into()],
                noise_mask: Some(NoiseMask {
                    noise: noise.clone(),
                    mask: mask.clone(),
                }),
                ..ExplainRequest::default()
            },
        ),
        (
            "gradcampp",
            vec!["--method", "gradcampp", "--colormap", "turbo"],
            ExplainRequest {
                method: "gradcampp".into(),
                colormap: icam::render::Colormap::Turbo,
                ..ExplainRequest::default()
            },
        ),
    ] {
        let cli_out = t.path().join(format!("cli-{label}"));
        let mut cmd = Command::new(ICAM_BIN);
        cmd.arg("explain")
            .arg(&image)
            .arg("--weights")
            .arg(&weights)
            .arg("--no-resize")
            .args(&cli_args)
            .arg("--out")
            .arg(&cli_out);
        if label == "icam" {
            cmd.arg("--noise").arg(&noise).arg("--mask").arg(&mask);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let lib_out = t.path().join(format!("lib-{label}"));
        let ex = explanation::explain(&model, &img, req, &mut |_| {}).unwrap();
        let mut o = Outputs::default();
        explanation::stage_all(&ex, &mut o, &lib_out, None).unwrap();
        o.commit().unwrap();

        let (cli, lib) = (files(&cli_out), files(&lib_out));
        assert_eq!(
            cli.iter().map(|f| &f.0).collect::<Vec<_>>(),
            lib.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "{label}: the same files"
        );
        assert_eq!(cli.len(), 4);
        for ((name, a), (_, b)) in cli.iter().zip(&lib) {
            assert!(a == b, "{label}: {} differs", name.display());
        }
    }
}
