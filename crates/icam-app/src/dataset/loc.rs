//! ImageNet's localisation list `LOC_val_solution.csv` (the Kaggle ImageNet Object
//! Localization Challenge's layout): a header `ImageId,PredictionString`, then per image its
//! id (`ILSVRC2012_val_00008726`, no folder, no extension) and the objects as
//! `wnid xmin ymin xmax ymax` repeated. The images are `<ImageId>.JPEG` in the CSV's folder,
//! in `val/`, or in `ILSVRC/Data/CLS-LOC/val/` (as unpacked from Kaggle); the WordNet ids
//! name ImageNet classes through the built-in list (`n01440764` is class 0).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{GtBox, IMAGE_EXT, Sample};

/// The header that tells this format from the plain CSV.
pub const LOC_HEADER: [&str; 2] = ["ImageId", "PredictionString"];

/// The folders, relative to the CSV's, where the images are looked for.
pub const LOC_IMAGE_DIRS: [&str; 3] = ["", "val", "ILSVRC/Data/CLS-LOC/val"];

/// Whether the first line of `csv_path` is `ImageId,PredictionString`.
pub fn is_loc(csv_path: &Path) -> Result<bool> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    Ok(match rdr.records().next() {
        Some(Ok(rec)) => {
            let first = rec
                .get(0)
                .unwrap_or_default()
                .trim_start_matches('\u{feff}');
            first == LOC_HEADER[0] && rec.get(1) == Some(LOC_HEADER[1])
        }
        _ => false,
    })
}

