//! Datasets for evaluation and the cases: a folder with Pascal VOC XML boxes (`Annotations/`
//! and `JPEGImages/`, XML files beside the images as ImageNet's validation boxes unpack, or
//! Kaggle's ImageNet `ILSVRC/` with `Annotations/CLS-LOC/val/` and `Data/CLS-LOC/val/`), a
//! plain folder of images, a CSV `path,class[,xmin,ymin,xmax,ymax]`, or ImageNet's
//! `LOC_val_solution.csv` (told apart by its header). Samples are listed up front (paths
//! only) and decoded one at a time, so memory does not grow with the dataset.

mod class_map;
mod csv;
mod loc;
mod voc;

use std::path::{Path, PathBuf};

use crate::error::NotFound;
use anyhow::{Context, Result, bail};

pub use self::csv::read_csv;
pub use class_map::{ClassMap, classes_for, parse_class_map};
pub use loc::{is_loc, read_loc};
pub use voc::read_voc;

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

/// The file extensions taken as images.
pub const IMAGE_EXT: [&str; 5] = ["jpg", "jpeg", "png", "JPEG", "JPG"];

/// Whether a path names an image by its extension.
pub fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXT.contains(&e))
}

/// The name of an image of the dataset `root` (a folder or a CSV file): its path relative to
/// the dataset's folder, as rows and seeds know it.
pub fn image_name(root: &Path, path: &Path) -> String {
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new(""))
    } else {
        root
    };
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
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

