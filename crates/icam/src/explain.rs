//! Running a method on one image: the network pass with taps, then the method's maths.
//! Everything after the network is float64 (A20).

use icam_models::{
    HostData, HostTensor, Network, Normalization, Objective, PixelImage, Precision, trace_with,
};
use rayon::prelude::*;
use serde::Serialize;

pub use crate::cam::{CamProgress, CamSpec, FinerReport, explain_cam};
use crate::config::{IcamConfig, ScoreTarget, Space};
use crate::error::{IcamError, Result};
use crate::fusion::{Fused, Fusion, fuse};
use crate::maps::Map;
use crate::methods::icam::{
    IcamLayerMap, IcamLayerStats, Smooth, icam_layer_map, smooth_derivatives,
};
use crate::methods::{CamMethod, LayerInput};
use crate::perturb::{Perturbations, perturb};
use crate::scaling::Scaling;
use crate::scoring::{
    Selection, input_gradient_map, layer_distance, layer_score, phi_norm_map, select_layers,
};
use crate::similarity::{SsimReference, log_softmax, mdd, mds, perturbation_weight, svim};

/// Which class to explain (A22).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The argmax of the original image's logits.
    Predicted,
    Class(usize),
}

impl Target {
    pub(crate) fn resolve(self, logits: &[f64]) -> usize {
        match self {
            Target::Class(c) => c,
            Target::Predicted => argmax(logits),
        }
    }
}

/// Index of the largest value (the first one on ties, as `torch.argmax`).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The image, how it becomes the model input, and the network.
pub struct Subject<'a> {
    pub net: &'a dyn Network,
    pub image: &'a PixelImage,
    pub normalization: Normalization,
}

impl Subject<'_> {
    pub(crate) fn precision(&self) -> Precision {
        self.net.precision()
    }

    /// The pixel image in the network precision, `[1, 3, H, W]` (u8/255 computed in float32,
    /// as the reference).
    fn pixels(&self) -> HostTensor {
        let shape = vec![1, 3, self.image.height, self.image.width];
        match self.precision() {
            Precision::F32 => HostTensor::f32(shape, self.image.data.clone()),
            Precision::F64 => {
                HostTensor::f64(shape, self.image.data.iter().map(|&x| x as f64).collect())
            }
        }
    }

    pub(crate) fn check_class(&self, target: Target) -> Result<()> {
        let classes = self.net.num_classes();
        match target {
            Target::Class(c) if c >= classes => Err(IcamError::Config(format!(
                "class {c} is out of range: the model has {classes} classes (0..{})",
                classes - 1
            ))),
            _ => Ok(()),
        }
    }

    pub(crate) fn check_layers(&self, layers: &[String]) -> Result<()> {
        if layers.is_empty() {
            return Err(IcamError::Config("no layers to explain".into()));
        }
        for l in layers {
            self.net.resolve_layer(l)?;
        }
        Ok(())
    }
}

/// Softmax probability of `class` in float64.
pub fn probability(logits: &[f64], class: usize) -> f64 {
    log_softmax(logits)[class].exp()
}

/// Refuse gradients that are zero at every layer: nothing would be explained.
fn check_nonzero_grads(any_nonzero: bool, class: usize) -> Result<()> {
    if any_nonzero {
        return Ok(());
    }
    Err(IcamError::Numeric(format!(
        "the gradient of class {class} is zero at every explained layer; there is nothing to explain (try other --layers)"
    )))
}

