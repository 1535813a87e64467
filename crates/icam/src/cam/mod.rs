//! The CAM family on one image ([`explain_cam`]): every method of [`crate::methods::NAMES`],
//! with pytorch-grad-cam's options (`eigen_smooth`, `aug_smooth`, Finer-CAM targets) and
//! either post-processing ([`Scaling`]).
//!
//! Passes: gradient methods run one traced forward+backward pass for all targets (a batch of
//! copies of the image); Eigen-CAM and FEM one forward pass; Score-CAM and Ablation-CAM add
//! their forward-only passes, batched ([`passes`]); FullGrad one pass with the input and every
//! bias gradient. `aug_smooth` repeats that for six augmented inputs.

pub mod augment;
pub mod passes;
pub mod target;

use icam_models::{HostTensor, Objective, TraceExtras, activations, trace_seeded, trace_with};
use serde::Serialize;

use crate::error::{IcamError, Result};
use crate::explain::{BaselineResult, Subject, Target, probability, to_precision};
use crate::maps::Map;
use crate::methods::finer::{Finer, FinerTarget};
use crate::methods::fullgrad::{BiasTerm, fullgrad_map};
use crate::methods::{CamMethod, LayerInput, Method, NAMES, NoPasses, by_name, layer_cam};
use crate::scaling::Scaling;
use augment::{Augmentation, augmentations};
pub use passes::CamProgress;
use passes::{NetPasses, PassCache};
use target::ClassTarget;

/// A CAM method and its options.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamSpec {
    /// A name of [`NAMES`].
    pub method: String,
    pub scaling: Scaling,
    /// Project the contributions on their first principal component (the package's
    /// `eigen_smooth`).
    pub eigen_smooth: bool,
    /// Average over flips × scales (the package's `aug_smooth`).
    pub aug_smooth: bool,
    /// Explain against the closest classes (Finer-CAM).
    pub finer: Option<Finer>,
    /// Grad-CAM++'s α epsilon (0: the paper; 1e-6: pytorch-grad-cam).
    pub gradcampp_eps: f64,
    /// Samples per batch of Score-CAM's and Ablation-CAM's passes; `None`: chosen from the
    /// available memory.
    pub batch_size: Option<usize>,
}

impl CamSpec {
    /// `method` with the defaults: icam's scaling (A21), no smoothing, no Finer-CAM.
    pub fn new(method: &str) -> Self {
        Self {
            method: method.to_string(),
            scaling: Scaling::Icam,
            eigen_smooth: false,
            aug_smooth: false,
            finer: None,
            gradcampp_eps: 0.0,
            batch_size: None,
        }
    }

    /// The method, if every option makes sense with it; otherwise the first that does not,
    /// as one line naming its flag.
    pub fn validate(&self) -> Result<Method> {
        let method = by_name(&self.method, self.gradcampp_eps).ok_or_else(|| {
            IcamError::Config(format!(
                "unknown method `{}`; known: icam, {}",
                self.method,
                NAMES.join(", ")
            ))
        })?;
        if !(self.gradcampp_eps.is_finite() && self.gradcampp_eps >= 0.0) {
            return Err(IcamError::Config(format!(
                "--gradcampp-eps must be finite and >= 0, got {}",
                self.gradcampp_eps
            )));
        }
        if let Some(f) = self.finer {
            f.check()?;
            if !method.uses_target() {
                return Err(IcamError::Config(format!(
                    "--finer changes the target class's score, which {} does not use",
                    self.method
                )));
            }
        }
        passes::check_batch_size(self.batch_size)?;
        Ok(method)
    }
}

/// Facts of a Finer-CAM run, per target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinerReport {
    pub comparisons: Vec<usize>,
    pub alpha: f64,
}

/// One target's maps from one (augmented) input.
struct Core {
    target: ClassTarget,
    logits: Vec<f64>,
    heat: Map,
    layer_cams: Vec<Map>,
}

