//! CAM methods. One shared base, as pytorch-grad-cam's `BaseCAM`: a method says how a layer's
//! activations `A` (and gradients `g = ∂S^c/∂A`, and, for the gradient-free ones, extra
//! forward passes) become its *contributions* `w ⊙ A` ([`CamMethod::contributions`]); the base
//! sums them over the channels, or projects them on their first principal component
//! ([`layer_cam`]), and [`crate::scaling`] turns layer maps into the heatmap. Each method is a
//! small file. FullGrad, which uses no layer but every bias term, has its own
//! ([`fullgrad`]); I-CAM too ([`icam`], driven by [`crate::explain::explain_icam`]).
//!
//! [`by_name`] is the registry of the methods [`crate::explain_cam`] runs; [`NAMES`] lists
//! them for help texts and errors.

pub mod ablationcam;
pub mod eigencam;
pub mod eigengradcam;
pub mod fem;
pub mod finer;
pub mod fullgrad;
pub mod gradcam;
pub mod gradcam_elementwise;
pub mod gradcampp;
pub mod hirescam;
pub mod icam;
pub mod layercam;
pub mod scorecam;
pub mod xgradcam;

use crate::error::{IcamError, Result};
use crate::maps::Map;
use crate::pca::first_component_projection;
use crate::scaling::Scaling;

/// One layer of one image: activations `A` and gradients `g = ∂S^c/∂A`, both `(k, h, w)`.
/// Gradient-free methods get an empty `g`.
#[derive(Clone, Copy, Debug)]
pub struct LayerInput<'a> {
    pub a: &'a [f64],
    pub g: &'a [f64],
    pub k: usize,
    pub h: usize,
    pub w: usize,
}

impl LayerInput<'_> {
    pub fn hw(&self) -> usize {
        self.h * self.w
    }

    /// Channel `ch` of `A` and of `g` (empty when there are no gradients).
    pub fn channel(&self, ch: usize) -> (&[f64], &[f64]) {
        let hw = self.hw();
        let g = if self.g.is_empty() {
            &[][..]
        } else {
            &self.g[ch * hw..(ch + 1) * hw]
        };
        (&self.a[ch * hw..(ch + 1) * hw], g)
    }
}

/// A layer's weighted activations `w ⊙ A` (the package's `weighted_activations`).
#[derive(Clone, Debug, PartialEq)]
pub enum Contributions {
    /// One weight per channel: `w_k · A_k`.
    Channel(Vec<f64>),
    /// An explicit `(k, h, w)` tensor (element-wise weights, or no weights: Eigen-CAM's `A`).
    Element(Vec<f64>),
}

impl Contributions {
    /// `Σ_k` of the contributions: the raw map (before the ReLU of the scaling).
    pub fn channel_sum(&self, x: &LayerInput) -> Map {
        let hw = x.hw();
        let mut out = vec![0.0; hw];
        match self {
            Contributions::Channel(w) => return channel_weighted_sum(x, w),
            Contributions::Element(t) => {
                for ch in t.chunks(hw) {
                    for (o, v) in out.iter_mut().zip(ch) {
                        *o += v;
                    }
                }
            }
        }
        Map::new(x.h, x.w, out)
    }

    /// The `(k, h, w)` tensor.
    pub fn into_tensor(self, x: &LayerInput) -> Vec<f64> {
        match self {
            Contributions::Element(t) => t,
            Contributions::Channel(w) => {
                let hw = x.hw();
                let mut t = x.a.to_vec();
                for (ch, wk) in t.chunks_mut(hw).zip(w) {
                    ch.iter_mut().for_each(|v| *v *= wk);
                }
                t
            }
        }
    }
}

/// Forward-only network passes a gradient-free method asks for (the package's
/// `get_cam_weights` runs the model itself). The driver batches them, runs them on the plain
/// device and reports progress; the scores are the target's (the logit `S^c`, or Finer-CAM's
/// objective). Within one layer of one image, the inputs a method makes must depend only on
/// that layer's activations (the driver reuses the passes for every target class).
pub trait Passes {
    /// The explained model input: `3·H·W` values (channel-major) and `(H, W)`.
    fn input(&self) -> (&[f64], usize, usize);
    /// The target's score on the explained input.
    fn score(&mut self) -> Result<f64>;
    /// Target scores of `count` inputs; `make(i, buf)` turns the explained input (in `buf` on
    /// entry, `3·H·W` values) into input `i`.
    fn input_scores(
        &mut self,
        count: usize,
        make: &(dyn Fn(usize, &mut [f64]) + Sync),
    ) -> Result<Vec<f64>>;
    /// Target scores of `count` copies of the layer's activation, run from the layer on;
    /// `edit(i, buf)` changes copy `i` (`k·h·w` values, holding `A` on entry).
    fn layer_scores(
        &mut self,
        count: usize,
        edit: &(dyn Fn(usize, &mut [f64]) + Sync),
    ) -> Result<Vec<f64>>;
}

