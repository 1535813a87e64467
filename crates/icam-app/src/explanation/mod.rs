//! Explanations of one image: run a method for one or several classes, then keep what a
//! front-end shows or writes: the heatmap, the per-layer maps and facts, the report (the
//! `report.json` of `icam explain`), the warnings, and the pictures.

mod files;
mod json;
mod method;
mod render;
mod report;

use std::path::PathBuf;

use anyhow::{Context, Result};
use icam::render::Colormap;
use icam::{
    BaselineResult, IcamConfig, IcamResult, Map, Perturbations, Stage, Target, explain_cam,
    explain_icam,
};

use crate::error::invalid;
use crate::model::{InputImage, LoadedModel};
use crate::output::read_npy;

pub use files::stage_all;
pub use json::png_base64;
pub use method::{CamOptions, Method, check_gradcampp_eps, method, names as method_names};

/// What to explain and how: the options of `icam explain`, as plain values.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    /// `icam`, or a method of the CAM family ([`icam::methods::NAMES`]).
    pub method: String,
    /// The classes to explain (index, WordNet id or name); empty: the predicted class.
    pub classes: Vec<String>,
    /// The layers to explain; empty: the method's own (see [`Method::default_layers`]).
    pub layers: Vec<String>,
    /// I-CAM's options (only I-CAM reads them).
    pub config: IcamConfig,
    /// ε in Grad-CAM++'s α denominator.
    pub gradcampp_eps: f64,
    /// Perturbations from files (noise `(n,3,H,W)`, masks `(n,1,H,W)`) instead of the seeded
    /// draws.
    pub noise_mask: Option<NoiseMask>,
    /// Colormap of the pictures.
    pub colormap: Colormap,
    /// The CAM family's options (I-CAM takes none).
    pub cam: CamOptions,
}

impl Default for ExplainRequest {
    fn default() -> Self {
        Self {
            method: "icam".into(),
            classes: vec![],
            layers: vec![],
            config: IcamConfig::default(),
            gradcampp_eps: 0.0,
            noise_mask: None,
            colormap: Colormap::Inferno,
            cam: CamOptions::default(),
        }
    }
}

/// Perturbation files, e.g. the reference implementation's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseMask {
    pub noise: PathBuf,
    pub mask: PathBuf,
}

impl ExplainRequest {
    /// The checks that need no model: the method's options.
    pub fn validate(&self) -> Result<()> {
        self.cam.check(&[&self.method], self.gradcampp_eps)?;
        match self.method()? {
            Method::Icam => self.config.validate()?,
            Method::Cam(_) => check_gradcampp_eps(self.gradcampp_eps)?,
        }
        Ok(())
    }

    /// The method with its options ([`method()`]).
    pub fn method(&self) -> Result<Method> {
        method(&self.method, self.gradcampp_eps, &self.cam)
    }

    /// `--dump-intermediates` needs I-CAM's intermediates.
    pub fn check_intermediates(&self) -> Result<()> {
        if !self.method()?.is_icam() {
            return Err(invalid!("--dump-intermediates is only for --method icam"));
        }
        Ok(())
    }
}

/// What an explanation run reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event<'a> {
    /// The method reached a stage (the Grad-CAM family has only [`Stage::Network`]).
    Stage(Stage),
    /// A warning about the explanation just computed (also in [`Explanation::warnings`]).
    Warning(&'a str),
    /// Score-CAM's or Ablation-CAM's forward-only passes at `layer`: `done` of `total`, in
    /// batches of `batch` (from 0 of `total` to `total` of `total`, per layer).
    Passes {
        layer: &'a str,
        done: usize,
        total: usize,
        batch: usize,
    },
}

/// A request checked against a model: its method, layers and classes resolved.
pub struct Explainer<'m> {
    model: &'m LoadedModel,
    request: ExplainRequest,
    method: Method,
    layers: Vec<String>,
    targets: Vec<Target>,
}