/// The samples of a `LOC_val_solution.csv`, in its order. Box corners are read as the
/// validation XML's (the list was made from them; see [`super::read_voc`]), so both layouts
/// give the same boxes. The images' folder is found from the first image.
pub fn read_loc(csv_path: &Path) -> Result<Vec<Sample>> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let mut folder: Option<(PathBuf, &str)> = None;
    let mut samples = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let at = || format!("{}: line {line}", csv_path.display());
        let rec = rec.with_context(at)?;
        let id = rec
            .get(0)
            .filter(|s| !s.is_empty())
            .with_context(|| format!("{}: no ImageId", at()))?;
        if id.contains(['/', '\\']) || id == ".." {
            bail!("{}: ImageId `{id}` is not a file name", at());
        }
        if !seen.insert(id.to_string()) {
            bail!("{}: {id} is listed twice", at());
        }
        let (label, boxes) = parse_prediction(rec.get(1).unwrap_or_default())
            .with_context(|| format!("{}: {id}", at()))?;
        let (dir, ext) = match &folder {
            Some(f) => (f.0.clone(), f.1),
            None => {
                let found = LOC_IMAGE_DIRS
                    .iter()
                    .flat_map(|d| IMAGE_EXT.iter().map(move |e| (base.join(d), *e)))
                    .find(|(d, e)| d.join(format!("{id}.{e}")).is_file())
                    .with_context(|| {
                        format!(
                            "{}: image {id} not found in {} (as .JPEG, .jpg or .png)",
                            csv_path.display(),
                            LOC_IMAGE_DIRS
                                .iter()
                                .map(|d| base.join(d).display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?;
                folder = Some(found.clone());
                found
            }
        };
        samples.push(Sample {
            path: dir.join(format!("{id}.{ext}")),
            label,
            boxes,
        });
    }
    if samples.is_empty() {
        bail!("{}: no rows", csv_path.display());
    }
    Ok(samples)
}

/// `wnid xmin ymin xmax ymax …`: the first object's WordNet id and every box (VOC's
/// inclusive 1-based corners, as continuous coordinates `[xmin − 1, xmax]`).
fn parse_prediction(s: &str) -> Result<(Option<String>, Vec<GtBox>)> {
    let tokens: Vec<&str> = s.split_whitespace().collect();
    if !tokens.len().is_multiple_of(5) {
        bail!(
            "expected `wnid xmin ymin xmax ymax` repeated, got {} fields",
            tokens.len()
        );
    }
    let mut label = None;
    let mut boxes = Vec::new();
    for obj in tokens.chunks(5) {
        label.get_or_insert_with(|| obj[0].to_string());
        let v: Vec<f64> = obj[1..]
            .iter()
            .map(|t| t.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("box corners of {} must be numbers", obj[0]))?;
        let (x0, y0, x1, y1) = (v[0] - 1.0, v[1] - 1.0, v[2], v[3]);
        if !(x1 > x0 && y1 > y0) {
            bail!("empty box of {} ({x0}, {y0}, {x1}, {y1})", obj[0]);
        }
        boxes.push(GtBox { x0, y0, x1, y1 });
    }
    Ok((label, boxes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(x0: f64, y0: f64, x1: f64, y1: f64) -> GtBox {
        GtBox { x0, y0, x1, y1 }
    }

    #[test]
    fn hand_written_rows() {
        let d = tempfile::tempdir().unwrap();
        let val = d.path().join("ILSVRC/Data/CLS-LOC/val");
        std::fs::create_dir_all(&val).unwrap();
        for id in ["ILSVRC2012_val_00008726", "ILSVRC2012_val_00000001"] {
            std::fs::write(val.join(format!("{id}.JPEG")), b"not decoded").unwrap();
        }
        let csv = d.path().join("LOC_val_solution.csv");
        // Two objects (the file's trailing space kept), then one; the file's order is kept.
        std::fs::write(
            &csv,
            "ImageId,PredictionString\n\
             ILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295 \n\
             ILSVRC2012_val_00000001,n01751748 111 108 441 375\n",
        )
        .unwrap();
        assert!(is_loc(&csv).unwrap());
        let s = read_loc(&csv).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path, val.join("ILSVRC2012_val_00008726.JPEG"));
        assert_eq!(s[0].label.as_deref(), Some("n02119789"));
        assert_eq!(
            s[0].boxes,
            [gt(254.0, 141.0, 454.0, 329.0), gt(43.0, 20.0, 322.0, 295.0)]
        );
        assert_eq!(s[1].path, val.join("ILSVRC2012_val_00000001.JPEG"));
        assert_eq!(s[1].label.as_deref(), Some("n01751748"));
        assert_eq!(s[1].boxes, [gt(110.0, 107.0, 441.0, 375.0)]);
        // The built-in list maps the ids to classes: n01751748 (sea snake) is 65.
        let l = icam_models::labels::Labels::imagenet();
        assert_eq!(l.parse("n01751748"), Ok(65));
        assert_eq!(l.parse("n02119789"), Ok(278));

        // Images beside the CSV; a plain CSV is not this format.
        std::fs::write(d.path().join("x.JPEG"), b"").unwrap();
        std::fs::write(&csv, "ImageId,PredictionString\nx,n01440764 1 1 2 2\n").unwrap();
        assert_eq!(read_loc(&csv).unwrap()[0].path, d.path().join("x.JPEG"));
        std::fs::write(&csv, "path,class\nx.JPEG,n01440764\n").unwrap();
        assert!(!is_loc(&csv).unwrap());
    }

    #[test]
    fn bad_rows_name_their_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("val")).unwrap();
        std::fs::write(d.path().join("val/a.JPEG"), b"").unwrap();
        let csv = d.path().join("LOC_val_solution.csv");
        let err = |rows: &str| {
            std::fs::write(&csv, format!("ImageId,PredictionString\n{rows}")).unwrap();
            format!("{:#}", read_loc(&csv).unwrap_err())
        };
        let c = csv.display();
        assert_eq!(
            err("a,n01440764 1 2 3\n"),
            format!("{c}: line 2: a: expected `wnid xmin ymin xmax ymax` repeated, got 4 fields")
        );
        assert_eq!(
            err("a,n01440764 1 2 3 4\na,n01440764 5 5 9 x\n"),
            format!("{c}: line 3: a is listed twice")
        );
        assert_eq!(
            err("a,n01440764 1 2 x 4\n"),
            format!(
                "{c}: line 2: a: box corners of n01440764 must be numbers: invalid float literal"
            )
        );
        assert_eq!(
            err("a,n01440764 5 2 4 4\n"),
            format!("{c}: line 2: a: empty box of n01440764 (4, 1, 4, 4)")
        );
        assert_eq!(
            err("../a,n01440764 1 1 2 2\n"),
            format!("{c}: line 2: ImageId `../a` is not a file name")
        );
        assert_eq!(err(""), format!("{c}: no rows"));
        let base = d.path();
        assert_eq!(
            err("zz,n01440764 1 1 2 2\n"),
            format!(
                "{c}: image zz not found in {}, {}, {} (as .JPEG, .jpg or .png)",
                base.join("").display(),
                base.join("val").display(),
                base.join("ILSVRC/Data/CLS-LOC/val").display()
            )
        );
    }
}
