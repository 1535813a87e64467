//! Datasets as a CSV file `path,class[,xmin,ymin,xmax,ymax]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{GtBox, Sample};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_group_boxes_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "path,class,xmin,ymin,xmax,ymax\na.png,282,1,2,30,40\nb.png,espresso\na.png,282,5,5,9,9\n").unwrap();
        let s = read_csv(&p).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path, dir.path().join("a.png"));
        assert_eq!(
            s[0].boxes,
            vec![
                GtBox {
                    x0: 1.0,
                    y0: 2.0,
                    x1: 30.0,
                    y1: 40.0
                },
                GtBox {
                    x0: 5.0,
                    y0: 5.0,
                    x1: 9.0,
                    y1: 9.0
                }
            ]
        );
        assert_eq!(s[0].label.as_deref(), Some("282"));
        assert_eq!(s[1].label.as_deref(), Some("espresso"));
        assert!(s[1].boxes.is_empty());
        // Without a header, with spaces, a path only.
        std::fs::write(&p, " c.jpg , 7 \nd.jpg\n").unwrap();
        let s = read_csv(&p).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].path.clone(), s[0].label.as_deref()),
            (dir.path().join("c.jpg"), Some("7"))
        );
        assert_eq!(s[1].label, None);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let err = |text: &str| {
            std::fs::write(&p, text).unwrap();
            read_csv(&p).unwrap_err().to_string()
        };
        let d = p.display();
        assert_eq!(
            err("a.png,1,2,3\n"),
            format!("{d}: line 1: expected 2 or 6 fields, got 4")
        );
        assert_eq!(
            err("a.png,1\nb.png,1,5,5,5,9\n"),
            format!("{d}: line 2: empty box")
        );
        assert_eq!(
            err("a.png,1,x,0,1,1\n"),
            format!("{d}: line 1: box corners must be numbers")
        );
        assert_eq!(err(",1\n"), format!("{d}: line 1: no path"));
        assert_eq!(err("path,class\n"), format!("{d}: no rows"));
    }
}