/// Any method of [`NAMES`] on `layers` (ignored by FullGrad, which uses every bias term), for
/// each of `targets`: the heatmap at the model input's size and the raw layer maps.
/// `progress` hears about the forward-only passes of Score-CAM and Ablation-CAM.
///
/// Target classes are resolved once, on the un-augmented image's logits (with `aug_smooth`
/// and no explicit target the package re-predicts on every augmented copy).
pub fn explain_cam(
    s: &Subject,
    spec: &CamSpec,
    layers: &[String],
    targets: &[Target],
    progress: &mut dyn FnMut(CamProgress),
) -> Result<Vec<BaselineResult>> {
    let method = spec.validate()?;
    if targets.is_empty() {
        return Err(IcamError::Config("no target class to explain".into()));
    }
    for &t in targets {
        s.check_class(t)?;
    }
    let layers: Vec<String> = match method {
        Method::FullGrad => Vec::new(),
        Method::Layer(_) => {
            s.check_layers(layers)?;
            layers.to_vec()
        }
    };
    let x0 = s
        .normalization
        .to_model_input(s.image, s.precision())
        .to_f64();
    let (h, w) = (s.image.height, s.image.width);
    let mut resolved: Option<Vec<ClassTarget>> = None;
    let mut heats: Vec<Vec<Map>> = vec![Vec::new(); targets.len()];
    let mut first: Option<Vec<Core>> = None;
    let mut cache = PassCache::new();
    let mut batch_used: Option<usize> = None;
    let mut progress = |p: CamProgress| {
        batch_used = Some(p.batch);
        progress(p)
    };
    for aug in augmentations(spec.aug_smooth) {
        let xa = aug.apply(&x0, h, w);
        let resolve = |logits: &[f64]| -> Vec<ClassTarget> {
            if let Some(r) = &resolved {
                return r.clone();
            }
            targets
                .iter()
                .map(|t| {
                    let c = t.resolve(logits);
                    match spec.finer {
                        Some(f) => ClassTarget::Finer(FinerTarget::new(logits, c, f)),
                        None => ClassTarget::Logit(c),
                    }
                })
                .collect()
        };
        cache.clear();
        let cores = run_once(
            s,
            spec,
            &method,
            &layers,
            &xa,
            targets.len(),
            &resolve,
            &mut cache,
            &mut progress,
        )?;
        if resolved.is_none() {
            resolved = Some(cores.iter().map(|c| c.target.clone()).collect());
        }
        for (i, c) in cores.iter().enumerate() {
            heats[i].push(undo(aug, c.heat.clone()));
        }
        if first.is_none() {
            first = Some(cores);
        }
    }
    let first = first.expect("at least the identity augmentation");
    Ok(first
        .into_iter()
        .zip(heats)
        .map(|(c, hs)| {
            let class = c.target.class();
            let finer = match &c.target {
                ClassTarget::Finer(f) => Some(FinerReport {
                    comparisons: f.comparisons.clone(),
                    alpha: f.alpha,
                }),
                ClassTarget::Logit(_) => None,
            };
            BaselineResult {
                heat: if hs.len() == 1 {
                    hs.into_iter().next().expect("one map")
                } else {
                    augment::mean(&hs)
                },
                layer_cams: c.layer_cams,
                method: spec.method.clone(),
                target_class: class,
                logit_c: c.logits[class],
                prob_c: probability(&c.logits, class),
                layers: layers.clone(),
                gradcampp_eps: spec.gradcampp_eps,
                dtype: s.precision().name().to_string(),
                image_hw: [h, w],
                scaling: spec.scaling,
                eigen_smooth: spec.eigen_smooth,
                aug_smooth: spec.aug_smooth,
                finer,
                batch_size: batch_used,
            }
        })
        .collect())
}

fn undo(aug: Augmentation, m: Map) -> Map {
    aug.undo(m)
}

