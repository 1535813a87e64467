//! The summary of an evaluation: per method, mean ± standard error of every metric.

use std::path::Path;

use anyhow::Result;
use icam::evaluate::Stat;

/// The summary table (markdown, csv) from the per-image CSV: per method, mean ± standard error
/// of each metric; IoU only over correctly classified images (as the paper's Table 1).
pub fn summarize(
    csv_path: &Path,
    thresholds: &[f64],
    methods: &[String],
) -> Result<(String, String)> {
    let text = std::fs::read(csv_path)?;
    summarize_csv(&text, thresholds, methods)
}

/// [`summarize`] of `per_image.csv`'s bytes.
pub(super) fn summarize_csv(
    per_image: &[u8],
    thresholds: &[f64],
    methods: &[String],
) -> Result<(String, String)> {
    let mut rdr = csv::Reader::from_reader(per_image);
    let head: Vec<String> = rdr.headers()?.iter().map(String::from).collect();
    let col = |n: &str| head.iter().position(|h| h == n);
    let records: Vec<csv::StringRecord> = rdr.records().collect::<std::result::Result<_, _>>()?;
    let mut metric_cols: Vec<(String, bool)> =
        vec![("energy".into(), false), ("pointing".into(), false)];
    metric_cols.extend(thresholds.iter().map(|t| (format!("iou@{t}"), true)));
    metric_cols.extend(thresholds.iter().map(|t| (format!("mask_iou@{t}"), true)));
    metric_cols.extend(
        [
            "deletion",
            "insertion",
            "avg_drop",
            "increase",
            "road",
            "degenerate",
        ]
        .map(|m| (m.to_string(), false)),
    );
    let failed = records.iter().filter(|r| &r[1] == "-").count();
    let mut md = String::from("| method | images | correct |");
    let mut csv_out = String::from("method,images,correct");
    let present: Vec<&(String, bool)> = metric_cols
        .iter()
        .filter(|(m, _)| col(m).is_some_and(|c| records.iter().any(|r| !r[c].is_empty())))
        .collect();
    for (m, only_correct) in &present {
        md.push_str(&format!(
            " {m}{} |",
            if *only_correct { " (correct)" } else { "" }
        ));
        csv_out.push_str(&format!(",{m}_mean,{m}_se,{m}_n"));
    }
    md.push_str("\n|---|---|---|");
    md.push_str(&"---|".repeat(present.len()));
    md.push('\n');
    csv_out.push('\n');
    let c_correct = col("correct").expect("column");
    for method in methods {
        let rows: Vec<&csv::StringRecord> = records.iter().filter(|r| &r[1] == method).collect();
        let correct: Vec<f64> = rows
            .iter()
            .filter_map(|r| r[c_correct].parse::<f64>().ok())
            .collect();
        let acc = Stat::of(&correct);
        md.push_str(&format!(
            "| {method} | {} | {} |",
            rows.len(),
            if acc.n > 0 {
                format!("{:.0}/{}", acc.mean * acc.n as f64, acc.n)
            } else {
                "–".into()
            }
        ));
        csv_out.push_str(&format!(
            "{method},{},{}",
            rows.len(),
            if acc.n > 0 {
                (acc.mean * acc.n as f64).round().to_string()
            } else {
                String::new()
            }
        ));
        for (m, only_correct) in &present {
            let c = col(m).expect("present");
            let vals: Vec<f64> = rows
                .iter()
                .filter(|r| !*only_correct || &r[c_correct] == "1")
                .filter_map(|r| r[c].parse::<f64>().ok())
                .collect();
            let st = Stat::of(&vals);
            md.push_str(&format!(" {} |", st.display(3)));
            csv_out.push_str(&format!(",{},{},{}", st.mean, st.se, st.n));
        }
        md.push('\n');
        csv_out.push('\n');
    }
    if failed > 0 {
        md.push_str(&format!(
            "\n{failed} image(s) failed; see the `error` column of per_image.csv.\n"
        ));
    }
    Ok((md, csv_out))
}
