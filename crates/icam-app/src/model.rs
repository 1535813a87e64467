//! Models by options: which weights (a file, or a model of the store), which architecture,
//! preprocessing, precision and device; then loading images as that model expects them, class
//! names, and top-k predictions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{InvalidOption, NotFound, invalid};
use anyhow::{Context, Result, bail};
use icam::Subject;
use icam::similarity::log_softmax;
use icam_models::labels::Labels;
use icam_models::{Model, Network, Normalization, PixelImage, Precision, WeightFile, store};
use image::RgbImage;
use serde::Serialize;

/// The store model used when no weight file is given.
pub const DEFAULT_MODEL: &str = "efficientnet-lite0";

/// What to load: the options of `icam --weights/--arch/--model/--model-dir/--no-resize/
/// --normalize/--dtype/--device`, as plain values.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Weight file (safetensors or PyTorch `.pth`); `None`: the cached store model `model`.
    pub weights: Option<PathBuf>,
    /// Architecture; inferred from the weights (or the store's entry) when `None`.
    pub arch: Option<String>,
    /// A model of the store, used when `weights` is `None`.
    pub model: String,
    /// Model cache folder (default: `$XDG_CACHE_HOME/icam/models` or `~/.cache/icam/models`).
    pub model_dir: Option<PathBuf>,
    /// Use images as they are, without resize and centre crop.
    pub no_resize: bool,
    /// Input normalisation; `None`: the architecture's own.
    pub normalize: Option<Normalization>,
    /// Network precision (A20).
    pub precision: Precision,
    /// `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature.
    pub device: String,
    /// Class names, one per line in class order; `None`: ImageNet's for 1000 classes.
    pub labels: Option<PathBuf>,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            weights: None,
            arch: None,
            model: DEFAULT_MODEL.into(),
            model_dir: None,
            no_resize: false,
            normalize: None,
            precision: Precision::F32,
            device: "cpu".into(),
            labels: None,
        }
    }
}

impl ModelSpec {
    /// The weights of this spec, from the file or the store (an error names the fetch
    /// command when the store model is not cached).
    pub fn weights_path(&self) -> Result<PathBuf> {
        Ok(match &self.weights {
            Some(w) => w.clone(),
            None => {
                let dir = store::cache_dir(self.model_dir.as_deref());
                store::require(&self.model, &dir)?
            }
        })
    }

    /// Load the model: an ONNX graph (detected by content), or weights and the network they
    /// belong to.
    pub fn load(&self) -> Result<LoadedModel> {
        let weights = self.weights_path()?;
        let device = icam_models::device(&self.device)?;
        let model = if icam_models::onnx::is_onnx_file(&weights)? {
            if let Some(a) = &self.arch {
                bail!(
                    "{} is an ONNX model, which carries its own architecture; drop --arch {a}",
                    weights.display()
                );
            }
            icam_models::onnx::load(&weights, &device, self.precision)?
        } else {
            let file = WeightFile::load(&weights)?;
            let arch = match (&self.arch, &self.weights) {
                (Some(a), _) => Some(a.clone()),
                (None, None) => Some(store::known(&self.model)?.arch.to_string()),
                (None, Some(_)) => None,
            };
            let arch = icam_models::resolve_arch(&file, arch.as_deref())?;
            icam_models::build(&file, &arch, &device, self.precision)
                .with_context(|| format!("loading {}", weights.display()))?
        };
        let normalization = self.normalize.unwrap_or(model.preprocess.normalization);
        let labels = match &self.labels {
            Some(p) => {
                Some(Labels::from_file(p, model.net.num_classes()).map_err(anyhow::Error::msg)?)
            }
            None => Labels::for_classes(model.net.num_classes()),
        };
        Ok(LoadedModel {
            model: Arc::new(model),
            weights,
            labels,
            normalization,
            no_resize: self.no_resize,
        })
    }
}

