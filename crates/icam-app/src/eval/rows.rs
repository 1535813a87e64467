//! The rows of `per_image.csv` (one per image and method: the prediction and every metric)
//! and of `icam_layers.csv` (one per image and layer: I-CAM's scores), and resuming from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use icam::evaluate::MapMetrics;

pub(super) const FIXED: [&str; 11] = [
    "image",
    "method",
    "label",
    "true_classes",
    "pred",
    "pred_name",
    "prob",
    "correct",
    "seed",
    "n_boxes",
    "error",
];

/// Columns of `icam_layers.csv`: I-CAM's per-layer scores of every image (layer prominence),
/// under each preset evaluated.
pub(super) const LAYER_HEADER: [&str; 12] = [
    "image",
    "true_classes",
    "pred",
    "pred_name",
    "correct",
    "layer",
    "score",
    "rank",
    "selected",
    "weight",
    "degenerate",
    "preset",
];

pub(super) fn header(thresholds: &[f64]) -> Vec<String> {
    let mut h: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    h.extend(["energy", "pointing"].map(String::from));
    h.extend(thresholds.iter().map(|t| format!("iou@{t}")));
    h.extend(thresholds.iter().map(|t| format!("mask_iou@{t}")));
    h.extend(
        [
            "deletion",
            "insertion",
            "avg_drop",
            "increase",
            "road",
            "degenerate",
        ]
        .map(String::from),
    );
    h
}

pub(super) fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

pub(super) struct Row {
    pub fixed: [String; 11],
    pub metrics: MapMetrics,
    pub degenerate: Option<bool>,
}

impl Row {
    pub fn cells(&self) -> Vec<String> {
        let m = &self.metrics;
        let mut c: Vec<String> = self.fixed.to_vec();
        c.push(opt(m.energy));
        c.push(opt(m.pointing.map(u8::from)));
        c.extend(m.iou.iter().map(|v| opt(*v)));
        c.extend(m.mask_iou.iter().map(|v| opt(*v)));
        c.push(opt(m.deletion));
        c.push(opt(m.insertion));
        c.push(opt(m.avg_drop));
        c.push(opt(m.increase.map(u8::from)));
        c.push(opt(m.road));
        c.push(opt(self.degenerate.map(u8::from)));
        c
    }
}

/// The complete lines of a CSV written by an evaluation: the header line and its rows (a last
/// line cut by an interruption is dropped).
#[derive(Default)]
pub(super) struct Lines {
    pub header: String,
    pub rows: Vec<RowLine>,
}

/// A row's first two fields and the line as written.
pub(super) struct RowLine {
    pub image: String,
    pub method: String,
    pub line: String,
}

/// [`Lines`] of a CSV; `None` for an empty file.
pub(super) fn read_lines(csv_path: &Path) -> Result<Option<Lines>> {
    let text = std::fs::read_to_string(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Ok(None);
    };
    let mut rows = Vec::new();
    for line in &lines[1..] {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line.as_bytes());
        if let Some(Ok(rec)) = r.records().next() {
            rows.push(RowLine {
                image: rec.get(0).unwrap_or_default().to_string(),
                method: rec.get(1).unwrap_or_default().to_string(),
                line: line.to_string(),
            });
        }
    }
    Ok(Some(Lines {
        header: first.to_string(),
        rows,
    }))
}

/// The images whose rows are complete: a failed image's one row (method `-`), or a row for
/// every method.
pub(super) fn complete<'a>(
    rows: impl IntoIterator<Item = &'a RowLine>,
    methods: &[String],
) -> BTreeSet<String> {
    let mut by_image: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in rows {
        by_image.entry(&r.image).or_default().push(&r.method);
    }
    by_image
        .into_iter()
        .filter(|(_, v)| v.contains(&"-") || methods.iter().all(|m| v.contains(&m.as_str())))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Images already complete in `csv` (every method row present); the file is rewritten with
/// only those rows, so a line cut by an interruption is dropped.
pub(super) fn resume(
    csv_path: &Path,
    header: &[String],
    methods: &[String],
) -> Result<BTreeSet<String>> {
    let Some(lines) = read_lines(csv_path)? else {
        return Ok(BTreeSet::new());
    };
    if lines.header.trim_end() != header.join(",") {
        bail!(
            "{} was written with other options (its columns differ); use --restart or another --out",
            csv_path.display()
        );
    }
    let done = complete(&lines.rows, methods);
    keep_rows(csv_path, &done)?;
    Ok(done)
}

/// Rewrite a CSV keeping its header and the complete rows whose first field is in `keep`.
pub(super) fn keep_rows(csv_path: &Path, keep: &BTreeSet<String>) -> Result<()> {
    if !csv_path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(csv_path)?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Ok(());
    };
    let mut kept = String::from(*first);
    for line in &lines[1..] {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        if let Some(Ok(rec)) = r.records().next()
            && keep.contains(&rec[0])
        {
            kept.push_str(line);
        }
    }
    let tmp = csv_path.with_extension("csv.tmp");
    std::fs::write(&tmp, kept)?;
    std::fs::rename(&tmp, csv_path)?;
    Ok(())
}

pub(super) fn csv_line(cells: &[String]) -> Result<String> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(cells)?;
    Ok(String::from_utf8(
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
    )?)
}
