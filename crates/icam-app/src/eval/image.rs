//! One image of an evaluation: its prediction, every method's map and the maps' metrics.

use icam::evaluate::{EvalOptions, map_metrics};
use icam::explain::{argmax, probability};
use icam::metrics::{Box2, NetworkScorer};
use icam::{IcamConfig, Map, Perturbations, Target, explain_cam, finish_icam, prepare_icam};

use anyhow::Result;

use super::EvalRequest;
use super::rows::{Row, opt};
use crate::dataset::{ClassMap, Sample, classes_for};
use crate::error::invalid;
use crate::explanation::{Method, method};
use crate::model::LoadedModel;
use crate::seed::image_seed;

/// Evaluate one image (`name`: its path relative to the dataset): its rows of
/// `per_image.csv` (one per method and I-CAM bias) and of `icam_layers.csv`.
pub(super) fn eval_image(
    req: &EvalRequest,
    loaded: &LoadedModel,
    s: &Sample,
    name: &str,
    opts: &EvalOptions,
    overrides: &ClassMap,
) -> Result<(Vec<Row>, Vec<Vec<String>>)> {
    let net = loaded.net();
    let px = loaded.open_image(&s.path)?.pixels;
    let (h, w) = (px.height, px.width);
    let boxes: Vec<Box2> = s
        .boxes
        .iter()
        .map(|b| {
            let (x0, y0) = px.geometry.original_to_model(b.x0, b.y0);
            let (x1, y1) = px.geometry.original_to_model(b.x1, b.y1);
            Box2::new(x0.max(0.0), y0.max(0.0), x1.min(w as f64), y1.min(h as f64))
        })
        .filter(|b| b.area() > 0.0)
        .collect();
    let logits = loaded.logits(&px)?;
    let pred = argmax(&logits);
    let prob = probability(&logits, pred);
    let truth = s
        .label
        .as_deref()
        .map(|l| classes_for(l, loaded.labels.as_ref(), overrides));
    if let (Some(l), Some(t)) = (&s.label, &truth)
        && t.is_empty()
    {
        return Err(invalid!(
            "label `{l}` names no class of the model; map it with --class-map {l}=C1,C2"
        ));
    }
    let correct = truth.as_ref().map(|t| t.contains(&pred));
    let seed = image_seed(req.config.seed, name);
    let fixed = |method: &str| -> [String; 11] {
        [
            name.to_string(),
            method.to_string(),
            s.label.clone().unwrap_or_default(),
            truth
                .as_ref()
                .map(|t| {
                    t.iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            pred.to_string(),
            loaded.class_name(pred).unwrap_or_default().to_string(),
            prob.to_string(),
            opt(correct.map(u8::from)),
            seed.to_string(),
            boxes.len().to_string(),
            String::new(),
        ]
    };
    let subject = loaded.subject(&px);
    let mut scorer = NetworkScorer {
        net,
        normalization: loaded.normalization,
        height: h,
        width: w,
    };
    let mut rows = Vec::new();
    let mut layer_rows = Vec::new();
    let mut measure =
        |method: &str, heat: &Map, degenerate: Option<bool>, rows: &mut Vec<Row>| -> Result<()> {
            let metrics = map_metrics(heat, &px.data, &boxes, pred, &mut scorer, opts)?;
            rows.push(Row {
                fixed: fixed(method),
                metrics,
                degenerate,
            });
            Ok(())
        };
    for m in &req.methods {
        let cam = match method(m, req.gradcampp_eps, &req.cam)? {
            Method::Cam(cam) => cam,
            Method::Icam => {
                let cfg = IcamConfig {
                    seed,
                    ..req.config.clone()
                };
                let pert = Perturbations::generate(cfg.n, h, w, cfg.alpha, seed);
                let layers = net.candidate_layers();
                let prep = prepare_icam(
                    &subject,
                    &layers,
                    &cfg,
                    Target::Class(pred),
                    &pert,
                    &mut |_| {},
                )?;
                let f = fixed("");
                for (li, l) in layers.iter().enumerate() {
                    let rank = prep.sel.rank(li);
                    layer_rows.push(vec![
                        f[0].clone(),
                        f[3].clone(),
                        f[4].clone(),
                        f[5].clone(),
                        f[7].clone(),
                        l.clone(),
                        prep.scores[li].to_string(),
                        rank.to_string(),
                        u8::from(prep.sel.is_selected(li)).to_string(),
                        prep.sel.weights[li].to_string(),
                        u8::from(prep.sel.degenerate).to_string(),
                    ]);
                }
                for &bias in &req.biases {
                    let r = finish_icam(
                        &prep,
                        &IcamConfig {
                            bias,
                            ..cfg.clone()
                        },
                    )?;
                    measure(
                        &super::icam_variant(bias),
                        &r.heat,
                        Some(r.report.selection.degenerate),
                        &mut rows,
                    )?;
                }
                continue;
            }
        };
        let layers = vec![net.baseline_layer()];
        let r =
            explain_cam(&subject, &cam, &layers, &[Target::Class(pred)], &mut |_| {})?.remove(0);
        measure(m, &r.heat, None, &mut rows)?;
    }
    Ok((rows, layer_rows))
}
