//! What an evaluation folder records about its run, so that folders written by separate
//! processes (shards of a cluster job) can be checked to belong together and merged in
//! dataset order: `run.json` (the run's identity and its shard) and `images.csv` (the run's
//! images with their index in the dataset).

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dataset::{self, Sample};
use crate::model::LoadedModel;

/// The run record in every evaluation folder.
pub const RUN_FILE: &str = "run.json";
/// The run's images (`index,image`: the index in the dataset's order, the name of the rows).
pub const IMAGES_FILE: &str = "images.csv";

/// `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// What must be equal for rows to be merged or resumed: icam's version, the dataset's
    /// fingerprint, the model's, the method columns, and every option of the request. It is
    /// compared as a whole, so an option added to [`super::EvalRequest`] is covered without
    /// code here.
    pub identity: Value,
    /// The dataset as given to this run (shards may see it under other paths).
    pub data: String,
    /// This run's shard `{index, count}`, if any.
    pub shard: Option<ShardInfo>,
    /// `--limit`, if any: the run stops after that many of its images.
    pub limit: Option<usize>,
    /// The number of images in `images.csv`.
    pub images: usize,
    /// The folders merged into this one (`icam eval merge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
}

/// A shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: usize,
    pub count: usize,
}

/// The dataset's identity: its number of images and the SHA-256 of every image's name,
/// label and boxes in order (not of the pixels: hashing ImageNet would take longer than a
/// shard). Independent of where the dataset is mounted.
pub(super) fn dataset_identity(data: &Path, samples: &[Sample]) -> Value {
    let mut h = Sha256::new();
    for s in samples {
        h.update(dataset::image_name(data, &s.path).as_bytes());
        h.update(b"\t");
        h.update(s.label.as_deref().unwrap_or_default().as_bytes());
        for b in &s.boxes {
            h.update(format!("\t{} {} {} {}", b.x0, b.y0, b.x1, b.y1).as_bytes());
        }
        h.update(b"\n");
    }
    json!({ "images": samples.len(), "sha256": hex(&h.finalize()) })
}

/// The model's identity: architecture, classes, precision, preprocessing and the SHA-256 of
/// the weight file's bytes (not its path: nodes may see it elsewhere; not the device: shards
/// may run on CPUs and GPUs).
pub(super) fn model_identity(loaded: &LoadedModel) -> Result<Value> {
    let mut file = std::fs::File::open(&loaded.weights)
        .with_context(|| format!("reading {}", loaded.weights.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)
            .with_context(|| format!("reading {}", loaded.weights.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let net = loaded.net();
    Ok(json!({
        "arch": net.arch(),
        "classes": net.num_classes(),
        "dtype": net.precision().name(),
        "normalize": loaded.normalization.name(),
        "no_resize": loaded.no_resize,
        "weights_sha256": hex(&h.finalize()),
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value as it reads back from `run.json` (so that a fresh identity compares equal to a
/// recorded one whatever the number formatting).
pub(super) fn normalized(v: &Value) -> Result<Value> {
    Ok(serde_json::from_str(&serde_json::to_string(v)?)?)
}

impl RunInfo {
    /// `dir/run.json`, or `None` when the folder has none.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let p = dir.join(RUN_FILE);
        if !p.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not an evaluation's run record", p.display()))
    }

    /// `shard 1/3`, or `the whole dataset`.
    pub fn shard_name(&self) -> String {
        match self.shard {
            Some(s) => format!("shard {}/{}", s.index, s.count),
            None => "the whole dataset".into(),
        }
    }

    /// The number of images of the dataset (from the identity).
    pub fn dataset_images(&self) -> Option<usize> {
        self.identity["dataset"]["images"]
            .as_u64()
            .map(|n| n as usize)
    }
}

/// `images.csv` of `images` (`(index, name)`).
pub(super) fn images_csv(images: &[(usize, String)]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["index", "image"])?;
    for (i, name) in images {
        w.write_record([i.to_string().as_str(), name])?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// `dir/images.csv`: `(index, name)` in file order.
pub(super) fn read_images(dir: &Path) -> Result<Vec<(usize, String)>> {
    let p = dir.join(IMAGES_FILE);
    let mut r = csv::Reader::from_path(&p).with_context(|| format!("reading {}", p.display()))?;
    let mut v = Vec::new();
    for (k, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", p.display(), k + 2))?;
        let index = rec
            .get(0)
            .and_then(|i| i.parse::<usize>().ok())
            .with_context(|| format!("{}: line {}: no index", p.display(), k + 2))?;
        let Some(name) = rec.get(1) else {
            bail!("{}: line {}: no image", p.display(), k + 2);
        };
        v.push((index, name.to_string()));
    }
    Ok(v)
}

/// Where two identities differ: `options.curve_steps: 20 ≠ 10`, one entry per differing
/// leaf (arrays compare as leaves).
pub fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{path}: {} ≠ {}", short(a), short(b))),
            _ => {}
        }
    }
    fn short(v: &Value) -> String {
        let s = if v.is_null() {
            "(absent)".to_string()
        } else {
            v.to_string()
        };
        if s.chars().count() > 48 {
            s.chars().take(45).collect::<String>() + "…"
        } else {
            s
        }
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::GtBox;

    #[test]
    fn differences_name_the_leaves() {
        let a = json!({"options": {"curve_steps": 20, "methods": ["icam", "gradcam"], "x": 1}, "icam": "0.1.0"});
        let b = json!({"options": {"curve_steps": 10, "methods": ["icam"], "y": {"z": true}}, "icam": "0.1.0"});
        assert_eq!(
            differences(&a, &b),
            [
                "options.curve_steps: 20 ≠ 10",
                "options.methods: [\"icam\",\"gradcam\"] ≠ [\"icam\"]",
                "options.x: 1 ≠ (absent)",
                "options.y: (absent) ≠ {\"z\":true}",
            ]
        );
        assert!(differences(&a, &a).is_empty());
    }

    #[test]
    fn dataset_identity_sees_names_labels_and_boxes_not_the_mount() {
        let s = |root: &str, label: &str, x1: f64| Sample {
            path: Path::new(root).join("val/a.JPEG"),
            label: Some(label.into()),
            boxes: vec![GtBox {
                x0: 0.0,
                y0: 1.0,
                x1,
                y1: 4.0,
            }],
        };
        let id = |root: &str, label: &str, x1: f64| {
            dataset_identity(Path::new(root), &[s(root, label, x1)])
        };
        let a = id("/mnt/a", "n01440764", 3.0);
        assert_eq!(a["images"], 1);
        assert_eq!(a, id("/scratch/b", "n01440764", 3.0));
        assert_ne!(a, id("/mnt/a", "n01443537", 3.0));
        assert_ne!(a, id("/mnt/a", "n01440764", 3.5));
    }

    #[test]
    fn images_csv_round_trips_odd_names() {
        let d = tempfile::tempdir().unwrap();
        let v = vec![(0, "a,b.png".to_string()), (3, "c \"d\".png".to_string())];
        std::fs::write(d.path().join(IMAGES_FILE), images_csv(&v).unwrap()).unwrap();
        assert_eq!(read_images(d.path()).unwrap(), v);
    }
}
