//! Operators: each ONNX operator icam supports is compiled once, at load, into a [`Kernel`]
//! that owns its weights (uploaded to the model's device in the run precision) and knows both
//! how to infer its output shape (so shape errors are found before any work) and how to run.
//! One file per group: convolution and pooling, normalisation, activations, elementwise
//! arithmetic, shapes, matrix products, reductions.

mod activation;
pub use activation::is_activation;
mod conv;
mod elementwise;
mod linear;
mod norm;
mod reduce;
mod shape;

use std::sync::Arc;

use burn::tensor::Device;

pub use conv::{ConvWeights, fold_batch_norm};
pub use norm::{batch_norm_params, epsilon as bn_epsilon};

use super::graph::NodeDef;
use super::tensor::Const;
use super::value::{Layout, Meta, Value};
use crate::host::Precision;

/// A compiled operator.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// Output of the operator for inputs described by `ins` (one per node input, `None` for an
    /// omitted optional one).
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String>;
    /// Run on values already checked by [`Kernel::infer`].
    fn run(&self, ins: Vec<Option<Value>>) -> Value;
}

/// What compiling a node may use.
pub struct Ctx<'a> {
    pub node: &'a NodeDef,
    /// Per node input: its value when it is a constant known at load.
    pub consts: Vec<Option<Arc<Const>>>,
    pub device: &'a Device,
    pub precision: Precision,
    pub opset: i64,
    /// The graph input's batch size when the file fixes it.
    pub export_batch: Option<usize>,
}

impl Ctx<'_> {
    /// Input `i`, which must be a constant known at load.
    pub fn weight(&self, i: usize, what: &str) -> Result<Arc<Const>, String> {
        match self.consts.get(i) {
            Some(Some(c)) => Ok(c.clone()),
            _ if self.node.inputs.get(i).is_none_or(|n| n.is_empty()) => {
                Err(format!("its {what} (input {i}) is missing"))
            }
            _ => Err(format!(
                "its {what} (`{}`) is computed at run time; icam needs it to be a constant",
                self.node.inputs[i]
            )),
        }
    }

    pub fn opt_const(&self, i: usize) -> Option<Arc<Const>> {
        self.consts.get(i).cloned().flatten()
    }
}

/// The operators with a kernel (besides those evaluated on the host, [`super::fold::HOST_OPS`]).
pub const DEVICE_OPS: &[&str] = &[
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "BatchNormalization",
    "LayerNormalization",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Erf",
    "Gelu",
    "Elu",
    "Softmax",
    "Sqrt",
    "Neg",
    "Identity",
    "Dropout",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Gemm",
    "MatMul",
    "ReduceMean",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Gather",
];

/// Compile `ctx.node` into a kernel; an unsupported operator or attribute is an error naming
/// what is wrong.
pub fn compile(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let op = ctx.node.op.as_str();
    match op {
        "Conv" => conv::conv(ctx, None),
        "MaxPool" | "AveragePool" => conv::pool(ctx),
        "GlobalAveragePool" | "GlobalMaxPool" => reduce::global_pool(ctx),
        "ReduceMean" => reduce::reduce_mean(ctx),
        "BatchNormalization" => norm::batch_norm(ctx),
        "LayerNormalization" => norm::layer_norm(ctx),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" => elementwise::binary(ctx),
        "Gemm" => linear::gemm(ctx),
        "MatMul" => linear::matmul(ctx),
        "Reshape" | "Flatten" | "Transpose" | "Concat" | "Squeeze" | "Unsqueeze" | "Shape"
        | "Gather" => shape::compile(ctx),
        _ => activation::compile(ctx),
    }
}

/// Compile a Conv whose weights were already folded (BatchNormalization absorbed).
pub fn compile_conv(ctx: &Ctx, w: ConvWeights) -> Result<Box<dyn Kernel>, String> {
    conv::conv(ctx, Some(w))
}

/// The shape and layout of device input `i`.
pub(crate) fn dev(ins: &[Option<&Meta>], i: usize) -> Result<(Vec<usize>, Layout), String> {
    match ins.get(i).copied().flatten() {
        Some(Meta::Dev { shape, layout }) => Ok((shape.clone(), *layout)),
        Some(Meta::Host(c)) => Ok((c.shape.clone(), Layout::Other)),
        None => Err(format!("input {i} is missing")),
    }
}

/// Take the device tensor of input `i` (a host constant is uploaded; only for rare cases).
pub(crate) fn take_ft(
    ins: &mut [Option<Value>],
    i: usize,
    device: &Device,
    precision: Precision,
) -> super::value::Ft {
    match ins[i].take() {
        Some(Value::Dev(t)) => t,
        Some(Value::Host(c)) => super::value::Ft::upload(&c, device, precision),
        None => unreachable!("checked by infer"),
    }
}

/// The output meta of a device op.
pub(crate) fn out(shape: Vec<usize>, layout: Layout) -> Meta {
    let layout = if shape.len() == 4 {
        layout
    } else {
        Layout::Other
    };
    Meta::Dev { shape, layout }
}

/// Rank 1–5 only.
pub(crate) fn check_rank(s: &[usize]) -> Result<(), String> {
    if s.is_empty() || s.len() > 5 {
        return Err(format!(
            "tensors of rank {} are not supported (1 to 5)",
            s.len()
        ));
    }
    Ok(())
}