fn check_finite(what: &str, t: &HostTensor) -> Result<()> {
    if !t.all_finite() {
        return Err(IcamError::Numeric(format!(
            "the network produced NaN or infinite {what}; check the weights and the input"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Baselines
// ---------------------------------------------------------------------------------------

/// A baseline map and its facts.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineResult {
    #[serde(skip)]
    pub heat: Map,
    /// Raw per-layer maps (before ReLU) at feature resolution.
    #[serde(skip)]
    pub layer_cams: Vec<Map>,
    pub method: String,
    pub target_class: usize,
    pub logit_c: f64,
    pub prob_c: f64,
    pub layers: Vec<String>,
    pub gradcampp_eps: f64,
    pub dtype: String,
    pub image_hw: [usize; 2],
    /// Post-processing of the maps.
    pub scaling: Scaling,
    pub eigen_smooth: bool,
    pub aug_smooth: bool,
    /// Finer-CAM's comparison classes, when used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finer: Option<FinerReport>,
    /// Samples per batch of the forward-only passes (Score-CAM, Ablation-CAM; `None` for the
    /// methods without them): `--batch-size`, or the one chosen from the available memory.
    pub batch_size: Option<usize>,
}

/// A layer method of the registry (A21: gradient of the logit, icam's scaling) on `layers`,
/// for each of `targets`, in one batched pass: [`explain_cam`] with its defaults.
pub fn explain_baseline(
    s: &Subject,
    method: &dyn CamMethod,
    layers: &[String],
    targets: &[Target],
    gradcampp_eps: f64,
) -> Result<Vec<BaselineResult>> {
    let spec = CamSpec {
        gradcampp_eps,
        ..CamSpec::new(method.name())
    };
    explain_cam(s, &spec, layers, targets, &mut |_| {})
}

/// Eq. 3's `‖φ‖` map of image `b` of a layer's activations and gradients, read in place.
fn sample_phi_map(acts: &HostTensor, grads: &HostTensor, b: usize) -> Map {
    let [_, k, lh, lw] = dims4(acts);
    let at = b * k * lh * lw..(b + 1) * k * lh * lw;
    match (&acts.data, &grads.data) {
        (HostData::F32(a), HostData::F32(g)) => phi_norm_map(&a[at.clone()], &g[at], k, lh, lw),
        (HostData::F64(a), HostData::F64(g)) => phi_norm_map(&a[at.clone()], &g[at], k, lh, lw),
        _ => phi_norm_map(&acts.sample_f64(b), &grads.sample_f64(b), k, lh, lw),
    }
}

fn dims4(t: &HostTensor) -> [usize; 4] {
    [t.shape[0], t.shape[1], t.shape[2], t.shape[3]]
}

pub(crate) fn to_precision(shape: Vec<usize>, data: Vec<f64>, p: Precision) -> HostTensor {
    match p {
        Precision::F32 => HostTensor::f32(shape, data.into_iter().map(|x| x as f32).collect()),
        Precision::F64 => HostTensor::f64(shape, data),
    }
}

// ---------------------------------------------------------------------------------------
// I-CAM
// ---------------------------------------------------------------------------------------

/// Per-perturbation facts (Eqs. 5–10).
#[derive(Clone, Debug, Serialize)]
pub struct PerturbationReport {
    /// 1-based index `i` of `I'_i`.
    pub i: usize,
    pub ssim: f64,
    pub svim: f64,
    pub mdd: f64,
    pub mds_raw: f64,
    pub mds: f64,
    pub w: f64,
    /// Predicted class of the perturbed image.
    pub pred: usize,
    /// Probability of the target class on the perturbed image.
    pub prob_c: f64,
    pub mask_keep_fraction: f64,
}

/// Per-layer facts: score, rank, weight, selection and the map's statistics.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub shape: [usize; 3],
    pub score: f64,
    /// 1-based rank by score.
    pub rank: usize,
    pub selected: bool,
    pub weight: f64,
    pub dist_per_perturbation: Vec<f64>,
    #[serde(flatten)]
    pub stats: IcamLayerStats,
}

/// The selection as the report shows it (layer names instead of indices).
#[derive(Clone, Debug, Serialize)]
pub struct SelectionReport {
    pub k: usize,
    pub total: f64,
    pub target: f64,
    pub cumulative: Vec<f64>,
    #[serde(rename = "C_k")]
    pub c_k: f64,
    #[serde(rename = "C_k_minus_1")]
    pub c_k_minus_1: f64,
    pub degenerate: bool,
    pub order: Vec<String>,
}

/// Everything an I-CAM run found out, in the reference's JSON layout plus diagnostics.
#[derive(Clone, Debug, Serialize)]
pub struct IcamReport {
    pub method: String,
    pub config: IcamConfig,
    pub dtype: String,
    pub image_hw: [usize; 2],
    pub target_class: usize,
    pub logit_c: f64,
    pub prob_c: f64,
    pub smooth_f: Smooth,
    pub perturbations: Vec<PerturbationReport>,
    pub perturbation_weights: Vec<f64>,
    pub layers: Vec<LayerReport>,
    pub layer_names: Vec<String>,
    pub layer_scores: Vec<f64>,
    pub layer_weights: Vec<f64>,
    pub selected_layers: Vec<String>,
    pub selection: SelectionReport,
    pub fused_min: f64,
    pub fused_max: f64,
    pub heatmap_sum: f64,
    pub perturbation_source: crate::perturb::PerturbationSource,
    /// How many perturbation weights `w_i` are exactly 0 (MDS clamped, A7).
    pub zero_weight_perturbations: usize,
    /// Whether α's denominator can vanish for this `Y` (A13).
    pub alpha_pole_possible: bool,
    /// Weights whose α sits near the pole, over all layers (A13).
    pub alpha_near_pole: usize,
    /// Plain-language warnings (degenerate selection, poles, ...).
    pub warnings: Vec<String>,
}

/// Intermediate values, for checks and dumps.
#[derive(Clone, Debug)]
pub struct IcamIntermediates {
    /// Logits of the original and the perturbed images, `(n + 1) × classes`.
    pub logits: Vec<Vec<f64>>,
    /// `‖I·∂O/∂I‖_F` before normalisation.
    pub input_grad_map: Map,
    /// Per layer, the `n` maps `‖φ_{i,l}‖_F` at feature resolution.
    pub phi_norm: Vec<Vec<Map>>,
    /// The fused map before the ReLU (for reports; computed in float64 with the constant).
    pub fused: Map,
}

/// An I-CAM explanation.
#[derive(Clone, Debug)]
pub struct IcamResult {
    pub heat: Map,
    /// Every candidate layer's map (`L_l`), selected or not.
    pub layer_maps: Vec<IcamLayerMap>,
    pub selection: Selection,
    pub report: IcamReport,
    pub intermediates: IcamIntermediates,
}

/// One layer of the original image: shape `(K, h, w)`, activations `A`, CAM gradients `g`.
#[derive(Clone, Debug)]
pub struct OriginalLayer {
    pub shape: (usize, usize, usize),
    pub a: Vec<f64>,
    pub g: Vec<f64>,
}

/// What [`prepare_icam`] computed: everything up to the layer selection.
#[derive(Clone, Debug)]
pub struct IcamPrepared {
    pub layers: Vec<String>,
    pub cfg: IcamConfig,
    pub class: usize,
    pub dtype: String,
    pub image_hw: [usize; 2],
    /// Logits of the original and the perturbed images.
    pub logits: Vec<Vec<f64>>,
    pub per: Vec<PerturbationReport>,
    pub scores: Vec<f64>,
    pub dists: Vec<Vec<f64>>,
    pub phis: Vec<Vec<Map>>,
    pub sel: Selection,
    pub ig: Map,
    /// Per layer: activations and CAM gradients of the original image.
    pub originals: Vec<OriginalLayer>,
    pub perturbation_source: crate::perturb::PerturbationSource,
}

/// Progress stages reported while I-CAM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Network,
    Weights,
    Scores,
    Maps,
}

/// Integrative CAM of one image for one target (Eqs. 3–31): [`prepare_icam`], then
/// [`finish_icam`].
pub fn explain_icam(
    s: &Subject,
    layers: &[String],
    cfg: &IcamConfig,
    target: Target,
    perturbations: &Perturbations,
    progress: &mut dyn FnMut(Stage),
) -> Result<IcamResult> {
    let p = prepare_icam(s, layers, cfg, target, perturbations, progress)?;
    progress(Stage::Maps);
    finish_icam(&p, cfg)
}

/// Images per network pass of I-CAM ([`prepare_icam`]): the batch `[x, x, I'_1 … I'_n]` runs in
/// chunks of this many, so the memory of a run stays flat as `n` grows. Per-sample results do
/// not depend on the chunking (eval-mode BatchNorm keeps samples independent, A24): every
/// layer's activations and gradients are reduced to the `φ` maps and distances of Eq. 3 chunk
/// by chunk, and only the original image's are kept.
pub const ICAM_CHUNK: usize = 16;

/// The network pass and everything that does not depend on the bias (Eqs. 3–14): target
/// class, perturbation weights, layer scores and selection.
///
/// One batched forward/backward pass (A24): `[x, x, I'_1 … I'_n]`, where the first copy
/// differentiates the logit `S^c` (the CAM gradients `g`, A23), the second the score target
/// `O` (the input gradient of Eq. 3, A9), and the perturbed images `O` (the `φ` of Eq. 3).
/// With `score_target = logit` the first two coincide and the batch is `n + 1`. The batch
/// runs in chunks of [`ICAM_CHUNK`] images ([`prepare_icam_chunked`]).
pub fn prepare_icam(
    s: &Subject,
    layers: &[String],
    cfg: &IcamConfig,
    target: Target,
    perturbations: &Perturbations,
    progress: &mut dyn FnMut(Stage),
) -> Result<IcamPrepared> {
    prepare_icam_chunked(s, layers, cfg, target, perturbations, ICAM_CHUNK, progress)
}

/// [`prepare_icam`] with at most `chunk` images per network pass (at least the one or two
/// copies of the original image, which share the first pass), in the fewest passes, of even
/// sizes. Only the first pass
/// differentiates the input; the others stop their backward pass at the shallowest layer.
pub fn prepare_icam_chunked(
    s: &Subject,
    layers: &[String],
    cfg: &IcamConfig,
    target: Target,
    perturbations: &Perturbations,
    chunk: usize,
    progress: &mut dyn FnMut(Stage),
) -> Result<IcamPrepared> {
    cfg.validate()?;
    s.check_layers(layers)?;
    s.check_class(target)?;
    let (h, w) = (s.image.height, s.image.width);
    let hw = h * w;
    if h < cfg.ssim_win || w < cfg.ssim_win {
        return Err(IcamError::Config(format!(
            "the image ({w}×{h}) is smaller than the SSIM window ({})",
            cfg.ssim_win
        )));
    }
    if perturbations.n != cfg.n {
        return Err(IcamError::Config(format!(
            "{} perturbations given but --n is {}",
            perturbations.n, cfg.n
        )));
    }
    let n = cfg.n;
    let norm = s.normalization;
    let prec = s.precision();

    // I (Eq. 4, A3): the model input or the pixel image, in the network precision.
    let base = match cfg.space {
        Space::Input => norm.to_model_input(s.image, prec),
        Space::Pixel => s.pixels(),
    };
    let xp = perturb(&base, perturbations, cfg.alpha)?;
    let dup = cfg.score_target == ScoreTarget::Prob;
    let first_pert = if dup { 2 } else { 1 };
    let total = first_pert + n;
    // The fewest passes of at most `chunk` images, as even as possible (18 images in passes
    // of at most 16: two of 9, not 16 + 2), so the peak is no larger than it must be.
    let chunk = chunk.max(first_pert);
    let chunk = total.div_ceil(total.div_ceil(chunk)).max(first_pert);
    let base_f64 = base.to_f64();

    progress(Stage::Network);
    // Filled by the first pass: the class, Eq. 3's input-gradient map and the original
    // image's layers; then by every pass: logits and Eq. 3's per-layer φ.
    let mut class = None;
    let mut ig = None;
    let mut originals = Vec::with_capacity(layers.len());
    let mut logits: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    let mut phis: Vec<Vec<Map>> = vec![Vec::with_capacity(n); layers.len()];
    let mut start = 0;
    while start < total {
        let end = (start + chunk).min(total);
        let mut data = Vec::with_capacity((end - start) * 3 * hw);
        for j in start..end {
            if j < first_pert {
                data.extend_from_slice(&base_f64);
            } else {
                data.extend(xp.sample_f64(j - first_pert));
            }
        }
        let mut batch = to_precision(vec![end - start, 3, h, w], data, prec);
        if cfg.space == Space::Pixel {
            batch = norm.apply_tensor(&batch);
        }
        let first = start == 0;
        let tr = trace_with(s.net, &batch, layers, first, |l| {
            let c = *class.get_or_insert_with(|| target.resolve(&l.sample_f64(0)));
            let o = match cfg.score_target {
                ScoreTarget::Prob => Objective::Prob(c),
                ScoreTarget::Logit => Objective::Logit(c),
            };
            Ok((start..end)
                .map(|j| if j == 0 { Objective::Logit(c) } else { o })
                .collect())
        })?;
        check_finite("logits", &tr.logits)?;
        if first {
            let input_grad = tr.input_grad.as_ref().expect("input gradient requested");
            check_finite("input gradients", input_grad)?;
            let gi = input_grad.sample_f64(if dup { 1 } else { 0 });
            let g0: Vec<f64> = match cfg.space {
                Space::Input => gi,
                Space::Pixel => gi
                    .iter()
                    .enumerate()
                    .map(|(j, &g)| norm.grad_to_pixel(g, j / hw))
                    .collect(),
            };
            ig = Some(input_gradient_map(&base_f64, &g0, 3, h, w));
            // Keep what the layer maps need: the original image's activations and CAM
            // gradients.
            for ((name, acts), grads) in layers.iter().zip(&tr.activations).zip(&tr.grads) {
                let [_, k, lh, lw] = dims4(acts);
                let (a, g) = (acts.sample_f64(0), grads.sample_f64(0));
                if g.iter().any(|v| !v.is_finite()) {
                    return Err(IcamError::Numeric(format!("NaN gradient at layer {name}")));
                }
                originals.push(OriginalLayer {
                    shape: (k, lh, lw),
                    a,
                    g,
                });
            }
            logits.push(tr.logits.sample_f64(0));
        }
        // The φ maps of Eq. 3 of the perturbed images of this pass (their distances to the
        // input-gradient map depend on scoring options only: `score`), every (layer, image)
        // pair in parallel.
        let batch: Vec<usize> = (start.max(first_pert) - start..end - start).collect();
        logits.extend(batch.iter().map(|&b| tr.logits.sample_f64(b)));
        let maps: Vec<Map> = (0..layers.len() * batch.len())
            .into_par_iter()
            .map(|i| {
                let l = i / batch.len();
                sample_phi_map(&tr.activations[l], &tr.grads[l], batch[i % batch.len()])
            })
            .collect();
        for (pm, layer_maps) in phis.iter_mut().zip(maps.chunks(batch.len().max(1))) {
            pm.extend_from_slice(layer_maps);
        }
        start = end;
    }
    let c = class.expect("set by the first pass");
    let ig = ig.expect("set by the first pass");

    // Perturbation weights (Eqs. 5–10).
    progress(Stage::Weights);
    let x_ref: Vec<f64> = s.image.data.iter().map(|&v| v as f64).collect();
    let reference = SsimReference::new(&x_ref, 3, h, w, &cfg.ssim_params());
    let ssims: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut view = xp.sample_f64(i);
            if cfg.space == Space::Input {
                for (j, v) in view.iter_mut().enumerate() {
                    *v = norm.invert_f64(*v, j / hw);
                }
            }
            reference.ssim(&view)
        })
        .collect();
    let mut per = Vec::with_capacity(n);
    for (i, &ss) in ssims.iter().enumerate() {
        let d = mdd(&logits[0], &logits[i + 1]);
        per.push(PerturbationReport {
            i: i + 1,
            ssim: ss,
            // SVIM, MDS and w are set by `score` (they depend on scoring options only).
            svim: f64::NAN,
            mdd: d,
            mds_raw: 1.0 - d,
            mds: f64::NAN,
            w: f64::NAN,
            pred: argmax(&logits[i + 1]),
            prob_c: probability(&logits[i + 1], c),
            mask_keep_fraction: perturbations.keep_fraction(i),
        });
    }

    // Layer distances and scores (Eq. 3) and the selection.
    progress(Stage::Scores);
    check_nonzero_grads(originals.iter().any(|o| o.g.iter().any(|&v| v != 0.0)), c)?;
    let scored = score(cfg, &mut per, &ig, &phis, [h, w]);
    Ok(IcamPrepared {
        layers: layers.to_vec(),
        cfg: cfg.clone(),
        class: c,
        dtype: prec.name().to_string(),
        image_hw: [h, w],
        logits,
        per,
        scores: scored.scores,
        dists: scored.dists,
        phis,
        sel: scored.sel,
        ig,
        originals,
        perturbation_source: perturbations.source.clone(),
    })
}

