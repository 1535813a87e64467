//! The model flags shared by every command, and loading the model they name.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use icam_models::labels::Labels;
use icam_models::{Model, Normalization, PixelImage, Precision, WeightFile, store};

/// Network precision (A20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    Float32,
    Float64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NormalizeArg {
    Imagenet,
    Lite,
    None,
}

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Weight file (safetensors or PyTorch .pth with torchvision tensor names). Without it,
    /// the cached `--model` is used.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Architecture (resnet18/34/50/101/152, efficientnet_lite0/1/2); inferred from the weights
    /// when omitted.
    #[arg(long)]
    pub arch: Option<String>,
    /// A model of the store (see `icam model list`), used when --weights is not given.
    #[arg(long, default_value = "efficientnet-lite0")]
    pub model: String,
    /// Model cache folder (default: $XDG_CACHE_HOME/icam/models or ~/.cache/icam/models).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Use the image as it is (RGB/255, then normalisation), without resize and centre crop.
    #[arg(long)]
    pub no_resize: bool,
    /// Input normalisation (default: the architecture's own).
    #[arg(long, value_enum)]
    pub normalize: Option<NormalizeArg>,
    /// Network precision.
    #[arg(long, value_enum, default_value = "float32")]
    pub dtype: Dtype,
    /// Where the network runs: cpu, or cuda / cuda:N in a build with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// A loaded model with what the CLI shows about it.
pub struct Loaded {
    pub model: Model,
    pub weights: PathBuf,
    pub labels: Option<Labels>,
    pub normalization: Normalization,
}

impl ModelArgs {
    pub fn precision(&self) -> Precision {
        match self.dtype {
            Dtype::Float32 => Precision::F32,
            Dtype::Float64 => Precision::F64,
        }
    }

    pub fn load(&self) -> Result<Loaded> {
        let weights = match &self.weights {
            Some(w) => w.clone(),
            None => {
                let dir = store::cache_dir(self.model_dir.as_deref());
                store::require(&self.model, &dir)?
            }
        };
        let file = WeightFile::load(&weights)?;
        let arch = match (&self.arch, &self.weights) {
            (Some(a), _) => Some(a.clone()),
            (None, None) => Some(store::known(&self.model)?.arch.to_string()),
            (None, Some(_)) => None,
        };
        let arch = icam_models::resolve_arch(&file, arch.as_deref())?;
        let device = icam_models::device(&self.device)?;
        let model = icam_models::build(&file, &arch, &device, self.precision())
            .with_context(|| format!("loading {}", weights.display()))?;
        let normalization = match self.normalize {
            Some(NormalizeArg::Imagenet) => Normalization::ImageNet,
            Some(NormalizeArg::Lite) => Normalization::Lite,
            Some(NormalizeArg::None) => Normalization::None,
            None => model.preprocess.normalization,
        };
        let labels = Labels::for_classes(model.net.num_classes());
        Ok(Loaded {
            model,
            weights,
            labels,
            normalization,
        })
    }
}

impl Loaded {
    /// Decode and preprocess an image as this model expects.
    pub fn image(
        &self,
        path: &std::path::Path,
        no_resize: bool,
    ) -> Result<(image::RgbImage, PixelImage)> {
        let rgb = icam_models::preprocess::load_rgb(path)?;
        let mut pre = self.model.preprocess;
        if no_resize {
            pre = pre.no_resize();
        }
        let px = icam_models::preprocess::prepare(&rgb, &pre)
            .with_context(|| path.display().to_string())?;
        if px.height < 32 || px.width < 32 {
            bail!(
                "{}: the image is {}×{}; the model needs at least 32×32",
                path.display(),
                px.width,
                px.height
            );
        }
        Ok((rgb, px))
    }

    pub fn describe(&self, class: usize) -> String {
        Labels::describe(self.labels.as_ref(), class)
    }

    /// The class a user means (index, WordNet id or name), checked against the model.
    pub fn parse_class(&self, spec: &str) -> Result<usize> {
        let n = self.model.net.num_classes();
        let c = match &self.labels {
            Some(l) => l.parse(spec).map_err(anyhow::Error::msg)?,
            None => spec.trim().parse::<usize>().with_context(|| {
                format!("--class `{spec}`: this model has no class names; give an index")
            })?,
        };
        if c >= n {
            bail!(
                "class {c} is out of range: the model has {n} classes (0..{})",
                n - 1
            );
        }
        Ok(c)
    }
}
