//! Layer prominence: is a layer's importance specific to an image or general to a class?

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use icam::evaluate::Stat;

use crate::output::Outputs;

/// Layer prominence (issue: is a layer's importance specific to an image or general to a
/// class?): per layer over the dataset, mean score ± SE, mean rank, selection frequency and
/// mean weight `W_l`; per predicted class, the mean `W_l` of every layer (table and plot).
/// One `(preset, markdown, plot)` per preset in the file, in order of appearance.
pub fn prominence(layers_csv: &Path) -> Result<Vec<(String, String, image::RgbImage)>> {
    prominence_csv(&std::fs::read(layers_csv)?)
}

/// [`prominence`] of `icam_layers.csv`'s bytes.
pub(super) fn prominence_csv(layers: &[u8]) -> Result<Vec<(String, String, image::RgbImage)>> {
    let mut rdr = csv::Reader::from_reader(layers);
    let recs: Vec<csv::StringRecord> = rdr.records().collect::<std::result::Result<_, _>>()?;
    // The preset column (absent in files written before presets: one unnamed group).
    let preset = |r: &csv::StringRecord| r.get(11).unwrap_or("").to_string();
    let mut presets: Vec<String> = Vec::new();
    for r in &recs {
        if !presets.contains(&preset(r)) {
            presets.push(preset(r));
        }
    }
    Ok(presets
        .into_iter()
        .map(|p| {
            let mine: Vec<&csv::StringRecord> = recs.iter().filter(|r| preset(r) == p).collect();
            let (md, png) = prominence_of(&p, &mine);
            (p, md, png)
        })
        .collect())
}

/// Stage the layer prominence of `icam_layers.csv`'s bytes in `out`: `layer_prominence.md`
/// (one section per preset) and one plot, `layer_prominence.png`, or with several presets one
/// per preset, `layer_prominence-PRESET.png`. Returns the markdown's path.
pub(super) fn stage_prominence(o: &mut Outputs, out: &Path, layers: &[u8]) -> Result<PathBuf> {
    let per_preset = prominence_csv(layers)?;
    let several = per_preset.len() > 1;
    let mut md = String::new();
    for (preset, m, png) in &per_preset {
        md.push_str(m);
        md.push('\n');
        let file = if several {
            format!("layer_prominence-{preset}.png")
        } else {
            "layer_prominence.png".to_string()
        };
        o.png(out.join(file), png)?;
    }
    let path = out.join("layer_prominence.md");
    o.add(path.clone(), md.into_bytes());
    Ok(path)
}

/// The layer prominence of one preset's rows.
fn prominence_of(preset: &str, recs: &[&csv::StringRecord]) -> (String, image::RgbImage) {
    let named = if preset.is_empty() {
        String::new()
    } else {
        format!(", preset {preset}")
    };
    let mut layer_order: Vec<String> = Vec::new();
    let mut by_layer: BTreeMap<String, Vec<&csv::StringRecord>> = BTreeMap::new();
    let mut by_class: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut images = BTreeSet::new();
    let mut degenerate = BTreeSet::new();
    for r in recs {
        let layer = r[5].to_string();
        if !layer_order.contains(&layer) {
            layer_order.push(layer.clone());
        }
        images.insert(r[0].to_string());
        if &r[10] == "1" {
            degenerate.insert(r[0].to_string());
        }
        by_layer.entry(layer.clone()).or_default().push(r);
        let class = if r[3].is_empty() {
            r[2].to_string()
        } else {
            format!("{} ({})", &r[3], &r[2])
        };
        by_class
            .entry(class)
            .or_default()
            .entry(layer)
            .or_default()
            .push(r[9].parse().unwrap_or(f64::NAN));
    }
    let num = |rs: &[&csv::StringRecord], c: usize| -> Vec<f64> {
        rs.iter().filter_map(|r| r[c].parse().ok()).collect()
    };
    let mut md = format!(
        "# I-CAM layer prominence{named}\n\n{} images, {} with a degenerate selection (all layers, equal weights).\n\n| layer | score | mean rank | selected | mean weight W |\n|---|---|---|---|---|\n",
        images.len(),
        degenerate.len()
    );
    for l in &layer_order {
        let rs = &by_layer[l];
        let sel = Stat::of(&num(rs, 8));
        md.push_str(&format!(
            "| {l} | {} | {:.2} | {:.0}% | {:.4} |\n",
            Stat::of(&num(rs, 6)).display(3),
            Stat::of(&num(rs, 7)).mean,
            100.0 * sel.mean,
            Stat::of(&num(rs, 9)).mean
        ));
    }
    let mut classes: Vec<(&String, usize)> = by_class
        .iter()
        .map(|(c, m)| (c, m.values().next().map_or(0, Vec::len)))
        .collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    classes.truncate(30);
    md.push_str("\n## Mean layer weight W per predicted class\n\n| class | images | top layers (mean W) |\n|---|---|---|\n");
    let mut rows = vec!["all images".to_string()];
    let mut values = vec![
        layer_order
            .iter()
            .map(|l| Stat::of(&num(&by_layer[l], 9)).mean)
            .collect::<Vec<_>>(),
    ];
    for (c, n) in &classes {
        let m = &by_class[*c];
        let v: Vec<f64> = layer_order
            .iter()
            .map(|l| m.get(l).map_or(f64::NAN, |x| Stat::of(x).mean))
            .collect();
        let mut top: Vec<(usize, f64)> = v
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, x)| x.is_finite())
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<String> = top
            .iter()
            .take(3)
            .map(|(i, x)| format!("{} ({x:.3})", layer_order[*i]))
            .collect();
        md.push_str(&format!("| {c} | {n} | {} |\n", top.join(", ")));
        rows.push(format!("{c} n={n}"));
        values.push(v);
    }
    let png = icam::render::matrix_plot(
        &format!("mean I-CAM layer weight W_l{named}"),
        &rows,
        &layer_order,
        &values,
        icam::render::Colormap::Viridis,
    );
    (md, png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_section_per_preset_and_old_files_without_the_column() {
        let head =
            "image,true_classes,pred,pred_name,correct,layer,score,rank,selected,weight,degenerate";
        let two = format!(
            "{head},preset\na.png,,3,x,1,l1,2,1,1,1,0,paper\na.png,,3,x,1,l1,5,1,1,0.5,0,recommended\na.png,,3,x,1,l2,4,2,1,0.5,0,recommended\n"
        );
        let p = prominence_csv(two.as_bytes()).unwrap();
        let names: Vec<&str> = p.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["paper", "recommended"]);
        assert!(
            p[0].1
                .starts_with("# I-CAM layer prominence, preset paper\n")
        );
        assert!(p[0].1.contains("| l1 |") && !p[0].1.contains("| l2 |"));
        assert!(p[1].1.contains("| l2 | 4.000"), "{}", p[1].1);
        // A file written before the preset column: one group, no panic.
        let old = format!("{head}\na.png,,3,x,1,l1,2,1,1,1,0\n");
        let p = prominence_csv(old.as_bytes()).unwrap();
        assert_eq!(p.len(), 1);
        assert!(p[0].1.starts_with("# I-CAM layer prominence\n"));
    }
}
