//! `icam eval` as a cluster runs it: a dataset in ImageNet's `LOC_val_solution.csv` layout
//! split into 3 shards evaluated by separate processes (one interrupted and resumed, two
//! placed by `--shard auto` from a Slurm array's and a Kubernetes indexed Job's variables),
//! then `icam eval merge`: its files equal one uninterrupted single run's byte for byte. A
//! missing shard and a shard run with other options are one-line errors.
//!
//! Needs the reference fixtures (`../shared/reference/fixtures`, or `$ICAM_SHARED`); prints
//! `SKIPPED: …` and passes without them. Cheap: 7 images of 48×48, I-CAM with N = 2 and
//! Grad-CAM, localisation and confidence-drop metrics.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{ICAM_BIN, Run, fixtures_with, run_cmd, tmpdir};

/// Every variable `--shard auto` reads: removed from each child, so that a test run inside a
/// scheduler's task is not affected, then set per child as the test needs.
const SCHEDULER_VARS: [&str; 9] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "BATCH_TASK_INDEX",
    "BATCH_TASK_COUNT",
];

impl Run {
    /// [`Run::assert_success`], for chaining.
    fn ok(self) -> Self {
        self.assert_success();
        self
    }

    /// Exactly one line on stderr, `error: …` containing `needle`, and a non-zero exit.
    fn one_error(&self, needle: &str) -> String {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failure:\n{}",
            self.show()
        );
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr:\n{}", self.show());
        let msg = lines[0].strip_prefix("error: ").expect("`error: `");
        assert!(msg.contains(needle), "{needle:?} in:\n{}", self.show());
        msg.to_string()
    }
}

/// `icam ARGS` in `dir` with the scheduler variables `env` (and no others).
fn icam(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(ICAM_BIN);
    cmd.current_dir(dir).args(args);
    for v in SCHEDULER_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    run_cmd(&mut cmd)
}

/// The fixtures folder when the ResNet-50 weights and the photo are there.
fn fixtures() -> Option<PathBuf> {
    fixtures_with(&["resnet50_seed0.safetensors", "chelsea224.png"])
}

/// 7 crops of the fixture photo, 48×48, as `val/ILSVRC2012_val_0000000k.png` listed by a
/// `LOC_val_solution.csv` (tiger cat, `n02123159`, one box each).
fn imagenet_like(dir: &Path, fx: &Path) {
    let photo = image::open(fx.join("chelsea224.png")).unwrap().to_rgb8();
    std::fs::create_dir_all(dir.join("val")).unwrap();
    let mut csv = String::from("ImageId,PredictionString\n");
    for k in 0..7u32 {
        let (x, y) = ((k * 23) % 150, (k * 37) % 150);
        let crop = image::imageops::crop_imm(&photo, x, y, 72, 72).to_image();
        let small = image::imageops::resize(&crop, 48, 48, image::imageops::FilterType::Triangle);
        let id = format!("ILSVRC2012_val_{:08}", k + 1);
        small.save(dir.join(format!("val/{id}.png"))).unwrap();
        csv.push_str(&format!("{id},n02123159 {} 6 {} 40\n", 5 + k, 30 + k));
    }
    std::fs::write(dir.join("LOC_val_solution.csv"), csv).unwrap();
}

const MERGED_FILES: [&str; 6] = [
    "per_image.csv",
    "icam_layers.csv",
    "summary.md",
    "summary.csv",
    "layer_prominence.md",
    "layer_prominence.png",
];