/// List a dataset: a CSV file (ImageNet's `LOC_val_solution.csv` by its header, else
/// `path,class[,box]`), a VOC-style folder, or a folder of images.
pub fn list(data: &Path) -> Result<Vec<Sample>> {
    if data.is_file() {
        return if is_loc(data)? {
            read_loc(data)
        } else {
            read_csv(data)
        };
    }
    if !data.is_dir() {
        return Err(anyhow::Error::new(NotFound(format!(
            "dataset not found: {}",
            data.display()
        ))));
    }
    let (mut ann, mut img_dir) = (data.join("Annotations"), data.join("JPEGImages"));
    // ImageNet as unpacked from Kaggle: `ILSVRC/{Annotations,Data}/CLS-LOC/val/`.
    let kaggle = (ann.join("CLS-LOC/val"), data.join("Data/CLS-LOC/val"));
    if kaggle.0.is_dir() && kaggle.1.is_dir() {
        (ann, img_dir) = kaggle;
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use icam_models::labels::Labels;

    use super::*;

    const XML: &str = r#"<annotation>
  <filename>cat.png</filename>
  <object><name>tiger cat</name>
    <bndbox><xmin>11</xmin><ymin>21</ymin><xmax>40</xmax><ymax>50</ymax></bndbox></object>
</annotation>"#;

    fn touch(p: &Path) {
        std::fs::write(p, b"not decoded when listing").unwrap();
    }

    #[test]
    fn three_layouts_are_listed_in_name_order() {
        // Annotations/ + JPEGImages/.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("Annotations")).unwrap();
        std::fs::create_dir_all(d.path().join("JPEGImages")).unwrap();
        std::fs::write(d.path().join("Annotations/b.xml"), XML).unwrap();
        std::fs::write(
            d.path().join("Annotations/a.xml"),
            XML.replace("cat.png", "dog.png"),
        )
        .unwrap();
        std::fs::write(d.path().join("Annotations/notes.txt"), "x").unwrap();
        touch(&d.path().join("JPEGImages/cat.png"));
        touch(&d.path().join("JPEGImages/dog.png"));
        let s = list(d.path()).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].path.ends_with("JPEGImages/dog.png"));
        assert!(s[1].path.ends_with("JPEGImages/cat.png"));
        assert_eq!(s[1].label.as_deref(), Some("tiger cat"));

        // XML beside the images; an image without XML has no label and no box.
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("cat.png"));
        touch(&d.path().join("zebra.jpg"));
        std::fs::write(d.path().join("cat.xml"), XML).unwrap();
        std::fs::write(d.path().join("readme.md"), "x").unwrap();
        let s = list(d.path()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path, d.path().join("cat.png"));
        assert_eq!(
            s[0].boxes,
            vec![GtBox {
                x0: 10.0,
                y0: 20.0,
                x1: 40.0,
                y1: 50.0
            }]
        );
        assert_eq!(
            s[1],
            Sample {
                path: d.path().join("zebra.jpg"),
                label: None,
                boxes: vec![]
            }
        );

        // Nothing there.
        let e = tempfile::tempdir().unwrap();
        let msg = list(e.path()).unwrap_err().to_string();
        assert_eq!(msg, format!("no images in {}", e.path().display()));
        let missing = e.path().join("nope");
        assert_eq!(
            list(&missing).unwrap_err().to_string(),
            format!("dataset not found: {}", missing.display())
        );
    }

    /// ILSVRC2012's validation boxes: `ILSVRC2012_val_00000001.xml` beside
    /// `ILSVRC2012_val_00000001.JPEG` (or in Kaggle's `ILSVRC/` tree), the file named without
    /// extension, objects named by WordNet id; the same samples as `LOC_val_solution.csv`.
    #[test]
    fn imagenet_validation_layouts() {
        let xml = |id: &str, wnid: &str, b: [u32; 4]| {
            format!(
                "<annotation>\n\t<folder>val</folder>\n\t<filename>{id}</filename>\n\t<source>\n\t\t<database>ILSVRC_2012</database>\n\t</source>\n\t<size>\n\t\t<width>500</width>\n\t\t<height>375</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n\t<object>\n\t\t<name>{wnid}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{}</xmin>\n\t\t\t<ymin>{}</ymin>\n\t\t\t<xmax>{}</xmax>\n\t\t\t<ymax>{}</ymax>\n\t\t</bndbox>\n\t</object>\n</annotation>\n",
                b[0], b[1], b[2], b[3]
            )
        };
        let ids = [
            ("ILSVRC2012_val_00000001", "n01751748", [111, 108, 441, 375]),
            ("ILSVRC2012_val_00000002", "n09193705", [31, 30, 500, 375]),
        ];
        let l = Labels::imagenet();
        let none = BTreeMap::new();
        // XML beside the images.
        let d = tempfile::tempdir().unwrap();
        for (id, wnid, b) in ids {
            touch(&d.path().join(format!("{id}.JPEG")));
            std::fs::write(d.path().join(format!("{id}.xml")), xml(id, wnid, b)).unwrap();
        }
        let s = list(d.path()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path, d.path().join("ILSVRC2012_val_00000001.JPEG"));
        assert_eq!(s[0].label.as_deref(), Some("n01751748"));
        assert_eq!(classes_for("n01751748", Some(&l), &none), vec![65]);
        assert_eq!(classes_for("n09193705", Some(&l), &none), vec![970]);
        assert_eq!(
            s[0].boxes,
            vec![GtBox {
                x0: 110.0,
                y0: 107.0,
                x1: 441.0,
                y1: 375.0
            }]
        );
        // Kaggle's tree, and its LOC_val_solution.csv beside `ILSVRC/`: the same samples.
        let k = tempfile::tempdir().unwrap();
        let root = k.path().join("ILSVRC");
        let (ann, img) = (
            root.join("Annotations/CLS-LOC/val"),
            root.join("Data/CLS-LOC/val"),
        );
        std::fs::create_dir_all(&ann).unwrap();
        std::fs::create_dir_all(&img).unwrap();
        let mut loc = String::from("ImageId,PredictionString\n");
        for (id, wnid, b) in ids {
            touch(&img.join(format!("{id}.JPEG")));
            std::fs::write(ann.join(format!("{id}.xml")), xml(id, wnid, b)).unwrap();
            loc.push_str(&format!(
                "{id},{wnid} {} {} {} {}\n",
                b[0], b[1], b[2], b[3]
            ));
        }
        let csv = k.path().join("LOC_val_solution.csv");
        std::fs::write(&csv, loc).unwrap();
        let from_xml = list(&root).unwrap();
        let from_csv = list(&csv).unwrap();
        assert_eq!(from_xml, from_csv);
        assert_eq!(
            from_xml.iter().map(|x| x.boxes.clone()).collect::<Vec<_>>(),
            s.iter().map(|x| x.boxes.clone()).collect::<Vec<_>>()
        );
        assert_eq!(
            image_name(&csv, &from_csv[1].path),
            "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000002.JPEG"
        );
    }

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
    }
}
