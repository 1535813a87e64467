//! Datasets for `icam eval`: a folder with Pascal VOC XML boxes (`Annotations/` +
//! `JPEGImages/`, or XML files beside the images, as ImageNet's validation boxes), a plain
//! folder of images, or a CSV `path,class[,xmin,ymin,xmax,ymax]`. Samples are listed up front
//! (paths only) and decoded one at a time, so memory does not grow with the dataset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use icam_models::labels::Labels;

/// A ground-truth box in original-image pixel coordinates (VOC: inclusive 1-based corners
/// are taken as continuous coordinates `[xmin − 1, xmax]`).
#[derive(Clone, Debug, PartialEq)]
pub struct GtBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

/// One image of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    /// The object name as the annotation gives it (`elephant`, `n02504458`, `282`), if any.
    pub label: Option<String>,
    pub boxes: Vec<GtBox>,
}

const IMAGE_EXT: [&str; 5] = ["jpg", "jpeg", "png", "JPEG", "JPG"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXT.contains(&e))
}

fn sorted_files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && keep(p))
        .collect();
    v.sort();
    Ok(v)
}

/// List a dataset: a CSV file, a VOC-style folder, or a folder of images.
pub fn list(data: &Path) -> Result<Vec<Sample>> {
    if data.is_file() {
        return read_csv(data);
    }
    if !data.is_dir() {
        bail!("dataset not found: {}", data.display());
    }
    let ann = data.join("Annotations");
    let img_dir = data.join("JPEGImages");
    let samples = if ann.is_dir() {
        let images = if img_dir.is_dir() {
            img_dir
        } else {
            data.to_path_buf()
        };
        sorted_files(&ann, |p| p.extension().is_some_and(|e| e == "xml"))?
            .into_iter()
            .map(|x| read_voc(&x, &images))
            .collect::<Result<Vec<_>>>()?
    } else {
        sorted_files(data, is_image)?
            .into_iter()
            .map(|p| {
                let xml = p.with_extension("xml");
                if xml.is_file() {
                    let mut s = read_voc(&xml, data)?;
                    s.path = p;
                    Ok(s)
                } else {
                    Ok(Sample {
                        path: p,
                        label: None,
                        boxes: vec![],
                    })
                }
            })
            .collect::<Result<Vec<_>>>()?
    };
    if samples.is_empty() {
        bail!("no images in {}", data.display());
    }
    Ok(samples)
}

/// One VOC XML file: the image it names (in `images`), the first object's name, every box.
pub fn read_voc(xml: &Path, images: &Path) -> Result<Sample> {
    let text =
        std::fs::read_to_string(xml).with_context(|| format!("reading {}", xml.display()))?;
    let doc = roxmltree::Document::parse(&text)
        .with_context(|| format!("{} is not valid XML", xml.display()))?;
    let root = doc.root_element();
    let child_text = |n: roxmltree::Node, tag: &str| {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let stem = xml
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let filename = child_text(root, "filename").unwrap_or(stem.clone());
    let mut path = images.join(&filename);
    if !path.is_file() {
        // ImageNet's XML names the file without extension.
        path = IMAGE_EXT
            .iter()
            .map(|e| images.join(format!("{filename}.{e}")))
            .chain(IMAGE_EXT.iter().map(|e| images.join(format!("{stem}.{e}"))))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "{}: image `{filename}` not found in {}",
                    xml.display(),
                    images.display()
                )
            })?;
    }
    let mut label = None;
    let mut boxes = Vec::new();
    for obj in root.children().filter(|c| c.has_tag_name("object")) {
        if label.is_none() {
            label = child_text(obj, "name");
        }
        let Some(bb) = obj.children().find(|c| c.has_tag_name("bndbox")) else {
            continue;
        };
        let num = |t: &str| -> Result<f64> {
            child_text(bb, t)
                .with_context(|| format!("{}: box without <{t}>", xml.display()))?
                .parse::<f64>()
                .with_context(|| format!("{}: <{t}> is not a number", xml.display()))
        };
        let (x0, y0, x1, y1) = (
            num("xmin")? - 1.0,
            num("ymin")? - 1.0,
            num("xmax")?,
            num("ymax")?,
        );
        if !(x1 > x0 && y1 > y0) {
            bail!("{}: empty box ({x0}, {y0}, {x1}, {y1})", xml.display());
        }
        boxes.push(GtBox { x0, y0, x1, y1 });
    }
    Ok(Sample { path, label, boxes })
}