/// A loaded model with what is shown about it. Cheap to clone (the network is shared).
#[derive(Clone)]
pub struct LoadedModel {
    pub model: Arc<Model>,
    pub weights: PathBuf,
    /// Class names: `--labels`, or ImageNet's for a 1000-class model.
    pub labels: Option<Labels>,
    pub normalization: Normalization,
    /// Images are used as they are, without resize and centre crop.
    pub no_resize: bool,
}

/// An image as a model takes it: the decoded original and the preprocessed pixels. Cheap to
/// clone (shared).
#[derive(Clone, Debug)]
pub struct InputImage {
    /// What the image is called in reports and messages (its path, as given).
    pub name: String,
    /// The decoded image at its own size.
    pub rgb: Arc<RgbImage>,
    /// Resized and cropped as the model expects (or as it is, with `no_resize`).
    pub pixels: Arc<PixelImage>,
}

/// One line of a top-k prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    pub class: usize,
    pub logit: f64,
    pub prob: f64,
    /// The class name, for a model with ImageNet's classes.
    pub label: Option<String>,
}

/// An image path that does not name a file: the error every front-end gives before loading
/// a model.
pub fn check_image(path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(NotFound(format!("image not found: {}", path.display())).into());
    }
    Ok(())
}

impl LoadedModel {
    pub fn net(&self) -> &dyn Network {
        self.model.net.as_ref()
    }

    /// The same network (shared, not copied) with other preprocessing: images used as they
    /// are or resized and cropped, and a normalisation (`None`: the architecture's own).
    pub fn with_preprocessing(&self, no_resize: bool, normalize: Option<Normalization>) -> Self {
        Self {
            no_resize,
            normalization: normalize.unwrap_or(self.model.preprocess.normalization),
            ..self.clone()
        }
    }

    /// Decode and preprocess an image file.
    pub fn open_image(&self, path: &Path) -> Result<InputImage> {
        let rgb = icam_models::preprocess::load_rgb(path)?;
        self.prepare_image(path.display().to_string(), rgb)
    }

    /// Decode and preprocess image bytes (an upload; PNG or JPEG); `name` stands for them in
    /// reports and messages. Images of more than `max_pixels` pixels are refused before
    /// decoding.
    pub fn decode_image(&self, name: &str, bytes: &[u8], max_pixels: u64) -> Result<InputImage> {
        let rgb = icam_models::preprocess::decode_rgb(bytes, Path::new(name), max_pixels)?;
        self.prepare_image(name.to_string(), rgb)
    }

    /// Preprocess a decoded image; `name` stands for it in reports and messages.
    pub fn prepare_image(&self, name: String, rgb: RgbImage) -> Result<InputImage> {
        let mut pre = self.model.preprocess;
        if self.no_resize {
            pre = pre.no_resize();
        }
        let px = icam_models::preprocess::prepare(&rgb, &pre).with_context(|| name.clone())?;
        if px.height < 32 || px.width < 32 {
            bail!(
                "{name}: the image is {}×{}; the model needs at least 32×32",
                px.width,
                px.height
            );
        }
        Ok(InputImage {
            name,
            rgb: Arc::new(rgb),
            pixels: Arc::new(px),
        })
    }

    /// The method layer's view of one image under this model.
    pub fn subject<'a>(&'a self, px: &'a PixelImage) -> Subject<'a> {
        Subject {
            net: self.net(),
            image: px,
            normalization: self.normalization,
        }
    }

    /// `name (index)`, or the index alone for a model without class names.
    pub fn describe(&self, class: usize) -> String {
        Labels::describe(self.labels.as_ref(), class)
    }

    /// The class name, for a model with class names (ImageNet's, or `--labels`).
    pub fn class_name(&self, class: usize) -> Option<&str> {
        self.labels.as_ref().and_then(|l| l.name(class))
    }

