//! One kept image of the cases: the maps (I-CAM's, or `--method`'s) of its predicted and true
//! class and, when it is misclassified, its nearest training images; as its entry of
//! `cases.json` and its HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use icam::features;
use icam::render::{Colormap, overlay};
use icam::{IcamConfig, IcamResult};
use icam_models::Geometry;
use serde_json::{Value, json};

use super::CasesRequest;
use super::html::{data_uri, esc, figure, thumbnail};
use super::select::Cand;
use crate::explanation::{ExplainRequest, Explainer, Explanation, MethodResult};
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

fn map_json(e: &Explanation, role: &str, prob: f64, name: Option<&str>) -> Value {
    let mut v = json!({
        "role": role,
        "method": e.method,
        "class": e.class,
        "name": name,
        "prob": prob,
        "logit": e.logit,
        "summary": summary(e),
        "warnings": e.warnings,
    });
    let extra = match &e.result {
        MethodResult::Icam(r) => {
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
                "selected_layers": rep.selected_layers,
                "layer_weights": weights,
                "top_layers": top,
                "degenerate": rep.selection.degenerate,
                "zero_weight_perturbations": rep.zero_weight_perturbations,
            })
        }
        MethodResult::Cam(r) => json!({"layers": r.layers, "finer": r.finer}),
    };
    if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
        m.extend(x);
    }
    v
}

/// What a map shows, in one line: I-CAM's layer selection, or the method's layers.
fn summary(e: &Explanation) -> String {
    match &e.result {
        MethodResult::Icam(r) => selection_summary(r),
        MethodResult::Cam(r) => {
            let mut s = if r.layers.is_empty() {
                format!("{} on the input and every bias", r.method)
            } else {
                format!("{} on {}", r.method, r.layers.join(", "))
            };
            if let Some(f) = &r.finer {
                let _ = write!(
                    s,
                    "; Finer-CAM against classes {:?}, α = {}",
                    f.comparisons, f.alpha
                );
            }
            s
        }
    }
}

/// The method's name as the report shows it.
pub(super) fn method_label(method: &str) -> &str {
    if method == "icam" { "I-CAM" } else { method }
}

/// Explain one kept image: (its entry of cases.json, its HTML).
pub(super) fn explain_item(ctx: &Ctx, c: &Cand) -> Result<(Value, String)> {
    let (a, loaded) = (ctx.a, ctx.loaded);
    let net = loaded.net();
    let img = loaded.open_image(&c.path)?;
    let (rgb, px) = (&*img.rgb, &*img.pixels);
    let seed = image_seed(a.config.seed, &c.name);
    let mut classes = vec![c.pred.to_string()];
    if !c.correct {
        classes.push(c.true_class.to_string());
    }
    let req = ExplainRequest {
        method: a.method.clone(),
        classes,
        config: IcamConfig {
            seed,
            ..a.config.clone()
        },
        gradcampp_eps: a.gradcampp_eps,
        colormap: a.colormap,
        cam: a.cam.clone(),
        ..ExplainRequest::default()
    };
    let mut maps = Explainer::new(loaded, req)?
        .explain(&img, &mut |_| {})?
        .into_iter();
    let pred_map = maps.next().expect("the predicted class's map");
    let true_map = maps.next();
    let thumb = thumbnail(rgb, a.thumb);
    let tg = Geometry {
        original: thumb.dimensions(),
        ..px.geometry
    };
    let describe = |k: usize| esc(&loaded.describe(k));
    let label = method_label(&a.method);
    let mut figs = vec![figure(&data_uri(&thumb)?, "image")];
    let mut maps_html = String::new();
    let mut maps_json = Vec::new();
    let name = |k: usize| loaded.class_name(k);
    for (e, role, prob) in std::iter::once((&pred_map, "predicted", c.prob))
        .chain(true_map.as_ref().map(|t| (t, "true", c.true_prob)))
    {
        let role_txt = if c.correct {
            "predicted = true class"
        } else if role == "true" {
            "true class"
        } else {
            "predicted class"
        };
        let ov = overlay(&thumb, &tg, e.heatmap(), ctx.cmap, 0.5);
        figs.push(figure(
            &data_uri(&ov)?,
            &format!(
                "{label}, {role_txt}<br><b>{}</b> p={prob:.3}",
                describe(e.class)
            ),
        ));
        let _ = write!(
            maps_html,
            "<p class=\"layers\"><b>{role_txt}</b>: {}</p>",
            esc(&summary(e))
        );
        if !e.warnings.is_empty() {
            maps_html.push_str("<ul class=\"warn\">");
            for w in &e.warnings {
                let _ = write!(maps_html, "<li>warning: {}</li>", esc(w));
            }
            maps_html.push_str("</ul>");
        }
        maps_json.push(map_json(
            e,
            if c.correct { "predicted = true" } else { role },
            prob,
            name(e.class),
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
                match act.weighted_pool(map.heatmap()) {
                    Some(q) => (q, format!("{}-weighted", a.method)),
                    None => (gap.clone(), "average (the map is all zero)".to_string()),
                }
            } else {
                (gap.clone(), "average".to_string())
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
