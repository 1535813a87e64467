//! The model options of every command (`--weights --arch --model --model-dir --no-resize
//! --normalize --dtype --device`), as the library's [`ModelSpec`].

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use icam_models::{Normalization, Precision};

use crate::model::{LoadedModel, ModelSpec};

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

impl From<NormalizeArg> for Normalization {
    fn from(n: NormalizeArg) -> Self {
        match n {
            NormalizeArg::Imagenet => Normalization::ImageNet,
            NormalizeArg::Lite => Normalization::Lite,
            NormalizeArg::None => Normalization::None,
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model file: an ONNX export of any CNN classifier, or weights (safetensors or PyTorch
    /// .pth with torchvision tensor names); detected by content. Without it, the cached
    /// `--model` is used.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Architecture (resnet18/34/50/101/152, efficientnet_lite0/1/2); inferred from the weights
    /// when omitted.
    #[arg(long)]
    pub arch: Option<String>,
    /// A model of the store (see `icam model list`), used when --weights is not given.
    #[arg(long, default_value = crate::model::DEFAULT_MODEL)]
    pub model: String,
    /// Model cache folder (default: $XDG_CACHE_HOME/icam/models or ~/.cache/icam/models).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    /// Class names, one per line in class-index order (default: ImageNet's for 1000-class
    /// models, indices otherwise).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Network precision.
    #[arg(long, value_enum, default_value = "float32")]
    pub dtype: Dtype,
    /// Where the network runs: cpu, or cuda / cuda:N in a build with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// How images are prepared for the model: options of the model that may also change per
/// image (Python's `Model.explain(..., no_resize=True)`).
#[derive(Args, Clone, Debug)]
pub struct PreprocessArgs {
    /// Use the image as it is (RGB/255, then normalisation), without resize and centre crop.
    #[arg(long)]
    pub no_resize: bool,
    /// Input normalisation (default: the architecture's own).
    #[arg(long, value_enum)]
    pub normalize: Option<NormalizeArg>,
}

impl ModelArgs {
    pub fn precision(&self) -> Precision {
        match self.dtype {
            Dtype::Float32 => Precision::F32,
            Dtype::Float64 => Precision::F64,
        }
    }

    /// The library's description of the model these options name.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            weights: self.weights.clone(),
            arch: self.arch.clone(),
            model: self.model.clone(),
            model_dir: self.model_dir.clone(),
            no_resize: self.preprocess.no_resize,
            normalize: self.preprocess.normalize.map(Into::into),
            precision: self.precision(),
            device: self.device.clone(),
            labels: self.labels.clone(),
        }
    }

    pub fn load(&self) -> Result<LoadedModel> {
        self.spec().load()
    }
}
