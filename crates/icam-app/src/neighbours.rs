//! Example-based explanation for the cases' training examples (the paper's Figs. 7 and 9, chosen
//! by hand there): the training images of a class nearest to a test image, by the cosine of
//! the model's pooled features ([`icam::features`]), with the training set's embeddings cached
//! so that each training image is embedded once.
//!
//! **Training folder.** `DIR/<class>/<image>`: one sub-folder per class, named by a class
//! index, a WordNet id or a class name (resolved as `--class`; a model without class names
//! takes indices only). Several folders may name the same class. Entries whose name starts
//! with `.` (such as the cache folder) are ignored; images are the `.jpg/.jpeg/.png` files
//! directly inside a class folder, in name order. Only the classes a run needs are listed
//! and embedded.
//!
//! **Cache.** By default `DIR/.icam-cache/` (`--cache` elsewhere); a failure to write it is a
//! warning, never an error. One folder per model identity:
//!
//! ```text
//! .icam-cache/<arch>-<16 hex digits>/model.json          the identity, in full
//! .icam-cache/<arch>-<16 hex digits>/class-<folder>.json  index of one class folder
//! .icam-cache/<arch>-<16 hex digits>/class-<folder>.npy   float32 [images, dim]
//! ```
//!
//! The identity is the weights file (canonical path, size, modification time in ns), the
//! architecture, the pooled layer, the normalisation, `--no-resize` and the precision; the
//! hex digits are the FNV-1a 64 hash of its JSON, and `model.json` is compared in full. A
//! class index is `{"format": "icam-features/1", "folder", "dim", "npy_fnv1a", "images":
//! [{"file", "size", "mtime_ns"}, …]}`: row `i` of the `.npy` is `images[i]`, `npy_fnv1a` the
//! FNV-1a 64 hash of the `.npy` bytes (a torn or foreign pair is detected and recomputed). An
//! image whose size or modification time changed is embedded again; an image no longer in
//! the folder is dropped; a class file is rewritten (atomically: temporary name, rename) only
//! when its contents change. Features are rounded to float32 when computed, so a run served
//! from the cache finds the same neighbours as the run that filled it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::error::{NotFound, invalid};
use crate::model::LoadedModel;
use crate::output::{npy_bytes, read_npy};
use crate::progress::{Phase, Progress};
use crate::seed::fnv1a;

const FORMAT: &str = "icam-features/1";

fn mtime_ns(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// What the features depend on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub format: String,
    pub weights: String,
    pub weights_size: u64,
    pub weights_mtime_ns: u64,
    pub arch: String,
    pub layer: String,
    pub normalize: String,
    pub no_resize: bool,
    pub dtype: String,
}

impl ModelIdentity {
    pub fn of(loaded: &LoadedModel, layer: &str) -> Result<Self> {
        let w = std::fs::canonicalize(&loaded.weights)
            .with_context(|| format!("reading {}", loaded.weights.display()))?;
        let meta = std::fs::metadata(&w).with_context(|| format!("reading {}", w.display()))?;
        let net = loaded.model.net.as_ref();
        Ok(Self {
            format: FORMAT.into(),
            weights: w.display().to_string(),
            weights_size: meta.len(),
            weights_mtime_ns: mtime_ns(&meta),
            arch: net.arch().into(),
            layer: layer.into(),
            normalize: loaded.normalization.name().into(),
            no_resize: loaded.no_resize,
            dtype: net.precision().name().into(),
        })
    }

