//! ONNX models: any CNN classifier exported to ONNX, imported at run time and evaluated with
//! burn ops on the model's device, with gradient taps at every 4-D activation.
//!
//! - [`proto`]: the `onnx.proto` messages (prost).
//! - [`tensor`]: initializers and constants, sizes checked against the file.
//! - [`graph`]: import — checked graph with the exporter's node/tensor names and module scopes.
//! - [`fold`]: host evaluation (constant folding, shape arithmetic).
//! - [`ops`]: one kernel per operator group.
//! - [`program`]: compilation, shape inference and the interpreter.
//! - [`layers`]: tappable layers, names and aliases, default layers.
//! - [`network`]: the [`crate::Network`] implementation.
//!
//! Weights are constants on the plain device (a `Conv` followed by `BatchNormalization` is one
//! convolution); only the input and the tap leaves are autodiff tensors, as for the native
//! models.

pub mod fold;
pub mod graph;
pub mod layers;
pub mod network;
pub mod ops;
pub mod program;
pub mod proto;
pub mod tensor;
pub mod value;

use std::path::Path;

use burn::tensor::Device;

pub use network::OnnxNetwork;

use crate::error::{ModelError, Result};
use crate::host::Precision;
use crate::preprocess::{Normalization, Preprocess, ResizeFilter};
use crate::{Model, weights::read_up_to};

/// Whether the first bytes of a file look like an ONNX `ModelProto`: field 1 (`ir_version`,
/// a small varint) first, as every exporter writes it, then another `ModelProto` field.
pub fn looks_like_onnx(head: &[u8]) -> bool {
    matches!(head, [0x08, v, next, ..] if (1..=30).contains(v)
        && matches!(next, 0x12 | 0x1a | 0x22 | 0x2a | 0x32 | 0x3a | 0x42 | 0x52 | 0x72))
}

/// Whether `path` holds an ONNX model (by content).
pub fn is_onnx_file(path: &Path) -> Result<bool> {
    let mut f = std::fs::File::open(path).map_err(|err| ModelError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut f, &mut head).map_err(|err| ModelError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    Ok(looks_like_onnx(&head[..n]))
}

/// Load an ONNX classifier from `path`.
pub fn load(path: &Path, device: &Device, precision: Precision) -> Result<Model> {
    let bad = |msg: String| ModelError::BadWeights {
        path: path.to_path_buf(),
        msg,
    };
    let g = graph::load(path).map_err(bad)?;
    let dims = g.input.dims.clone();
    if let Some(c) = dims[1]
        && c != 3
    {
        return Err(bad(format!(
            "the model takes {c}-channel inputs; icam feeds RGB images (3 channels)"
        )));
    }
    let (h, w) = (dims[2].unwrap_or(224), dims[3].unwrap_or(224));
    let probe = vec![dims[0].unwrap_or(1), 3, h, w];
    let device = device.clone().without_autodiff();
    let program = program::Program::compile(g, probe, &device, precision).map_err(bad)?;
    let arch = format!(
        "onnx:{}",
        path.file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
    );
    let net = OnnxNetwork::new(arch, program, device, precision)?;
    Ok(Model {
        net: Box::new(net),
        preprocess: preprocess_for(dims[2], dims[3]),
    })
}

/// ImageNet-style evaluation preprocessing for an input of `h`×`w` (resize the shorter side to
/// 256/224 of the crop, centre-crop); 224×224 when the graph leaves the size open.
pub fn preprocess_for(h: Option<usize>, w: Option<usize>) -> Preprocess {
    let (h, w) = (h.unwrap_or(224) as u32, w.unwrap_or(224) as u32);
    Preprocess {
        resize_shorter: Some((h.min(w) as f64 * 256.0 / 224.0).round() as u32),
        crop: Some((h, w)),
        filter: ResizeFilter::Bilinear,
        normalization: Normalization::ImageNet,
    }
}
