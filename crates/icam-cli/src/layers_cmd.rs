//! `icam layers`: every tappable layer of a model (native or ONNX) with its operation, shape
//! and aliases, and which layers the methods use by default: I-CAM's candidates under the
//! default preset (`icam`) and, where they differ, under `--preset paper` (`paper`).

use anyhow::Result;
use clap::Args;
use serde_json::json;

use icam_app::options::ModelArgs;

#[derive(Args, Debug)]
pub struct LayersArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &LayersArgs) -> Result<()> {
    let loaded = a.model.load()?;
    let net = loaded.model.net.as_ref();
    let (h, w) = loaded.model.preprocess.crop.unwrap_or((224, 224));
    let info = icam_models::describe_layers(net, h as usize, w as usize)?;
    let candidates = icam::IcamConfig::default().candidate_layers(net);
    let paper_candidates = icam::Preset::Paper.config().candidate_layers(net);
    let baseline = net.baseline_layer();
    // Defaults may be given as aliases (`layer4`); mark the layers they stand for.
    let resolve = |l: &String| net.resolve_layer(l).unwrap_or_else(|_| l.clone());
    let candidate_rows: Vec<String> = candidates.iter().map(resolve).collect();
    let paper_rows: Vec<String> = paper_candidates.iter().map(resolve).collect();
    let baseline_row = resolve(&baseline);
    let aliases = net.aliases();
    let rows: Vec<_> = info
        .iter()
        .map(|l| {
            let mut default = Vec::new();
            if candidate_rows.contains(&l.name) {
                default.push("icam");
            } else if paper_rows.contains(&l.name) {
                default.push("paper");
            }
            if l.name == baseline_row {
                default.push("baseline");
            }
            let names: Vec<&str> = aliases
                .iter()
                .filter(|(_, c)| *c == l.name)
                .map(|(a, _)| a.as_str())
                .collect();
            (l, default, names)
        })
        .collect();
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(l, d, n)| json!({"name": l.name, "op": l.op, "shape": l.shape, "default": d, "aliases": n}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "arch": net.arch(), "classes": net.num_classes(), "input": [3, h, w],
                "layers": v, "candidates": candidates, "paper_candidates": paper_candidates,
                "baseline": baseline,
            }))?
        );
        return Ok(());
    }
    let paper_note = if paper_candidates == candidates {
        String::new()
    } else {
        format!(" ({} under --preset paper)", paper_candidates.len())
    };
    println!(
        "{}: {} classes, input 3×{h}×{w}, {} tappable layers; I-CAM candidates: {}{paper_note}; baseline layer: {baseline}",
        net.arch(),
        net.num_classes(),
        info.len(),
        candidates.len()
    );
    let width = rows
        .iter()
        .map(|(l, _, _)| l.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let opw = rows
        .iter()
        .map(|(l, _, _)| l.op.len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:width$}  {:opw$}  {:>14}  {:13}  aliases",
        "name", "op", "shape", "default"
    );
    for (l, d, n) in rows {
        let shape = l
            .shape
            .as_ref()
            .map(|s| {
                s.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("×")
            })
            .unwrap_or_else(|| "?".into());
        println!(
            "{:width$}  {:opw$}  {shape:>14}  {:13}  {}",
            l.name,
            l.op,
            d.join(", "),
            n.join(", ")
        );
    }
    Ok(())
}