#[test]
fn shards_from_separate_processes_merge_into_the_single_run() {
    let Some(fx) = fixtures() else { return };
    let t = tmpdir();
    let d = t.path();
    imagenet_like(d, &fx);
    let weights = fx.join("resnet50_seed0.safetensors");
    // I-CAM's N is 2 unless `extra` says otherwise.
    let eval = |out: &str, extra: &[&str], env: &[(&str, &str)]| {
        let mut a = vec!["eval", "LOC_val_solution.csv", "--out", out];
        if !extra.contains(&"--n") {
            a.extend(["--n", "2"]);
        }
        a.extend([
            "--weights",
            weights.to_str().unwrap(),
            "--no-resize",
            "--methods",
            "icam,gradcam",
            "--metrics",
            "localisation,drop",
            // Some predictions of the random-weight model count as correct, so that the
            // IoU columns (over correct images only) are filled.
            "--class-map",
            "n02123159=697,509,679",
        ]);
        a.extend(extra);
        icam(d, &a, env)
    };
    let single = eval("single", &[], &[]).ok();
    let rows = std::fs::read_to_string(d.join("single/per_image.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 7 * 2, "{rows}");
    assert!(
        rows.lines().any(|l| l.contains(",1,")),
        "a correct image:\n{rows}"
    );

    // Shard 0 (images 0, 3, 6), interrupted while writing image 3's rows: its files cut as
    // the process left them, then the same command resumes.
    eval("s0", &["--shard", "0/3"], &[]).ok();
    let cut = |f: &str, keep: usize, tail: usize| {
        let p = d.join("s0").join(f);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut s = lines[..keep].concat();
        s.push_str(&lines[keep][..tail]);
        std::fs::write(&p, s).unwrap();
    };
    cut("per_image.csv", 1 + 2, 25);
    cut("icam_layers.csv", 1 + 16 + 3, 10);
    let resumed = eval("s0", &["--shard", "0/3"], &[]).ok();
    assert!(
        resumed
            .stderr
            .contains("resuming: 1 of 3 images already done"),
        "{}",
        resumed.show()
    );
    // Shard 1 from a Slurm array numbered 10-12; shard 2 from a Kubernetes indexed Job.
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "11"),
        ("SLURM_ARRAY_TASK_MIN", "10"),
        ("SLURM_ARRAY_TASK_MAX", "12"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    let s1 = eval("s1", &["--shard", "auto"], &slurm).ok();
    assert!(
        s1.stderr.contains(
            "shard 1/3 from SLURM_ARRAY_TASK_ID=11, SLURM_ARRAY_TASK_MIN=10, SLURM_ARRAY_TASK_COUNT=3"
        ),
        "{}",
        s1.show()
    );
    let k8s = [("JOB_COMPLETION_INDEX", "2")];
    let s2 = eval("s2", &["--shard", "auto", "--shards", "3"], &k8s).ok();
    assert!(
        s2.stderr
            .contains("shard 2/3 from JOB_COMPLETION_INDEX=2, --shards 3"),
        "{}",
        s2.show()
    );

    // Merged in any order: the single run's files, byte for byte, and its printed summary.
    let merged = icam(
        d,
        &["eval", "merge", "s2", "s0", "s1", "--out", "merged"],
        &[],
    )
    .ok();
    assert_eq!(merged.stdout, single.stdout);
    assert!(merged.stderr.contains("merged 3 folders: 7 of 7 images"));
    for f in MERGED_FILES {
        assert!(
            std::fs::read(d.join("single").join(f)).unwrap()
                == std::fs::read(d.join("merged").join(f)).unwrap(),
            "{f} differs"
        );
    }

    // A missing shard: refused (nothing written), or merged on request with a warning.
    let r = icam(d, &["eval", "merge", "s0", "s1", "--out", "partial"], &[]);
    r.one_error("2 of 7 images missing: no folder given holds shard 2/3 (2 images); merge what is there with --allow-missing");
    assert!(!d.join("partial").exists());
    let r = icam(
        d,
        &[
            "eval",
            "merge",
            "s0",
            "s1",
            "--out",
            "partial",
            "--allow-missing",
        ],
        &[],
    )
    .ok();
    assert!(
        r.stderr.contains("warning: 2 of 7 images missing"),
        "{}",
        r.show()
    );
    let partial = std::fs::read_to_string(d.join("partial/per_image.csv")).unwrap();
    assert_eq!(partial.lines().count(), 1 + 5 * 2);

    // A shard run with another option (here I-CAM's N; --limit 0 records the run and
    // evaluates nothing).
    eval(
        "other",
        &["--shard", "2/3", "--limit", "0", "--n", "3"],
        &[],
    )
    .ok();
    let _ = std::fs::remove_dir_all(d.join("partial"));
    let r = icam(
        d,
        &["eval", "merge", "s0", "s1", "other", "--out", "partial"],
        &[],
    );
    r.one_error("s0 and other are not from the same evaluation: options.config.n: 2 ≠ 3");
    assert!(!d.join("partial").exists());
    // Resuming a folder with other options, or as another shard, is refused too.
    eval("s2", &["--n", "3"], &[])
        .one_error("s2 was written with other options (options.config.n: 2 ≠ 3)");
    eval("s2", &["--shard", "1/3"], &[])
        .one_error("s2 holds shard 2/3, not shard 1/3; use --restart or another --out");
}

#[test]
fn shard_auto_without_a_scheduler_is_an_error() {
    let t = tmpdir();
    let d = t.path();
    let eval = |extra: &[&str], env: &[(&str, &str)]| {
        let mut a = vec!["eval", "nowhere", "--out", "out"];
        a.extend(extra);
        icam(d, &a, env)
    };
    eval(&["--shard", "auto"], &[]).one_error(
        "--shard auto: none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, BATCH_TASK_INDEX is set",
    );
    eval(&["--shard", "auto"], &[("JOB_COMPLETION_INDEX", "1")]).one_error(
        "--shard auto: JOB_COMPLETION_INDEX is set; add --shards N, the number of tasks",
    );
    eval(
        &["--shard", "auto", "--shards", "4"],
        &[("SLURM_ARRAY_TASK_ID", "4")],
    )
    .one_error("shard 4 of 4 from SLURM_ARRAY_TASK_ID=4: need index < count");
    eval(&["--shards", "4"], &[]).one_error("--shards N goes with --shard auto");
    assert!(!d.join("out").exists());
}