/// For methods that need no passes (every gradient method): any call is an error.
pub struct NoPasses;

impl Passes for NoPasses {
    fn input(&self) -> (&[f64], usize, usize) {
        (&[], 0, 0)
    }
    fn score(&mut self) -> Result<f64> {
        Err(no_passes())
    }
    fn input_scores(
        &mut self,
        _: usize,
        _: &(dyn Fn(usize, &mut [f64]) + Sync),
    ) -> Result<Vec<f64>> {
        Err(no_passes())
    }
    fn layer_scores(
        &mut self,
        _: usize,
        _: &(dyn Fn(usize, &mut [f64]) + Sync),
    ) -> Result<Vec<f64>> {
        Err(no_passes())
    }
}

fn no_passes() -> IcamError {
    IcamError::Config("this method runs without extra network passes".into())
}

/// A layer-based CAM method: how one layer's contributions `w ⊙ A` are made.
pub trait CamMethod: Send + Sync {
    /// Registry name (`gradcam`, `scorecam`, ...).
    fn name(&self) -> &'static str;
    /// Whether the method reads the gradients `g` (one backward pass); otherwise the driver
    /// runs forward only.
    fn uses_gradients(&self) -> bool {
        true
    }
    /// Whether the map depends on the target class (not for Eigen-CAM and FEM).
    fn uses_target(&self) -> bool {
        true
    }
    /// Whether the method runs forward-only passes in batches (`--batch-size`): Score-CAM,
    /// Ablation-CAM.
    fn batched(&self) -> bool {
        false
    }
    /// Whether the map is always the first principal component of the contributions
    /// (Eigen-CAM, EigenGrad-CAM); otherwise only with `--eigen-smooth`.
    fn projects(&self) -> bool {
        false
    }
    /// The layer's contributions.
    fn contributions(&self, x: &LayerInput, passes: &mut dyn Passes) -> Result<Contributions>;
}

/// The raw layer map (the package's `get_cam_image`): the channel sum of the contributions,
/// or their first principal component ([`first_component_projection`], with icam's sign rule)
/// when the method projects or `eigen_smooth` is set.
pub fn layer_cam(
    m: &dyn CamMethod,
    x: &LayerInput,
    eigen_smooth: bool,
    passes: &mut dyn Passes,
) -> Result<Map> {
    let c = m.contributions(x, passes)?;
    if m.projects() || eigen_smooth {
        let t = c.into_tensor(x);
        Ok(Map::new(
            x.h,
            x.w,
            first_component_projection(&t, x.k, x.hw()),
        ))
    } else {
        Ok(c.channel_sum(x))
    }
}

/// `Σ_k w_k A_k` (Eq. 18 before the ReLU), for channel weights `w_k`.
pub fn channel_weighted_sum(x: &LayerInput, weights: &[f64]) -> Map {
    let hw = x.hw();
    let mut out = vec![0.0; hw];
    for (ch, &wk) in weights.iter().enumerate() {
        let (a, _) = x.channel(ch);
        for (o, &v) in out.iter_mut().zip(a) {
            *o += wk * v;
        }
    }
    Map::new(x.h, x.w, out)
}

/// Post-processing of the baselines (A21): per layer ReLU, bilinear upsampling to `h × w`,
/// min-max; several layers: min-max of their mean. ([`Scaling::Icam`].)
pub fn baseline_heatmap(cams: &[Map], h: usize, w: usize) -> Map {
    Scaling::Icam.heatmap(cams, h, w)
}

/// A method of the registry.
pub enum Method {
    /// Per-layer maps from contributions.
    Layer(Box<dyn CamMethod>),
    /// FullGrad: the input gradient and every bias term; no layers.
    FullGrad,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Layer(m) => m.name(),
            Method::FullGrad => "fullgrad",
        }
    }

    pub fn uses_target(&self) -> bool {
        match self {
            Method::Layer(m) => m.uses_target(),
            Method::FullGrad => true,
        }
    }

    /// See [`CamMethod::batched`].
    pub fn batched(&self) -> bool {
        match self {
            Method::Layer(m) => m.batched(),
            Method::FullGrad => false,
        }
    }
}