/// A CSV `path,class[,xmin,ymin,xmax,ymax]` (header optional; a path may repeat for more boxes;
/// relative paths are relative to the CSV's folder; box corners are continuous coordinates).
pub fn read_csv(csv_path: &Path) -> Result<Vec<Sample>> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let mut order: Vec<PathBuf> = Vec::new();
    let mut by_path: BTreeMap<PathBuf, Sample> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", csv_path.display(), i + 1))?;
        if i == 0 && rec.get(0).is_some_and(|f| f.eq_ignore_ascii_case("path")) {
            continue;
        }
        let line = i + 1;
        let p = rec
            .get(0)
            .filter(|s| !s.is_empty())
            .with_context(|| format!("{}: line {line}: no path", csv_path.display()))?;
        let path = base.join(p);
        let label = rec.get(1).filter(|s| !s.is_empty()).map(str::to_string);
        let bx = match rec.len() {
            0..=2 => None,
            6 => {
                let v: Vec<f64> = (2..6)
                    .map(|k| rec[k].parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .with_context(|| {
                        format!(
                            "{}: line {line}: box corners must be numbers",
                            csv_path.display()
                        )
                    })?;
                if !(v[2] > v[0] && v[3] > v[1]) {
                    bail!("{}: line {line}: empty box", csv_path.display());
                }
                Some(GtBox {
                    x0: v[0],
                    y0: v[1],
                    x1: v[2],
                    y1: v[3],
                })
            }
            n => bail!(
                "{}: line {line}: expected 2 or 6 fields, got {n}",
                csv_path.display()
            ),
        };
        let entry = by_path.entry(path.clone()).or_insert_with(|| {
            order.push(path.clone());
            Sample {
                path,
                label: label.clone(),
                boxes: vec![],
            }
        });
        entry.boxes.extend(bx);
    }
    if order.is_empty() {
        bail!("{}: no rows", csv_path.display());
    }
    Ok(order
        .into_iter()
        .map(|p| by_path.remove(&p).expect("listed"))
        .collect())
}

/// The ImageNet classes an annotation name stands for: an index, a WordNet id, an exact
/// synonym, or — for a generic name such as `elephant` — every class with a synonym containing
/// it as a word (`Indian elephant`, `African elephant`). A prediction is correct when it is
/// one of them. `overrides` (`--class-map NAME=C1,C2`) take precedence.
pub fn classes_for(
    label: &str,
    labels: Option<&Labels>,
    overrides: &BTreeMap<String, Vec<usize>>,
) -> Vec<usize> {
    if let Some(v) = overrides.get(label) {
        return v.clone();
    }
    if let Ok(i) = label.trim().parse::<usize>() {
        return vec![i];
    }
    let Some(l) = labels else { return vec![] };
    if let Ok(i) = l.parse(label) {
        return vec![i];
    }
    let word = label.trim().to_lowercase();
    (0..l.len())
        .filter(|&i| {
            l.synonyms(i).is_some_and(|s| {
                s.split(',')
                    .any(|syn| syn.to_lowercase().split_whitespace().any(|w| w == word))
            })
        })
        .collect()
}

/// `--class-map NAME=C1,C2` options, as a map from annotation name to class indices.
pub fn parse_class_map(specs: &[String]) -> Result<BTreeMap<String, Vec<usize>>> {
    let mut overrides = BTreeMap::new();
    for m in specs {
        let (name, cs) = m
            .split_once('=')
            .with_context(|| format!("--class-map `{m}`: expected NAME=C1,C2"))?;
        let cs = cs
            .split(',')
            .map(|c| c.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .with_context(|| format!("--class-map `{m}`: classes must be indices"))?;
        overrides.insert(name.to_string(), cs);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_folder_and_generic_names() {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/voc-elephants");
        if !d.is_dir() {
            eprintln!("SKIPPED: {} not found", d.display());
            return;
        }
        let s = list(&d).unwrap();
        assert_eq!(s.len(), 10);
        assert_eq!(s.iter().map(|x| x.boxes.len()).sum::<usize>(), 11);
        assert_eq!(s[0].label.as_deref(), Some("elephant"));
        assert_eq!(
            s[0].boxes[0],
            GtBox {
                x0: 40.0,
                y0: 49.0,
                x1: 389.0,
                y1: 303.0
            }
        );
        assert!(s[0].path.ends_with("JPEGImages/000001.jpg"));
        let l = Labels::imagenet();
        assert_eq!(
            classes_for("elephant", Some(&l), &BTreeMap::new()),
            vec![385, 386]
        );
        assert_eq!(
            classes_for("tiger cat", Some(&l), &BTreeMap::new()),
            vec![282]
        );
        assert_eq!(
            classes_for("n01440764", Some(&l), &BTreeMap::new()),
            vec![0]
        );
        let mut o = BTreeMap::new();
        o.insert("elephant".to_string(), vec![101, 385, 386]);
        assert_eq!(classes_for("elephant", Some(&l), &o), vec![101, 385, 386]);
    }

    #[test]
    fn csv_rows_group_boxes_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "path,class,xmin,ymin,xmax,ymax\na.png,282,1,2,30,40\nb.png,espresso\na.png,282,5,5,9,9\n").unwrap();
        let s = read_csv(&p).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path, dir.path().join("a.png"));
        assert_eq!(s[0].boxes.len(), 2);
        assert_eq!(s[1].label.as_deref(), Some("espresso"));
        assert!(s[1].boxes.is_empty());
        std::fs::write(&p, "a.png,1,2,3\n").unwrap();
        assert!(
            read_csv(&p)
                .unwrap_err()
                .to_string()
                .contains("expected 2 or 6 fields, got 4")
        );
    }
}