impl<'m> Explainer<'m> {
    /// Check the request, its layers (then its classes) against `model`.
    pub fn new(model: &'m LoadedModel, request: ExplainRequest) -> Result<Self> {
        request.validate()?;
        let method = request.method()?;
        let net = model.net();
        let layers = if request.layers.is_empty() {
            method.default_layers(net, &request.config)
        } else {
            request.layers.clone()
        };
        for l in &layers {
            net.resolve_layer(l)?;
        }
        let targets = if request.classes.is_empty() {
            vec![Target::Predicted]
        } else {
            request
                .classes
                .iter()
                .map(|c| model.parse_class(c).map(Target::Class))
                .collect::<Result<_>>()?
        };
        Ok(Self {
            model,
            request,
            method,
            layers,
            targets,
        })
    }

    /// The method run.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The layers explained.
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    /// The classes explained.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn request(&self) -> &ExplainRequest {
        &self.request
    }

    /// Explain `image` for every class of the request, in order.
    pub fn explain(
        &self,
        image: &InputImage,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<Explanation>> {
        let model = self.model;
        let px = &*image.pixels;
        let subject = model.subject(px);
        let req = &self.request;
        let mut out = Vec::with_capacity(self.targets.len());
        match &self.method {
            Method::Icam => {
                let cfg = &req.config;
                let pert = perturbations(req, px.height, px.width)?;
                for &t in &self.targets {
                    let r = explain_icam(&subject, &self.layers, cfg, t, &pert, &mut |s| {
                        on_event(Event::Stage(s))
                    })?;
                    let e = Explanation::of_icam(model, image, req, r)?;
                    for w in &e.warnings {
                        on_event(Event::Warning(w));
                    }
                    out.push(e);
                }
            }
            Method::Cam(spec) => {
                on_event(Event::Stage(Stage::Network));
                let results = explain_cam(&subject, spec, &self.layers, &self.targets, &mut |p| {
                    on_event(Event::Passes {
                        layer: &p.layer,
                        done: p.done,
                        total: p.total,
                        batch: p.batch,
                    })
                })?;
                for r in results {
                    out.push(Explanation::of_cam(model, image, req, r)?);
                }
            }
        }
        Ok(out)
    }
}

/// Explain `image` with `model` as `request` says: one explanation per class.
pub fn explain(
    model: &LoadedModel,
    image: &InputImage,
    request: ExplainRequest,
    on_event: &mut dyn FnMut(Event),
) -> Result<Vec<Explanation>> {
    Explainer::new(model, request)?.explain(image, on_event)
}

/// The perturbations of a request: from its files, or drawn from its seed (Eq. 4).
fn perturbations(req: &ExplainRequest, h: usize, w: usize) -> Result<Perturbations> {
    let cfg = &req.config;
    let Some(NoiseMask { noise: n, mask: m }) = &req.noise_mask else {
        return Ok(Perturbations::generate(cfg.n, h, w, cfg.alpha, cfg.seed));
    };
    let (ns, nv) = read_npy(n)?;
    let (ms, mv) = read_npy(m)?;
    let p = Perturbations::from_arrays(
        (&ns, nv.into_iter().map(|v| v as f32).collect()),
        (&ms, mv),
        icam::perturb::PerturbationSource {
            noise: n.display().to_string(),
            mask: m.display().to_string(),
        },
    )
    .with_context(|| format!("loading {} and {}", n.display(), m.display()))?;
    if (p.n, p.h, p.w) != (cfg.n, h, w) {
        return Err(invalid!(
            "the noise/mask files hold {} perturbations of {}×{}, but the run needs {} of {}×{} (--n, image size)",
            p.n,
            p.w,
            p.h,
            cfg.n,
            w,
            h
        ));
    }
    Ok(p)
}

/// One layer's map and, for I-CAM, its facts.
#[derive(Clone, Debug)]
pub struct LayerMap {
    pub name: String,
    /// The layer's map at its feature resolution (I-CAM: `Σ w A` plus its bias, Eq. 20; the
    /// others: the raw CAM before ReLU).
    pub map: Map,
    /// I-CAM's score, rank, weight and selection of the layer.
    pub facts: Option<LayerFacts>,
}