    /// The WordNet id, for a model with ImageNet's classes.
    pub fn wnid(&self, class: usize) -> Option<&str> {
        self.labels.as_ref().and_then(|l| l.wnid(class))
    }

    /// The class a user means (index, WordNet id or name), checked against the model.
    pub fn parse_class(&self, spec: &str) -> Result<usize> {
        let n = self.net().num_classes();
        let c = match &self.labels {
            Some(l) => l
                .parse(spec)
                .map_err(|m| anyhow::Error::new(InvalidOption(m)))?,
            None => spec.trim().parse::<usize>().with_context(|| {
                InvalidOption(format!(
                    "--class `{spec}`: this model has no class names; give an index"
                ))
            })?,
        };
        if c >= n {
            return Err(invalid!(
                "class {c} is out of range: the model has {n} classes (0..{})",
                n - 1
            ));
        }
        Ok(c)
    }

    /// The logits of one preprocessed image, in float64.
    pub fn logits(&self, px: &PixelImage) -> Result<Vec<f64>> {
        let net = self.net();
        let input = self.normalization.to_model_input(px, net.precision());
        Ok(icam_models::logits(net, &input)?.to_f64())
    }

    /// The logits, refused when any is NaN or infinite.
    pub fn finite_logits(&self, px: &PixelImage) -> Result<Vec<f64>> {
        let logits = self.logits(px)?;
        if logits.iter().any(|v| !v.is_finite()) {
            bail!("the network produced NaN or infinite logits");
        }
        Ok(logits)
    }

    /// The `top_k` most probable classes, most probable first (ties: lower index first).
    pub fn predict(&self, image: &InputImage, top_k: usize) -> Result<Vec<Prediction>> {
        if top_k == 0 {
            return Err(invalid!("--top-k must be at least 1"));
        }
        let logits = self.finite_logits(&image.pixels)?;
        Ok(top_classes(&logits, top_k)
            .into_iter()
            .map(|(class, logit, prob)| Prediction {
                class,
                logit,
                prob,
                label: self.class_name(class).map(str::to_string),
            })
            .collect())
    }
}

/// `(class, logit, probability)` of the `k` largest logits, largest first, ties by index.
pub fn top_classes(logits: &[f64], k: usize) -> Vec<(usize, f64, f64)> {
    let lsm = log_softmax(logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&x, &y| logits[y].total_cmp(&logits[x]).then(x.cmp(&y)));
    order
        .into_iter()
        .take(k)
        .map(|c| (c, logits[c], lsm[c].exp()))
        .collect()
}

/// A synthetic `h × w` gradient image (for benchmarks without an image file).
pub fn synthetic_image(h: usize, w: usize) -> PixelImage {
    let img = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        image::Rgb([
            (x as usize * 255 / w) as u8,
            (y as usize * 255 / h) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    PixelImage::from_rgb(&img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_classes_order_and_probabilities() {
        let t = top_classes(&[1.0, 3.0, 3.0, -1.0], 3);
        assert_eq!(
            t.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2, 0],
            "ties keep the lower index first"
        );
        let z = 1f64.exp() + 2.0 * 3f64.exp() + (-1f64).exp();
        assert!((t[0].2 - 3f64.exp() / z).abs() < 1e-15);
        assert!((t[2].2 - 1f64.exp() / z).abs() < 1e-15);
        assert_eq!(t[2].1, 1.0);
        assert_eq!(top_classes(&[0.0; 2], 5).len(), 2);
    }

    #[test]
    fn synthetic_image_is_a_gradient() {
        let px = synthetic_image(32, 64);
        assert_eq!((px.height, px.width, px.data.len()), (32, 64, 3 * 32 * 64));
        // Red rises along x, green along y.
        assert_eq!(px.data[0], 0.0);
        assert_eq!(px.data[63], (63 * 255 / 64) as f32 / 255.0);
        assert_eq!(px.data[32 * 64 + 31 * 64], (31 * 255 / 32) as f32 / 255.0);
    }
}
