//! Helpers shared by the `icam` binary's integration tests (`mod common;` in each file):
//! running the binary and capturing what it prints, the one-line error contract, the
//! reference fixtures (`../shared/reference/fixtures`, or `$ICAM_SHARED`), the cached
//! EfficientNet-Lite0, the example images, temporary folders and JSON files.
//!
//! Each test file is its own crate and uses only some of these.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The `icam` binary under test.
pub const ICAM_BIN: &str = env!("CARGO_BIN_EXE_icam");

// ---------------------------------------------------------------------------------------------
// Running the binary

/// A `Vec<OsString>` of command-line arguments from anything `OsString: From` takes.
#[allow(unused_macros)]
macro_rules! args {
    ($($x:expr),* $(,)?) => { vec![$(std::ffi::OsString::from($x)),*] };
}
#[allow(unused_imports)]
pub(crate) use args;

/// What a run of the binary left: its exit code and its output.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.code, self.stdout, self.stderr
        )
    }

    /// Exit status 0 and no panic.
    pub fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "icam failed:\n{}", self.show());
        assert!(!self.stderr.contains("panicked"), "{}", self.show());
    }

    /// [`Run::assert_success`], and no line on stderr starting with `error`.
    pub fn assert_ok(&self) {
        self.assert_success();
        assert!(
            !self.stderr.lines().any(|l| l.starts_with("error")),
            "{}",
            self.show()
        );
    }
}

/// `icam ARGS`.
pub fn icam<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Run {
    run_cmd(Command::new(ICAM_BIN).args(args))
}

/// `icam ARGS` under a virtual-memory limit (KiB), so that a runaway allocation fails fast
/// instead of taking the machine down.
pub fn icam_limited<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(limit_kib: u64, args: I) -> Run {
    run_cmd(
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {limit_kib}; exec \"$0\" \"$@\""))
            .arg(ICAM_BIN)
            .args(args),
    )
}

/// Run `cmd` to the end and capture its exit code and output.
pub fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("cannot run icam");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The one-line error contract; returns the message (after `error: `).
pub fn assert_one_error(r: &Run, needle: &str) -> String {
    assert!(
        matches!(r.code, Some(c) if c != 0),
        "expected a non-zero exit status (not a signal):\n{}",
        r.show()
    );
    assert!(!r.stderr.contains("panicked"), "panic:\n{}", r.show());
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr:\n{}",
        r.show()
    );
    let msg = lines[0]
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("the line must start with `error: `:\n{}", r.show()));
    assert!(
        msg.contains(needle),
        "the message must contain {needle:?}:\n{}",
        r.show()
    );
    msg.to_string()
}

// ---------------------------------------------------------------------------------------------
// Fixtures and files

/// The shared data folder: `$ICAM_SHARED`, or `../shared` next to the repository.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("ICAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// The reference fixtures folder when every file of `need` is there, or `None` with a printed
/// reason.
pub fn fixtures_with(need: &[&str]) -> Option<PathBuf> {
    let dir = shared_dir().join("reference/fixtures");
    for f in need {
        if !dir.join(f).is_file() {
            eprintln!(
                "SKIPPED: reference fixture {} not found (set ICAM_SHARED)",
                dir.join(f).display()
            );
            return None;
        }
    }
    Some(dir)
}

/// The fixtures folder when the ResNet-50 weights and both test images are there.
pub fn fixtures() -> Option<PathBuf> {
    fixtures_with(&[
        "resnet50_seed0.safetensors",
        "chelsea224.png",
        "synthetic224.png",
    ])
}

/// The cached EfficientNet-Lite0 weights, or `None` with the fetch command printed.
pub fn lite0_cached() -> bool {
    use icam_models::store;
    let dir = store::cache_dir(None);
    let found = store::find("efficientnet-lite0", &dir).is_some();
    if !found {
        eprintln!(
            "SKIPPED: efficientnet-lite0 is not in the model cache {}; fetch it with `icam model fetch efficientnet-lite0`",
            dir.display()
        );
    }
    found
}

/// An image of the repository's `examples/images`.
pub fn example_image(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/images")
        .join(name)
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn json_file(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
