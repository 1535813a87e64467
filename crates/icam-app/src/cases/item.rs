//! One kept image of the cases: the I-CAM maps of its predicted and true class and, when it
//! is misclassified, its nearest training images; as its entry of `cases.json` and its HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use icam::features;
use icam::render::{Colormap, overlay};
use icam::{IcamConfig, IcamResult, Perturbations, Target, finish_icam, prepare_icam};
use icam_models::Geometry;
use serde_json::{Value, json};

use super::CasesRequest;
use super::html::{data_uri, esc, figure, thumbnail};
use super::select::Cand;
use crate::model::LoadedModel;
use crate::neighbours::Embedding;
use crate::seed::image_seed;

/// What every kept image's entry needs.
pub(super) struct Ctx<'a> {
    pub a: &'a CasesRequest,
    pub loaded: &'a LoadedModel,
    /// The layer whose pooled features find the neighbours.
    pub layer: &'a str,
    pub embedding: Option<&'a Embedding>,
    pub cmap: Colormap,
}

/// An image's entry of `cases.json`: its prediction, truth and `extra`.
pub(super) fn cand_json(loaded: &LoadedModel, c: &Cand, extra: Value) -> Value {
    let name = |k: usize| loaded.class_name(k);
    let mut v = json!({
        "image": c.name,
        "label": c.label,
        "true_classes": c.truth,
        "pred": c.pred,
        "pred_name": name(c.pred),
        "prob": c.prob,
        "correct": c.correct,
        "true_class": c.true_class,
        "true_name": name(c.true_class),
        "true_prob": c.true_prob,
        "true_rank": c.true_rank,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// The layer selection in one line: the selected layers by rank with weight W and score S.
fn selection_summary(r: &IcamResult) -> String {
    let rep = &r.report;
    let mut sel: Vec<_> = rep.layers.iter().filter(|l| l.selected).collect();
    sel.sort_by_key(|l| l.rank);
    if rep.selection.degenerate {
        return format!(
            "degenerate selection: all {} layers, equal weights 1/{}",
            rep.layers.len(),
            rep.layers.len()
        );
    }
    const SHOWN: usize = 6;
    let mut s = format!(
        "selected {} of {} layers: {}",
        sel.len(),
        rep.layers.len(),
        sel.iter()
            .take(SHOWN)
            .map(|l| format!(
                "{} (#{}, S={:.4}, W={:.3})",
                l.name, l.rank, l.score, l.weight
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if sel.len() > SHOWN {
        let _ = write!(s, " and {} more", sel.len() - SHOWN);
    }
    s
}

fn map_json(r: &IcamResult, role: &str, prob: f64, name: Option<&str>) -> Value {
    let rep = &r.report;
    let weights: BTreeMap<String, f64> = rep
        .layers
        .iter()
        .filter(|l| l.selected)
        .map(|l| (l.name.clone(), l.weight))
        .collect();
    let mut ranked: Vec<_> = rep.layers.iter().collect();
    ranked.sort_by_key(|l| l.rank);
    let top: Vec<Value> = ranked
        .iter()
        .take(5)
        .map(|l| json!({"name": l.name, "rank": l.rank, "score": l.score}))
        .collect();
    json!({
        "role": role,
        "class": rep.target_class,
        "name": name,
        "prob": prob,
        "logit": rep.logit_c,
        "selected_layers": rep.selected_layers,
        "layer_weights": weights,
        "top_layers": top,
        "degenerate": rep.selection.degenerate,
        "zero_weight_perturbations": rep.zero_weight_perturbations,
        "summary": selection_summary(r),
        "warnings": rep.warnings,
    })
}

/// Explain one kept image: (its entry of cases.json, its HTML).
pub(super) fn explain_item(ctx: &Ctx, c: &Cand) -> Result<(Value, String)> {
    let (a, loaded) = (ctx.a, ctx.loaded);
    let net = loaded.net();
    let img = loaded.open_image(&c.path)?;
    let (rgb, px) = (&*img.rgb, &*img.pixels);
    let seed = image_seed(a.config.seed, &c.name);
    let cfg = IcamConfig {
        seed,
        ..a.config.clone()
    };
    let subject = loaded.subject(px);
    let pert = Perturbations::generate(cfg.n, px.height, px.width, cfg.alpha, seed);
    let layers = cfg.candidate_layers(net);
    let run = |class: usize| -> Result<IcamResult> {
        let prep = prepare_icam(
            &subject,
            &layers,
            &cfg,
            Target::Class(class),
            &pert,
            &mut |_| {},
        )?;
        Ok(finish_icam(&prep, &cfg)?)
    };
    let thumb = thumbnail(rgb, a.thumb);
    let tg = Geometry {
        original: thumb.dimensions(),
        ..px.geometry
    };
    let describe = |k: usize| esc(&loaded.describe(k));
    let pred_map = run(c.pred)?;
    let true_map = if c.correct {
        None
    } else {
        Some(run(c.true_class)?)
    };
    let mut figs = vec![figure(&data_uri(&thumb)?, "image")];
    let mut maps_html = String::new();
    let mut maps_json = Vec::new();
    let name = |k: usize| loaded.class_name(k);
    for (r, role, prob) in std::iter::once((&pred_map, "predicted", c.prob))
        .chain(true_map.as_ref().map(|t| (t, "true", c.true_prob)))
    {
        let role_txt = if c.correct {
            "predicted = true class"
        } else if role == "true" {
            "true class"
        } else {
            "predicted class"
        };
        let ov = overlay(&thumb, &tg, &r.heat, ctx.cmap, 0.5);
        figs.push(figure(
            &data_uri(&ov)?,
            &format!(
                "I-CAM, {role_txt}<br><b>{}</b> p={prob:.3}",
                describe(r.report.target_class)
            ),
        ));
        let _ = write!(
            maps_html,
            "<p class=\"layers\"><b>{role_txt}</b>: {}</p>",
            esc(&selection_summary(r))
        );
        if !r.report.warnings.is_empty() {
            maps_html.push_str("<ul class=\"warn\">");
            for w in &r.report.warnings {
                let _ = write!(maps_html, "<li>warning: {}</li>", esc(w));
            }
            maps_html.push_str("</ul>");
        }
        maps_json.push(map_json(
            r,
            if c.correct { "predicted = true" } else { role },
            prob,
            name(r.report.target_class),
        ));
    }

    // Nearest training examples of a misclassified image.
    let mut nb_html = String::new();
    let mut nb_json = Value::Null;
    if let (Some(emb), false) = (ctx.embedding, c.correct) {
        let act = features::layer_activation(net, loaded.normalization, px, ctx.layer)?;
        let gap = act.average_pool();
        let mut groups = Vec::new();
        for (role, class, map) in [
            ("predicted", c.pred, &pred_map),
            ("true", c.true_class, true_map.as_ref().expect("incorrect")),
        ] {
            let (query, pooling) = if a.weighted {
                match act.weighted_pool(&map.heat) {
                    Some(q) => (q, "icam-weighted"),
                    None => (gap.clone(), "average (the I-CAM map is all zero)"),
                }
            } else {
                (gap.clone(), "average")
            };
            let near = emb.nearest(class, &query, a.neighbours);
            let _ = write!(
                nb_html,
                "<div class=\"nb\"><h4>Nearest training images of the {role} class, {} <small>(cosine of {} pooled {} features)</small></h4><div class=\"figs\">",
                describe(class),
                pooling,
                esc(ctx.layer)
            );
            if near.is_empty() {
                let _ = write!(
                    nb_html,
                    "<p class=\"none\">The training folder has no image of this class.</p>"
                );
            }
            let mut list = Vec::new();
            for (ex, sim) in &near {
                let uri = icam_models::preprocess::load_rgb(&ex.path)
                    .ok()
                    .map(|img| data_uri(&thumbnail(&img, a.thumb)))
                    .transpose()?;
                match uri {
                    Some(u) => {
                        nb_html.push_str(&figure(&u, &format!("{}<br>cos {sim:.3}", esc(&ex.file))))
                    }
                    None => {
                        let _ = write!(
                            nb_html,
                            "<p class=\"err\">{}: unreadable now</p>",
                            esc(&ex.file)
                        );
                    }
                }
                list.push(json!({"file": ex.file, "class": ex.class, "similarity": sim}));
            }
            nb_html.push_str("</div></div>");
            groups.push((
                role,
                json!({"class": class, "pooling": pooling, "nearest": list}),
            ));
        }
        nb_json = Value::Object(
            groups
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
    }

    let truth_txt = if c.correct {
        String::new()
    } else {
        format!(
            "; true class <b>{}</b> p={:.3} (rank {})",
            describe(c.true_class),
            c.true_prob,
            c.true_rank
        )
    };
    let html = format!(
        "<article class=\"item\"><h3>{} <span class=\"tag\">label: {}</span></h3>\
         <p>predicted <b>{}</b> p={:.3}{truth_txt}; seed {seed}</p>\
         <div class=\"figs\">{}</div>{maps_html}{nb_html}</article>\n",
        esc(&c.name),
        esc(&c.label),
        describe(c.pred),
        c.prob,
        figs.join("")
    );
    let j = cand_json(
        loaded,
        c,
        json!({"seed": seed, "maps": maps_json, "neighbours": nb_json}),
    );
    Ok((j, html))
}