/// I-CAM's verdict on one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerFacts {
    /// `S_l` (Eq. 3).
    pub score: f64,
    /// 1-based rank by score.
    pub rank: usize,
    /// `W_l` (Eq. 14).
    pub weight: f64,
    /// Selected for the fusion (Eqs. 11–13).
    pub selected: bool,
}

/// What the method layer computed, in full.
pub enum MethodResult {
    Icam(Box<IcamResult>),
    Cam(Box<BaselineResult>),
}

/// The explanation of one image for one class.
pub struct Explanation {
    /// The method's name (`icam`, `gradcam`, ...).
    pub method: String,
    /// The class explained.
    pub class: usize,
    /// The class as shown: `name (index)`, or the index.
    pub class_label: String,
    /// Its logit and softmax probability on the image.
    pub logit: f64,
    pub prob: f64,
    /// Every explained layer, in order.
    pub layers: Vec<LayerMap>,
    /// The content of `report.json`: the method's report and the run's common fields.
    pub report: serde_json::Value,
    pub warnings: Vec<String>,
    /// The method layer's result (for I-CAM: selection, scores, intermediates).
    pub result: MethodResult,
    /// The image explained.
    pub image: InputImage,
    /// Colormap of the pictures.
    pub colormap: Colormap,
}

impl Explanation {
    fn of_icam(
        model: &LoadedModel,
        image: &InputImage,
        req: &ExplainRequest,
        r: IcamResult,
    ) -> Result<Self> {
        let c = r.report.target_class;
        let layers = r
            .report
            .layers
            .iter()
            .zip(&r.layer_maps)
            .map(|(l, m)| LayerMap {
                name: l.name.clone(),
                map: m.full(),
                facts: Some(LayerFacts {
                    score: l.score,
                    rank: l.rank,
                    weight: l.weight,
                    selected: l.selected,
                }),
            })
            .collect();
        let mut rep = serde_json::to_value(&r.report)?;
        report::merge(&mut rep, report::common(model, image, c));
        Ok(Self {
            method: "icam".into(),
            class: c,
            class_label: model.describe(c),
            logit: r.report.logit_c,
            prob: r.report.prob_c,
            layers,
            report: rep,
            warnings: r.report.warnings.clone(),
            result: MethodResult::Icam(Box::new(r)),
            image: image.clone(),
            colormap: req.colormap,
        })
    }

    fn of_cam(
        model: &LoadedModel,
        image: &InputImage,
        req: &ExplainRequest,
        r: BaselineResult,
    ) -> Result<Self> {
        let c = r.target_class;
        let layers = r
            .layers
            .iter()
            .zip(&r.layer_cams)
            .map(|(l, m)| LayerMap {
                name: l.clone(),
                map: m.clone(),
                facts: None,
            })
            .collect();
        let mut rep = serde_json::to_value(&r)?;
        report::merge(&mut rep, report::common(model, image, c));
        if let (Some(f), Some(v)) = (&r.finer, rep.get_mut("finer")) {
            let names: Vec<String> = f.comparisons.iter().map(|&j| model.describe(j)).collect();
            report::merge(v, serde_json::json!({ "comparison_names": names }));
        }
        Ok(Self {
            method: r.method.clone(),
            class: c,
            class_label: model.describe(c),
            logit: r.logit_c,
            prob: r.prob_c,
            layers,
            report: rep,
            warnings: vec![],
            result: MethodResult::Cam(Box::new(r)),
            image: image.clone(),
            colormap: req.colormap,
        })
    }

    /// The heatmap: model-input size, in [0, 1].
    pub fn heatmap(&self) -> &Map {
        match &self.result {
            MethodResult::Icam(r) => &r.heat,
            MethodResult::Cam(r) => &r.heat,
        }
    }

    /// I-CAM's result, if this is an I-CAM explanation.
    pub fn icam(&self) -> Option<&IcamResult> {
        match &self.result {
            MethodResult::Icam(r) => Some(r),
            MethodResult::Cam(_) => None,
        }
    }
}