/// Every method [`by_name`] knows, in help order (I-CAM, `icam`, has its own entry point).
pub const NAMES: [&str; 12] = [
    "gradcam",
    "gradcampp",
    "layercam",
    "hirescam",
    "gradcam-elementwise",
    "xgradcam",
    "eigengradcam",
    "fullgrad",
    "scorecam",
    "ablationcam",
    "eigencam",
    "fem",
];

/// The method called `name` (see [`NAMES`]); `gradcampp_eps` is Grad-CAM++'s α epsilon.
pub fn by_name(name: &str, gradcampp_eps: f64) -> Option<Method> {
    let layer = |m: Box<dyn CamMethod>| Some(Method::Layer(m));
    match name {
        "gradcam" => layer(Box::new(gradcam::GradCam)),
        "gradcampp" => layer(Box::new(gradcampp::GradCamPlusPlus { eps: gradcampp_eps })),
        "layercam" => layer(Box::new(layercam::LayerCam)),
        "hirescam" => layer(Box::new(hirescam::HiResCam)),
        "gradcam-elementwise" => layer(Box::new(gradcam_elementwise::GradCamElementWise)),
        "xgradcam" => layer(Box::new(xgradcam::XGradCam)),
        "eigengradcam" => layer(Box::new(eigengradcam::EigenGradCam)),
        "eigencam" => layer(Box::new(eigencam::EigenCam)),
        "fem" => layer(Box::new(fem::Fem { k: fem::FEM_K })),
        "scorecam" => layer(Box::new(scorecam::ScoreCam)),
        "ablationcam" => layer(Box::new(ablationcam::AblationCam)),
        "fullgrad" => Some(Method::FullGrad),
        _ => None,
    }
}

/// A layer method by name (what `explain_baseline` takes); `None` for FullGrad and unknown
/// names.
pub fn baseline(name: &str, gradcampp_eps: f64) -> Option<Box<dyn CamMethod>> {
    match by_name(name, gradcampp_eps)? {
        Method::Layer(m) => Some(m),
        Method::FullGrad => None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A 2-channel 1×2 layer for hand-computed cases: A = [[1, 3], [2, 0]],
    /// g = [[1, 0], [0.5, -2]].
    pub const A: [f64; 4] = [1.0, 3.0, 2.0, 0.0];
    pub const G: [f64; 4] = [1.0, 0.0, 0.5, -2.0];

    pub fn input() -> LayerInput<'static> {
        LayerInput {
            a: &A,
            g: &G,
            k: 2,
            h: 1,
            w: 2,
        }
    }

    /// The raw map of `m` on [`input`] (no passes, no eigen smoothing).
    pub fn raw(m: &dyn CamMethod) -> Vec<f64> {
        layer_cam(m, &input(), false, &mut NoPasses).unwrap().data
    }

    pub fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn registry_knows_every_name() {
        for n in NAMES {
            let m = by_name(n, 0.0).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(m.name(), n);
        }
        assert!(by_name("icam", 0.0).is_none() && by_name("nope", 0.0).is_none());
        assert!(baseline("fullgrad", 0.0).is_none() && baseline("hirescam", 0.0).is_some());
        let batched: Vec<&str> = NAMES
            .into_iter()
            .filter(|n| by_name(n, 0.0).unwrap().batched())
            .collect();
        assert_eq!(batched, ["scorecam", "ablationcam"]);
        let targetless: Vec<&str> = NAMES
            .into_iter()
            .filter(|n| !by_name(n, 0.0).unwrap().uses_target())
            .collect();
        assert_eq!(targetless, ["eigencam", "fem"]);
    }

    #[test]
    fn eigen_smooth_projects_the_contributions() {
        // Grad-CAM weights (0.5, -0.75): contributions [[0.5, 1.5], [-1.5, 0]]; centred per
        // channel over the 2 positions: [[-0.5, 0.5], [-0.75, 0.75]]; rank one, projection
        // ±[−r, r] with r = √(0.25+0.5625); a tie in magnitude: the first entry is made
        // positive.
        let m = gradcam::GradCam;
        let p = layer_cam(&m, &input(), true, &mut NoPasses).unwrap().data;
        let r = (0.25f64 + 0.5625).sqrt();
        close(&p, &[r, -r]);
    }
}
