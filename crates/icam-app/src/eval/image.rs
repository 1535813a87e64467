//! One image of an evaluation: its prediction, every method's map and the maps' metrics.

use icam::evaluate::{EvalOptions, map_metrics};
use icam::explain::{argmax, probability};
use icam::metrics::{Box2, NetworkScorer};
use icam::{
    IcamConfig, IcamPrepared, IcamResult, Map, Perturbations, Subject, Target, explain_cam,
    finish_icam, prepare_icam, rescore_icam,
};

use anyhow::Result;

use super::rows::{Row, opt};
use super::{EvalRequest, IcamVariant, icam_variants};
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
                run_icam_variants(
                    loaded,
                    &subject,
                    &icam_variants(req),
                    &req.layers,
                    seed,
                    pred,
                    &fixed(""),
                    &mut |name, r| {
                        measure(
                            name,
                            &r.heat,
                            Some(r.report.selection.degenerate),
                            &mut rows,
                        )
                    },
                    &mut layer_rows,
                )?;
                continue;
            }
        };
        let layers = if req.layers.is_empty() {
            vec![net.baseline_layer()]
        } else {
            req.layers.clone()
        };
        let r =
            explain_cam(&subject, &cam, &layers, &[Target::Class(pred)], &mut |_| {})?.remove(0);
        measure(m, &r.heat, None, &mut rows)?;
    }
    Ok((rows, layer_rows))
}

/// I-CAM under every variant on one image. Variants that perturb alike
/// ([`IcamConfig::same_pass`]) share one network pass that taps the union of their candidate
/// layers; each is then rescored, and variants that score alike (differing only in bias or
/// fusion) share the selection too. `fixed` are the image's fixed cells; one layer row per
/// scored variant and layer. `layers`, when not empty, replaces every variant's candidates.
#[allow(clippy::too_many_arguments)]
fn run_icam_variants(
    loaded: &LoadedModel,
    subject: &Subject,
    variants: &[IcamVariant],
    layers: &[String],
    seed: u64,
    pred: usize,
    fixed: &[String; 11],
    measure: &mut dyn FnMut(&str, &IcamResult) -> Result<()>,
    layer_rows: &mut Vec<Vec<String>>,
) -> Result<()> {
    let net = loaded.net();
    let [h, w] = [subject.image.height, subject.image.width];
    let candidates = |cfg: &IcamConfig| {
        if layers.is_empty() {
            cfg.candidate_layers(net)
        } else {
            layers.to_vec()
        }
    };
    let cfgs: Vec<IcamConfig> = variants
        .iter()
        .map(|v| IcamConfig {
            seed,
            ..v.config.clone()
        })
        .collect();
    let mut done = vec![false; variants.len()];
    for first in 0..variants.len() {
        if done[first] {
            continue;
        }
        let group: Vec<usize> = (first..variants.len())
            .filter(|&i| !done[i] && cfgs[i].same_pass(&cfgs[first]))
            .collect();
        let mut union: Vec<String> = Vec::new();
        for &i in &group {
            for l in candidates(&cfgs[i]) {
                if !union.contains(&l) {
                    union.push(l);
                }
            }
        }
        let c0 = &cfgs[first];
        let pert = Perturbations::generate(c0.n, h, w, c0.alpha, seed);
        let pass = prepare_icam(subject, &union, c0, Target::Class(pred), &pert, &mut |_| {})?;
        let mut scored: Vec<(IcamConfig, IcamPrepared)> = Vec::new();
        for &i in &group {
            done[i] = true;
            let cfg = &cfgs[i];
            let k = match scored.iter().position(|(c, _)| c.same_scoring(cfg)) {
                Some(k) => k,
                None => {
                    let prep = rescore_icam(&pass, &candidates(cfg), cfg)?;
                    for (li, l) in prep.layers.iter().enumerate() {
                        layer_rows.push(vec![
                            fixed[0].clone(),
                            fixed[3].clone(),
                            fixed[4].clone(),
                            fixed[5].clone(),
                            fixed[7].clone(),
                            l.clone(),
                            prep.scores[li].to_string(),
                            prep.sel.rank(li).to_string(),
                            u8::from(prep.sel.is_selected(li)).to_string(),
                            prep.sel.weights[li].to_string(),
                            u8::from(prep.sel.degenerate).to_string(),
                            cfg.preset.name().to_string(),
                        ]);
                    }
                    scored.push((cfg.clone(), prep));
                    scored.len() - 1
                }
            };
            let r = finish_icam(&scored[k].1, cfg)?;
            measure(&variants[i].name, &r)?;
        }
    }
    Ok(())
}