/// Layer distances, scores and selection of one configuration.
struct Scored {
    dists: Vec<Vec<f64>>,
    scores: Vec<f64>,
    sel: Selection,
}

/// Eqs. 3, 5–14 on the results of a network pass: perturbation weights from the stored SSIM
/// and MDD (written into `per`), layer distances and scores from the stored maps (`ig`
/// unnormalised, `phis` per layer and perturbation), the selection.
fn score(
    cfg: &IcamConfig,
    per: &mut [PerturbationReport],
    ig: &Map,
    phis: &[Vec<Map>],
    [h, w]: [usize; 2],
) -> Scored {
    for r in per.iter_mut() {
        r.svim = svim(r.ssim, cfg.svim_sigma);
        r.mds = mds(r.mdd, cfg.mds);
        r.w = perturbation_weight(r.svim, r.mds);
    }
    let wts: Vec<f64> = per.iter().map(|r| r.w).collect();
    let ig_n = match cfg.score_normalize {
        crate::scoring::ScoreNormalize::Minmax => ig.clone().minmax(),
        crate::scoring::ScoreNormalize::None => ig.clone(),
    };
    let dists: Vec<Vec<f64>> = phis
        .par_iter()
        .map(|pm| {
            pm.par_iter()
                .map(|phi| layer_distance(&ig_n, phi, cfg.score_upsample, cfg.score_normalize))
                .collect()
        })
        .collect();
    let scores: Vec<f64> = dists
        .iter()
        .map(|d| layer_score(&wts, d, cfg.score_mode, h * w))
        .collect();
    let sel = select_layers(&scores, cfg.threshold);
    Scored { dists, scores, sel }
}

