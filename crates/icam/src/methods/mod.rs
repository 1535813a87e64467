//! CAM methods. One shared base ([`CamMethod`], [`channel_weighted_sum`],
//! [`baseline_heatmap`]); each method is a small file that says how a layer's activations `A`
//! and gradients `g` become its map.

pub mod gradcam;
pub mod gradcampp;
pub mod icam;
pub mod layercam;

use crate::maps::{Map, Upsample};

/// One layer of one image: activations `A` and gradients `g = ∂S^c/∂A`, both `(k, h, w)`.
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

    /// Channel `ch` of `A` and of `g`.
    pub fn channel(&self, ch: usize) -> (&[f64], &[f64]) {
        let hw = self.hw();
        (
            &self.a[ch * hw..(ch + 1) * hw],
            &self.g[ch * hw..(ch + 1) * hw],
        )
    }
}

/// A Grad-CAM-style method: how one layer's raw map (before ReLU) is made.
pub trait CamMethod {
    /// Name used in reports (`gradcam`, `gradcampp`, `layercam`).
    fn name(&self) -> &'static str;
    /// The layer's raw map at feature resolution.
    fn layer_cam(&self, x: &LayerInput) -> Map;
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
/// min-max; several layers: min-max of their mean.
pub fn baseline_heatmap(cams: &[Map], h: usize, w: usize) -> Map {
    let maps: Vec<Map> = cams
        .iter()
        .map(|c| c.clone().relu().upsample(h, w, Upsample::Bilinear).minmax())
        .collect();
    if maps.len() == 1 {
        return maps.into_iter().next().expect("one map");
    }
    let mut mean = Map::zeros(h, w);
    for m in &maps {
        mean.add_scaled(1.0 / maps.len() as f64, m);
    }
    mean.minmax()
}

/// The baseline methods by name.
pub fn baseline(name: &str, gradcampp_eps: f64) -> Option<Box<dyn CamMethod>> {
    match name {
        "gradcam" => Some(Box::new(gradcam::GradCam)),
        "gradcampp" => Some(Box::new(gradcampp::GradCamPlusPlus { eps: gradcampp_eps })),
        "layercam" => Some(Box::new(layercam::LayerCam)),
        _ => None,
    }
}