    /// `<arch>-<16 hex digits>`.
    fn folder(&self) -> String {
        let json = serde_json::to_string(self).expect("serialisable");
        format!("{}-{:016x}", self.arch, fnv1a(json.as_bytes()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct CachedImage {
    file: String,
    size: u64,
    mtime_ns: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClassIndex {
    format: String,
    folder: String,
    dim: usize,
    npy_fnv1a: String,
    images: Vec<CachedImage>,
}

/// One embedded training image.
#[derive(Clone, Debug)]
pub struct Example {
    /// `folder/name`, relative to the training folder.
    pub file: String,
    pub path: PathBuf,
    pub class: usize,
    /// Pooled features, rounded to float32.
    pub features: Vec<f64>,
}

/// The training folder: class sub-folders by class.
pub struct TrainSet {
    pub root: PathBuf,
    folders: BTreeMap<usize, Vec<String>>,
}

impl TrainSet {
    /// List the class folders of `root` and resolve their names (an unknown name is an
    /// error: a typo would silently drop a class).
    pub fn open(root: &Path, loaded: &LoadedModel) -> Result<Self> {
        if !root.is_dir() {
            return Err(anyhow::Error::new(NotFound(format!(
                "--train {}: not a folder",
                root.display()
            ))));
        }
        let mut folders: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut names: Vec<String> = Vec::new();
        for e in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
            let e = e.with_context(|| format!("reading {}", root.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            names.push(name);
        }
        names.sort();
        for name in names {
            let c = loaded.parse_class(&name).with_context(|| {
                format!(
                    "--train {}: sub-folder `{name}` names no class of the model",
                    root.display()
                )
            })?;
            folders.entry(c).or_default().push(name);
        }
        if folders.is_empty() {
            return Err(invalid!(
                "--train {}: no class sub-folders (expected DIR/<class>/<image>)",
                root.display()
            ));
        }
        Ok(Self {
            root: root.to_path_buf(),
            folders,
        })
    }

    pub fn has_class(&self, c: usize) -> bool {
        self.folders.contains_key(&c)
    }

    pub fn class_count(&self) -> usize {
        self.folders.len()
    }
}

/// The embeddings of the classes a run asked for, and how they were obtained.
#[derive(Default)]
pub struct Embedding {
    pub by_class: BTreeMap<usize, Vec<Example>>,
    /// Images embedded by this run.
    pub embedded: usize,
    /// Images served from the cache.
    pub cached: usize,
    /// Images that could not be read (skipped, with a warning).
    pub failed: usize,
    /// Class files (re)written.
    pub written: usize,
    pub cache_dir: PathBuf,
}

impl Embedding {
    /// The `k` examples of `class` nearest to `query`, most similar first.
    pub fn nearest(&self, class: usize, query: &[f64], k: usize) -> Vec<(&Example, f64)> {
        let Some(ex) = self.by_class.get(&class) else {
            return vec![];
        };
        icam::features::top_k(query, ex.iter().map(|e| e.features.as_slice()), k)
            .into_iter()
            .map(|(i, s)| (&ex[i], s))
            .collect()
    }
}

struct Planned {
    folder: String,
    class: usize,
    images: Vec<(CachedImage, PathBuf)>,
    /// Per image: its cached features, if still valid.
    rows: Vec<Option<Vec<f64>>>,
    /// The cached index as it was (to tell whether anything changed).
    before: Option<Vec<CachedImage>>,
}

/// Embed the training images of `classes` (those the training folder has), from the cache
/// where valid. `compute` returns one image's pooled features; the images computed are the
/// items of [`Phase::Embed`], failures are warnings.
pub fn embed(
    train: &TrainSet,
    classes: &BTreeSet<usize>,
    identity: &ModelIdentity,
    cache_root: &Path,
    mut compute: impl FnMut(&Path) -> Result<Vec<f64>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Embedding> {
    let cache_dir = cache_root.join(identity.folder());
    let identity_ok = std::fs::read_to_string(cache_dir.join("model.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<ModelIdentity>(&s).ok())
        .is_some_and(|m| &m == identity);
    let mut plans = Vec::new();
    for &c in classes {
        for folder in train.folders.get(&c).into_iter().flatten() {
            let dir = train.root.join(folder);
            let mut images = Vec::new();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && crate::dataset::is_image(p)
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            for p in files {
                let meta =
                    std::fs::metadata(&p).with_context(|| format!("reading {}", p.display()))?;
                images.push((
                    CachedImage {
                        file: p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        size: meta.len(),
                        mtime_ns: mtime_ns(&meta),
                    },
                    p,
                ));
            }
            let cached = if identity_ok {
                match load_class(&cache_dir, folder) {
                    Ok(v) => v,
                    Err(e) => {
                        progress(Progress::Warning(&format!(
                            "feature cache of `{folder}` unreadable ({e:#}); recomputing it"
                        )));
                        None
                    }
                }
            } else {
                None
            };
            let rows = images
                .iter()
                .map(|(img, _)| {
                    cached.as_ref().and_then(|(idx, rows)| {
                        idx.iter().position(|c| c == img).map(|i| rows[i].clone())
                    })
                })
                .collect();
            plans.push(Planned {
                folder: folder.clone(),
                class: c,
                images,
                rows,
                before: cached.map(|(idx, _)| idx),
            });
        }
    }
    let todo: usize = plans
        .iter()
        .map(|p| p.rows.iter().filter(|r| r.is_none()).count())
        .sum();
    progress(Progress::Begin(Phase::Embed, todo));
    let mut out = Embedding {
        cache_dir: cache_dir.clone(),
        ..Default::default()
    };
    let mut cache_ok = true;
    if !plans.is_empty()
        && (todo > 0 || !identity_ok)
        && let Err(e) = write_identity(&cache_dir, identity)
    {
        progress(Progress::Warning(&format!(
            "cannot write the feature cache in {} ({e:#}); the training images will be embedded again next time (use --cache DIR)",
            cache_root.display()
        )));
        cache_ok = false;
    }
    for plan in plans {
        let mut examples = Vec::new();
        let mut kept = Vec::new();
        for ((img, path), row) in plan.images.iter().zip(plan.rows) {
            let features = match row {
                Some(f) => {
                    out.cached += 1;
                    f
                }
                None => {
                    progress(Progress::Item(&format!("{}/{}", plan.folder, img.file)));
                    let r = compute(path);
                    progress(Progress::Step);
                    match r {
                        Ok(f) => {
                            out.embedded += 1;
                            f.into_iter().map(|v| v as f32 as f64).collect()
                        }
                        Err(e) => {
                            out.failed += 1;
                            progress(Progress::Warning(&format!(
                                "{}: {e:#}; skipped",
                                path.display()
                            )));
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = examples.first().map(|e: &Example| e.features.len())
                && first != features.len()
            {
                bail!(
                    "{}: features of dimension {} where the others have {first}",
                    path.display(),
                    features.len()
                );
            }
            kept.push(img.clone());
            examples.push(Example {
                file: format!("{}/{}", plan.folder, img.file),
                path: path.clone(),
                class: plan.class,
                features,
            });
        }
        if cache_ok && plan.before.as_ref() != Some(&kept) {
            match write_class(&cache_dir, &plan.folder, &kept, &examples) {
                Ok(()) => out.written += 1,
                Err(e) => {
                    progress(Progress::Warning(&format!(
                        "cannot write the feature cache of `{}` ({e:#})",
                        plan.folder
                    )));
                    cache_ok = false;
                }
            }
        }
        out.by_class.entry(plan.class).or_default().extend(examples);
    }
    progress(Progress::End(Phase::Embed));
    Ok(out)
}

/// The cached index and rows of one class folder; `None` when there is no cache yet.
#[allow(clippy::type_complexity)]
fn load_class(dir: &Path, folder: &str) -> Result<Option<(Vec<CachedImage>, Vec<Vec<f64>>)>> {
    let json = dir.join(format!("class-{folder}.json"));
    let npy = dir.join(format!("class-{folder}.npy"));
    if !json.is_file() {
        return Ok(None);
    }
    let idx: ClassIndex = serde_json::from_str(
        &std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?,
    )
    .with_context(|| format!("{} is not a class index", json.display()))?;
    if idx.format != FORMAT || idx.folder != folder {
        bail!("{}: another format or folder", json.display());
    }
    let bytes = std::fs::read(&npy).with_context(|| format!("reading {}", npy.display()))?;
    if format!("{:016x}", fnv1a(&bytes)) != idx.npy_fnv1a {
        bail!("{} does not match its index", npy.display());
    }
    let (shape, data) = read_npy(&npy)?;
    if shape != [idx.images.len(), idx.dim] {
        bail!(
            "{} has shape {shape:?}, its index says [{}, {}]",
            npy.display(),
            idx.images.len(),
            idx.dim
        );
    }
    let rows = if idx.dim == 0 {
        vec![vec![]; idx.images.len()]
    } else {
        data.chunks_exact(idx.dim).map(<[f64]>::to_vec).collect()
    };
    Ok(Some((idx.images, rows)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })
}

fn write_identity(dir: &Path, identity: &ModelIdentity) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut s = serde_json::to_string_pretty(identity)?;
    s.push('\n');
    let p = dir.join("model.json");
    if std::fs::read_to_string(&p).ok().as_deref() != Some(s.as_str()) {
        write_atomic(&p, s.as_bytes())?;
    }
    Ok(())
}

/// Write one class folder's `.npy` then its index (a crash in between leaves an index whose
/// hash does not match: recomputed next time).
fn write_class(dir: &Path, folder: &str, images: &[CachedImage], ex: &[Example]) -> Result<()> {
    let dim = ex.first().map_or(0, |e| e.features.len());
    let npy = npy_bytes(
        &[ex.len(), dim],
        ex.iter().flat_map(|e| e.features.iter().map(|&v| v as f32)),
    )?;
    let idx = ClassIndex {
        format: FORMAT.into(),
        folder: folder.into(),
        dim,
        npy_fnv1a: format!("{:016x}", fnv1a(&npy)),
        images: images.to_vec(),
    };
    write_atomic(&dir.join(format!("class-{folder}.npy")), &npy)?;
    let mut s = serde_json::to_string_pretty(&idx)?;
    s.push('\n');
    write_atomic(&dir.join(format!("class-{folder}.json")), s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ModelIdentity {
        ModelIdentity {
            format: FORMAT.into(),
            weights: "/w.safetensors".into(),
            weights_size: 1,
            weights_mtime_ns: 2,
            arch: "resnet50".into(),
            layer: "layer4.2".into(),
            normalize: "imagenet".into(),
            no_resize: true,
            dtype: "float32".into(),
        }
    }

    fn ex(file: &str, f: Vec<f64>) -> Example {
        Example {
            file: file.into(),
            path: PathBuf::from(file),
            class: 3,
            features: f,
        }
    }

    #[test]
    fn class_files_round_trip_and_detect_tearing() {
        let d = tempfile::tempdir().unwrap();
        let images = vec![
            CachedImage {
                file: "a.png".into(),
                size: 10,
                mtime_ns: 5,
            },
            CachedImage {
                file: "b.png".into(),
                size: 11,
                mtime_ns: 6,
            },
        ];
        let e = vec![ex("a.png", vec![1.0, 0.5]), ex("b.png", vec![-2.0, 0.25])];
        write_class(d.path(), "n01", &images, &e).unwrap();
        let (idx, rows) = load_class(d.path(), "n01").unwrap().unwrap();
        assert_eq!(idx, images);
        assert_eq!(rows, vec![vec![1.0, 0.5], vec![-2.0, 0.25]]);
        assert!(load_class(d.path(), "other").unwrap().is_none());
        // Another matrix under the same index: detected.
        let e2 = [ex("a.png", vec![1.0, 0.5]), ex("b.png", vec![-2.0, 0.5])];
        let npy = npy_bytes(
            &[2, 2],
            e2.iter().flat_map(|e| e.features.iter().map(|&v| v as f32)),
        )
        .unwrap();
        std::fs::write(d.path().join("class-n01.npy"), npy).unwrap();
        assert!(load_class(d.path(), "n01").is_err());
        // The folder name depends on every field of the identity.
        let a = identity();
        let mut b = identity();
        b.weights_mtime_ns = 3;
        assert_ne!(a.folder(), b.folder());
        assert!(a.folder().starts_with("resnet50-"));
        assert_eq!(a.folder(), identity().folder());
    }
}