/// The maps of every target from one model input `x` (`3·H·W`).
#[allow(clippy::too_many_arguments)]
fn run_once(
    s: &Subject,
    spec: &CamSpec,
    method: &Method,
    layers: &[String],
    x: &[f64],
    n_targets: usize,
    resolve: &dyn Fn(&[f64]) -> Vec<ClassTarget>,
    cache: &mut PassCache,
    progress: &mut dyn FnMut(CamProgress),
) -> Result<Vec<Core>> {
    let (h, w) = (s.image.height, s.image.width);
    let prec = s.precision();
    let single = to_precision(vec![1, 3, h, w], x.to_vec(), prec);
    let needs_grads = match method {
        Method::FullGrad => true,
        Method::Layer(m) => m.uses_gradients(),
    };
    if !needs_grads {
        let Method::Layer(m) = method else {
            unreachable!("FullGrad uses gradients")
        };
        let (logits, acts) = activations(s.net, &single, layers)?;
        let logits = logits.sample_f64(0);
        check_finite(&logits)?;
        let mut out = Vec::new();
        for target in resolve(&logits) {
            let mut cams = Vec::with_capacity(layers.len());
            for (li, t) in acts.iter().enumerate() {
                let a = t.sample_f64(0);
                let [_, k, lh, lw] = dims4(t);
                let layer = s.net.resolve_layer(&layers[li])?;
                let mut passes = NetPasses {
                    net: s.net,
                    input: &single,
                    input_f64: x,
                    hw: (h, w),
                    layer_index: li,
                    layer_name: &layers[li],
                    layer: &layer,
                    acts: &a,
                    act_shape: [k, lh, lw],
                    logits: &logits,
                    target: &target,
                    batch: spec.batch_size,
                    cache,
                    progress,
                };
                let input = LayerInput {
                    a: &a,
                    g: &[],
                    k,
                    h: lh,
                    w: lw,
                };
                cams.push(layer_cam(
                    m.as_ref(),
                    &input,
                    spec.eigen_smooth,
                    &mut passes,
                )?);
            }
            out.push(finish(spec, target, logits.clone(), cams, h, w));
        }
        return Ok(out);
    }

    // One traced pass for all targets: a batch of copies of x.
    let mut batch_data = Vec::new();
    for _ in 0..n_targets {
        batch_data.extend_from_slice(x);
    }
    let batch = to_precision(vec![n_targets, 3, h, w], batch_data, prec);
    let mut chosen: Vec<ClassTarget> = Vec::new();
    let fullgrad = matches!(method, Method::FullGrad);
    let tr = if spec.finer.is_some() || fullgrad {
        let extras = TraceExtras {
            input_grad: fullgrad,
            bias_grads: fullgrad,
        };
        trace_seeded(s.net, &batch, layers, extras, |logits| {
            let l0 = logits.sample_f64(0);
            chosen = resolve(&l0);
            let mut seeds = Vec::new();
            for (b, t) in chosen.iter().enumerate() {
                seeds.extend(t.logit_gradient(&logits.sample_f64(b)));
            }
            Ok(seeds)
        })?
    } else {
        trace_with(s.net, &batch, layers, false, |logits| {
            chosen = resolve(&logits.sample_f64(0));
            Ok(chosen.iter().map(|t| Objective::Logit(t.class())).collect())
        })?
    };
    let mut out = Vec::new();
    for (b, target) in chosen.into_iter().enumerate() {
        let logits = tr.logits.sample_f64(b);
        check_finite(&logits)?;
        match method {
            Method::FullGrad => {
                if tr.biases.is_empty() {
                    return Err(IcamError::Config(format!(
                        "fullgrad needs the bias terms of the network, and {} exposes none",
                        s.net.arch()
                    )));
                }
                let gx = tr
                    .input_grad
                    .as_ref()
                    .expect("input gradient asked")
                    .sample_f64(b);
                check_grads("the input", &gx)?;
                let grads: Vec<Vec<f64>> =
                    tr.biases.iter().map(|bg| bg.grad.sample_f64(b)).collect();
                let mut terms = Vec::with_capacity(grads.len());
                for (bg, g) in tr.biases.iter().zip(&grads) {
                    check_grads(&bg.name, g)?;
                    let [_, _, th, tw] = dims4(&bg.grad);
                    terms.push(BiasTerm {
                        bias: &bg.bias,
                        grad: g,
                        h: th,
                        w: tw,
                    });
                }
                let heat = fullgrad_map(x, &gx, &terms, h, w, spec.scaling, spec.eigen_smooth);
                out.push(Core {
                    target,
                    logits,
                    heat,
                    layer_cams: Vec::new(),
                });
            }
            Method::Layer(m) => {
                let cams = layer_maps(m.as_ref(), spec, &tr, b, layers)?;
                out.push(finish(spec, target, logits, cams, h, w));
            }
        }
    }
    Ok(out)
}

fn layer_maps(
    m: &dyn CamMethod,
    spec: &CamSpec,
    tr: &icam_models::Trace,
    b: usize,
    layers: &[String],
) -> Result<Vec<Map>> {
    let mut cams = Vec::with_capacity(layers.len());
    for (li, name) in layers.iter().enumerate() {
        let (a, g) = (tr.activations[li].sample_f64(b), tr.grads[li].sample_f64(b));
        check_grads(name, &g)?;
        let [_, k, lh, lw] = dims4(&tr.activations[li]);
        let input = LayerInput {
            a: &a,
            g: &g,
            k,
            h: lh,
            w: lw,
        };
        cams.push(layer_cam(m, &input, spec.eigen_smooth, &mut NoPasses)?);
    }
    Ok(cams)
}

fn finish(
    spec: &CamSpec,
    target: ClassTarget,
    logits: Vec<f64>,
    cams: Vec<Map>,
    h: usize,
    w: usize,
) -> Core {
    Core {
        heat: spec.scaling.heatmap(&cams, h, w),
        target,
        logits,
        layer_cams: cams,
    }
}

fn check_finite(logits: &[f64]) -> Result<()> {
    if logits.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(
            "the network produced NaN or infinite logits; check the weights and the input".into(),
        ));
    }
    Ok(())
}

fn check_grads(layer: &str, g: &[f64]) -> Result<()> {
    if g.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(format!("NaN gradient at {layer}")));
    }
    Ok(())
}

fn dims4(t: &HostTensor) -> [usize; 4] {
    [t.shape[0], t.shape[1], t.shape[2], t.shape[3]]
}
