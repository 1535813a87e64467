//! The model callback: the [`Scorer`] trait, the [`NetworkScorer`] adapter of an icam
//! network, and the checked, batched calls the faithfulness metrics make through it.

use icam_models::{HostTensor, Network, Normalization, Precision};

use crate::error::{IcamError, Result};
use crate::maps::Map;
use crate::similarity::log_softmax;

/// What the faithfulness metrics need from a model: the softmax probability of `class` for
/// each image of a batch. Each image is a pixel-space float32 `(3, h, w)` vector in [0, 1]
/// (the layout of `icam_models::PixelImage::data`); the metrics call it with batches of at
/// most their `batch` option, all images of one size.
pub trait Scorer {
    fn probabilities(&mut self, images: &[Vec<f32>], class: usize) -> Result<Vec<f64>>;
}

/// A [`Scorer`] running an icam network: normalise, forward (no taps, no gradients), softmax
/// in float64.
pub struct NetworkScorer<'a> {
    pub net: &'a dyn Network,
    pub normalization: Normalization,
    pub height: usize,
    pub width: usize,
}

impl Scorer for NetworkScorer<'_> {
    fn probabilities(&mut self, images: &[Vec<f32>], class: usize) -> Result<Vec<f64>> {
        let classes = self.net.num_classes();
        if class >= classes {
            return Err(IcamError::Config(format!(
                "class {class} is out of range: the model has {classes} classes"
            )));
        }
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let hw = self.height * self.width;
        let len = 3 * hw;
        if let Some(bad) = images.iter().find(|im| im.len() != len) {
            return Err(IcamError::Config(format!(
                "image of {} values, expected 3·{}·{} = {len}",
                bad.len(),
                self.height,
                self.width
            )));
        }
        let shape = vec![images.len(), 3, self.height, self.width];
        let n = self.normalization;
        let input = match self.net.precision() {
            Precision::F32 => HostTensor::f32(
                shape,
                images
                    .iter()
                    .flat_map(|im| im.iter().enumerate())
                    .map(|(i, &x)| n.apply_f32(x, i / hw))
                    .collect(),
            ),
            Precision::F64 => HostTensor::f64(
                shape,
                images
                    .iter()
                    .flat_map(|im| im.iter().enumerate())
                    .map(|(i, &x)| n.apply_f64(x as f64, i / hw))
                    .collect(),
            ),
        };
        let logits = icam_models::logits(self.net, &input)?;
        Ok((0..images.len())
            .map(|b| log_softmax(&logits.sample_f64(b))[class].exp())
            .collect())
    }
}

/// Call the scorer and check its answer: one finite probability per image.
pub(super) fn score(
    scorer: &mut dyn Scorer,
    images: &[Vec<f32>],
    class: usize,
) -> Result<Vec<f64>> {
    let p = scorer.probabilities(images, class)?;
    if p.len() != images.len() {
        return Err(IcamError::Numeric(format!(
            "the scorer returned {} probabilities for {} images",
            p.len(),
            images.len()
        )));
    }
    if p.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(
            "the scorer returned a NaN or infinite probability".into(),
        ));
    }
    Ok(p)
}

/// Score `images` in chunks of `batch`.
pub(super) fn score_batched(
    scorer: &mut dyn Scorer,
    images: &[Vec<f32>],
    class: usize,
    batch: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch.max(1)) {
        out.extend(score(scorer, chunk, class)?);
    }
    Ok(out)
}

/// The image must be `(3, h, w)` for the map's `h × w`, and the map finite and non-empty.
pub(super) fn check_inputs(image: &[f32], map: &Map) -> Result<()> {
    if map.data.is_empty() {
        return Err(IcamError::Config("the map is empty".into()));
    }
    if image.len() != 3 * map.h * map.w {
        return Err(IcamError::Config(format!(
            "image of {} values does not match the {}×{} map (expected 3·{}·{})",
            image.len(),
            map.h,
            map.w,
            map.h,
            map.w
        )));
    }
    if map.data.iter().any(|v| !v.is_finite()) {
        return Err(IcamError::Numeric(
            "the map has NaN or infinite values".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_scorer_matches_single_image_forward() {
        use icam_models::preprocess::load_rgb;
        use icam_models::{PixelImage, cpu, load};
        let shared = std::env::var_os("ICAM_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
            });
        let fixtures = shared.join("reference/fixtures");
        let weights = fixtures.join("resnet50_seed0.safetensors");
        if !weights.exists() {
            eprintln!("SKIPPED: {} not found (set ICAM_SHARED)", weights.display());
            return;
        }
        let model = load(&weights, Some("resnet50"), &cpu(), Precision::F32).unwrap();
        let px = PixelImage::from_rgb(&load_rgb(&fixtures.join("chelsea224.png")).unwrap());
        let norm = model.preprocess.normalization;
        let mut dark = px.clone();
        dark.data.iter_mut().for_each(|v| *v *= 0.5);
        let mut s = NetworkScorer {
            net: model.net.as_ref(),
            normalization: norm,
            height: px.height,
            width: px.width,
        };
        let got = s
            .probabilities(&[px.data.clone(), dark.data.clone()], 281)
            .unwrap();
        for (im, g) in [&px, &dark].into_iter().zip(got) {
            let l =
                icam_models::logits(model.net.as_ref(), &norm.to_model_input(im, Precision::F32))
                    .unwrap()
                    .to_f64();
            let want = crate::explain::probability(&l, 281);
            assert!(((g - want) / want).abs() < 1e-4, "{g} vs {want}");
        }
        assert!(
            s.probabilities(std::slice::from_ref(&px.data), 5000)
                .is_err()
        );
    }
}
