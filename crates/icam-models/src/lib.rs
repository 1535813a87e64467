//! # icam-models — the model zoo of icam
//!
//! Architectures (torchvision's ResNets, EfficientNet-Lite0/1/2), weight loading (safetensors,
//! PyTorch `.pth`), a store of known pretrained models, preprocessing presets and gradient
//! taps, on burn. It exposes one thing to the rest of icam:
//! *run this batch, tap these layers, differentiate this per-sample scalar* ([`trace`]).
//! It knows nothing about class activation maps.
//!
//! Models hold a burn [`Device`](burn::tensor::Device); the same code runs on the Flex CPU
//! backend and, with the `cuda` feature, on `burn-cuda`.

pub mod activation;
pub mod const_conv;
pub mod efficientnet;
pub mod error;
pub mod host;
pub mod labels;
pub mod nn;
pub mod onnx;
pub mod preprocess;
pub mod resnet;
pub mod store;
pub mod tap;
pub mod weights;

use std::path::Path;

pub use burn::tensor::{Device, Tensor};
pub use efficientnet::{EfficientNetLite, LiteVariant};
pub use error::{ModelError, Result};
pub use host::{HostData, HostTensor, Precision};
pub use preprocess::{Geometry, Normalization, PixelImage, Preprocess};
pub use resnet::{ResNet, ResNetDepth};
pub use tap::{
    BiasGrad, CandidateRule, LayerInfo, Network, Objective, Tapper, Trace, TraceExtras,
    activations, describe_layers, logits, logits_from, logits_replacing, trace, trace_seeded,
    trace_with,
};
pub use weights::{WeightFile, WeightFormat};

/// Architectures the zoo can build.
pub const ARCHS: [&str; 8] = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
];

/// A loaded model: the network and how its inputs are prepared.
pub struct Model {
    pub net: Box<dyn Network>,
    pub preprocess: Preprocess,
}

/// The architecture of a weight file: `arch` if given, else the file's `arch` metadata, else
/// inferred from its tensor names (a `_conv_stem.weight` tensor means EfficientNet-Lite, the
/// variant from its block layout, A26).
pub fn resolve_arch(file: &WeightFile, arch: Option<&str>) -> Result<String> {
    let inferred = ResNetDepth::infer(file)
        .map(|d| d.name().to_string())
        .or_else(|| LiteVariant::infer(file).map(|v| v.name().to_string()));
    // An EfficientNet-Lite file whose layout matches no variant: take Lite0 (as the reference
    // does), so that loading names the first tensor that does not fit.
    let fallback = file
        .tensors
        .contains_key("_conv_stem.weight")
        .then(|| LiteVariant::Lite0.name().to_string());
    let chosen = arch
        .map(str::to_string)
        .or_else(|| file.metadata.get("arch").cloned())
        .or(inferred.clone())
        .or(fallback)
        .ok_or_else(|| {
            ModelError::Arch(format!(
                "cannot tell the architecture of {}; pass --arch (one of {})",
                file.path.display(),
                ARCHS.join(", ")
            ))
        })?;
    if !ARCHS.contains(&chosen.as_str()) {
        return Err(ModelError::Arch(format!(
            "unknown architecture `{chosen}`; known: {}",
            ARCHS.join(", ")
        )));
    }
    if let Some(inf) = inferred
        && inf != chosen
    {
        return Err(ModelError::Arch(format!(
            "the weights in {} are {inf}, not {chosen}; pass --arch {inf}",
            file.path.display()
        )));
    }
    Ok(chosen)
}

/// Build the network `arch` from `file` on `device`.
pub fn build(
    file: &WeightFile,
    arch: &str,
    device: &Device,
    precision: Precision,
) -> Result<Model> {
    if let Some(v) = LiteVariant::from_name(arch) {
        return Ok(Model {
            net: Box::new(EfficientNetLite::load(v, file, device, precision)?),
            preprocess: v.preprocess(),
        });
    }
    let depth = ResNetDepth::from_name(arch)
        .ok_or_else(|| ModelError::Arch(format!("unknown architecture `{arch}`")))?;
    Ok(Model {
        net: Box::new(ResNet::load(depth, file, device, precision)?),
        preprocess: Preprocess::imagenet(),
    })
}

/// Load a model file and build its network: an ONNX graph (detected by content), else a
/// weight file whose architecture is as in [`resolve_arch`].
pub fn load(
    path: &Path,
    arch: Option<&str>,
    device: &Device,
    precision: Precision,
) -> Result<Model> {
    if onnx::is_onnx_file(path)? {
        if let Some(a) = arch {
            return Err(ModelError::Arch(format!(
                "{} is an ONNX model, which carries its own architecture; drop --arch {a}",
                path.display()
            )));
        }
        return onnx::load(path, device, precision);
    }
    let file = WeightFile::load(path)?;
    let arch = resolve_arch(&file, arch)?;
    build(&file, &arch, device, precision)
}

/// The CPU device (burn's Flex backend).
pub fn cpu() -> Device {
    Device::flex()
}

/// A device by name: `cpu` (Flex), or `cuda` / `cuda:N` when built with the `cuda` feature.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(cpu()),
        #[cfg(feature = "cuda")]
        n if n == "cuda" || n.starts_with("cuda:") => {
            let index: usize = n
                .strip_prefix("cuda:")
                .map(|i| {
                    i.parse()
                        .map_err(|_| ModelError::Arch(format!("bad device `{n}`")))
                })
                .transpose()?
                .unwrap_or(0);
            Ok(Device::cuda(index))
        }
        other => Err(ModelError::Arch(format!(
            "unknown device `{other}`; this build knows: cpu{}",
            if cfg!(feature = "cuda") {
                ", cuda, cuda:N"
            } else {
                " (rebuild with --features cuda for cuda)"
            }
        ))),
    }
}