/// The preparation of another configuration from an existing network pass: `layers` must be
/// among the pass's layers and `cfg` must need the same pass ([`IcamConfig::same_pass`]); the
/// perturbation weights, layer scores and selection are recomputed for `cfg` over `layers`.
/// This is how `icam eval --presets` serves several presets with one network pass (a pass
/// that taps the union of their candidate layers).
pub fn rescore_icam(p: &IcamPrepared, layers: &[String], cfg: &IcamConfig) -> Result<IcamPrepared> {
    cfg.validate()?;
    if !p.cfg.same_pass(cfg) {
        return Err(IcamError::Config(
            "rescore_icam: the configuration needs another network pass (n, alpha, seed, space, score target or SSIM differ)"
                .into(),
        ));
    }
    let idx = layers
        .iter()
        .map(|l| {
            p.layers.iter().position(|x| x == l).ok_or_else(|| {
                IcamError::Config(format!(
                    "rescore_icam: layer `{l}` was not tapped by the pass"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if idx.is_empty() {
        return Err(IcamError::Config("no layers to explain".into()));
    }
    let phis: Vec<Vec<Map>> = idx.iter().map(|&i| p.phis[i].clone()).collect();
    let mut per = p.per.clone();
    let scored = score(cfg, &mut per, &p.ig, &phis, p.image_hw);
    Ok(IcamPrepared {
        layers: layers.to_vec(),
        cfg: cfg.clone(),
        class: p.class,
        dtype: p.dtype.clone(),
        image_hw: p.image_hw,
        logits: p.logits.clone(),
        per,
        scores: scored.scores,
        dists: scored.dists,
        phis,
        sel: scored.sel,
        ig: p.ig.clone(),
        originals: idx.iter().map(|&i| p.originals[i].clone()).collect(),
        perturbation_source: p.perturbation_source.clone(),
    })
}

/// Eqs. 20–31 on a prepared run: the per-layer maps of the original image and their fusion.
/// `cfg` may differ from the prepared configuration only in what acts after the network and
/// the scores (bias, its form, pooling and `S^c`, the smooth function, layer post-processing),
/// so one network pass can serve several bias variants (the paper's Fig. 2).
pub fn finish_icam(p: &IcamPrepared, cfg: &IcamConfig) -> Result<IcamResult> {
    cfg.validate()?;
    if !p.cfg.same_scoring(cfg) {
        return Err(IcamError::Config(
            "finish_icam: the configuration differs from the prepared one in a scoring option"
                .into(),
        ));
    }
    let [h, w] = p.image_hw;
    let c = p.class;
    let sm = smooth_derivatives(&p.logits[0], c, cfg.smooth);
    let bias = cfg.bias_options();
    let maps: Vec<IcamLayerMap> = p
        .originals
        .iter()
        .map(|o| {
            let (k, h, w) = o.shape;
            icam_layer_map(
                &LayerInput {
                    a: &o.a,
                    g: &o.g,
                    k,
                    h,
                    w,
                },
                &sm,
                &bias,
            )
        })
        .collect();
    let sel = &p.sel;
    let chosen: Vec<(f64, &IcamLayerMap)> = sel
        .selected
        .iter()
        .map(|&l| (sel.weights[l], &maps[l]))
        .collect();
    let Fused {
        heat,
        fused_min,
        fused_max,
        values,
        ..
    } = fuse(&chosen, h, w, cfg.layer_post, cfg.fusion);
    let fused = match cfg.fusion {
        Fusion::Sum => {
            let mut fused = Map::zeros(h, w);
            for &(wl, m) in &chosen {
                fused.add_scaled(
                    wl,
                    &m.full().upsample(h, w, crate::maps::Upsample::Bilinear),
                );
            }
            fused
        }
        // The maximum has no separate constant.
        Fusion::Max => values,
    };
    let report = make_report(p, cfg, sm, &maps, fused_min, fused_max, &heat);
    Ok(IcamResult {
        heat,
        layer_maps: maps,
        selection: sel.clone(),
        report,
        intermediates: IcamIntermediates {
            logits: p.logits.clone(),
            input_grad_map: p.ig.clone(),
            phi_norm: p.phis.clone(),
            fused,
        },
    })
}

fn make_report(
    p: &IcamPrepared,
    cfg: &IcamConfig,
    sm: Smooth,
    maps: &[IcamLayerMap],
    fused_min: f64,
    fused_max: f64,
    heat: &Map,
) -> IcamReport {
    let (layers, sel, c, logits0) = (&p.layers, &p.sel, p.class, &p.logits[0]);
    let (per, scores, dists) = (p.per.clone(), &p.scores, &p.dists);
    let wts: Vec<f64> = per.iter().map(|p| p.w).collect();
    let zero = wts.iter().filter(|&&w| w == 0.0).count();
    let near: usize = maps.iter().map(|m| m.stats.alpha_near_pole).sum();
    let mut warnings = Vec::new();
    if sel.degenerate {
        warnings.push(format!(
            "degenerate layer selection: {zero} of {} perturbation weights are 0 (MDS clamped, A7), so every layer scored 0 and all {} layers got weight 1/{}; try --mds exp (as --preset recommended) or a smaller --alpha",
            wts.len(),
            layers.len(),
            layers.len()
        ));
    }
    if near > 0 {
        warnings.push(format!(
            "{near} CAM weights sit near the pole of alpha (A13); their sign may differ between float32 and float64"
        ));
    }
    if heat.max() == 0.0 {
        warnings.push("the heatmap is all zero (the fused map is never positive)".into());
    }
    let layer_reports = layers
        .iter()
        .enumerate()
        .map(|(li, name)| LayerReport {
            name: name.clone(),
            shape: [maps[li].stats.k, maps[li].stats.h, maps[li].stats.w],
            score: scores[li],
            rank: sel.rank(li),
            selected: sel.is_selected(li),
            weight: sel.weights[li],
            dist_per_perturbation: dists[li].clone(),
            stats: maps[li].stats.clone(),
        })
        .collect();
    IcamReport {
        method: "icam".into(),
        config: cfg.clone(),
        dtype: p.dtype.clone(),
        image_hw: p.image_hw,
        target_class: c,
        logit_c: logits0[c],
        prob_c: probability(logits0, c),
        smooth_f: sm,
        perturbation_weights: wts.clone(),
        perturbations: per,
        layers: layer_reports,
        layer_names: layers.to_vec(),
        layer_scores: scores.to_vec(),
        layer_weights: sel.weights.clone(),
        selected_layers: sel.selected.iter().map(|&l| layers[l].clone()).collect(),
        selection: SelectionReport {
            k: sel.k,
            total: sel.total,
            target: sel.target,
            cumulative: sel.cumulative.clone(),
            c_k: sel.c_k,
            c_k_minus_1: sel.c_k_minus_1,
            degenerate: sel.degenerate,
            order: sel.order.iter().map(|&l| layers[l].clone()).collect(),
        },
        fused_min,
        fused_max,
        heatmap_sum: heat.data.iter().map(|&v| v as f32 as f64).sum(),
        perturbation_source: p.perturbation_source.clone(),
        zero_weight_perturbations: zero,
        alpha_pole_possible: sm.has_pole(),
        alpha_near_pole: near,
        warnings,
    }
}
