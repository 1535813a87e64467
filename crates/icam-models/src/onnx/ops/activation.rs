//! Pointwise activations and unary functions: Relu, LeakyRelu, Clip (bounds as attributes or
//! constant inputs), Sigmoid, HardSigmoid, HardSwish, Tanh, Erf, Gelu, Elu, Sqrt, Neg, Softmax,
//! and the identities (Identity, Dropout in inference).

use burn::tensor::activation as act;

use super::{Ctx, Kernel, dev, out};
use crate::onnx::value::{Ft, Meta, Value, map_ft};

#[derive(Clone, Copy, Debug)]
enum Unary {
    Identity,
    Relu,
    LeakyRelu(f64),
    Clip(Option<f64>, Option<f64>),
    Sigmoid,
    HardSigmoid(f64, f64),
    HardSwish,
    Tanh,
    Erf,
    Gelu { tanh: bool },
    Elu(f64),
    Sqrt,
    Neg,
    Softmax(i64),
}

#[derive(Debug)]
struct UnaryKernel(Unary);

/// Whether `op` is a pointwise activation (used by the layer rules).
pub fn is_activation(op: &str) -> bool {
    matches!(
        op,
        "Relu" | "LeakyRelu" | "Clip" | "HardSwish" | "Elu" | "Gelu" | "Tanh" | "Sigmoid"
    )
}

pub fn compile(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    let f = |name: &str, d: f64| -> Result<f64, String> { Ok(n.float(name)?.unwrap_or(d)) };
    let u = match n.op.as_str() {
        "Identity" => Unary::Identity,
        "Dropout" => {
            if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                return Err("the mask output of Dropout is not supported".into());
            }
            if let Some(t) = ctx.opt_const(2)
                && t.scalar().unwrap_or(0.0) != 0.0
            {
                return Err("Dropout in training mode is not supported".into());
            }
            Unary::Identity
        }
        "Relu" => Unary::Relu,
        "LeakyRelu" => Unary::LeakyRelu(f("alpha", 0.01)?),
        "Clip" => {
            let bound = |i: usize, attr: &str| -> Result<Option<f64>, String> {
                if ctx.opset < 11 {
                    return n.float(attr);
                }
                match n.inputs.get(i).filter(|s| !s.is_empty()) {
                    None => Ok(None),
                    Some(_) => {
                        let c = ctx.weight(i, attr)?;
                        c.scalar()
                            .map(Some)
                            .ok_or_else(|| format!("Clip {attr} is not a scalar"))
                    }
                }
            };
            Unary::Clip(bound(1, "min")?, bound(2, "max")?)
        }
        "Sigmoid" => Unary::Sigmoid,
        "HardSigmoid" => Unary::HardSigmoid(f("alpha", 0.2)?, f("beta", 0.5)?),
        "HardSwish" => Unary::HardSwish,
        "Tanh" => Unary::Tanh,
        "Erf" => Unary::Erf,
        "Gelu" => Unary::Gelu {
            tanh: n.string("approximate")?.as_deref() == Some("tanh"),
        },
        "Elu" => Unary::Elu(f("alpha", 1.0)?),
        "Sqrt" => Unary::Sqrt,
        "Neg" => Unary::Neg,
        "Softmax" => {
            let default = if ctx.opset >= 13 { -1 } else { 1 };
            Unary::Softmax(n.int("axis")?.unwrap_or(default))
        }
        other => {
            return Err(format!("operator {other} is not supported"));
        }
    };
    Ok(Box::new(UnaryKernel(u)))
}

impl Kernel for UnaryKernel {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let (s, l) = dev(ins, 0)?;
        if let Unary::Softmax(a) = self.0 {
            let r = s.len() as i64;
            if a != -1 && a != r - 1 {
                return Err(format!(
                    "Softmax over axis {a} of rank {r}: only the last axis is supported"
                ));
            }
        }
        Ok(out(s, l))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let Some(Value::Dev(x)) = ins[0].take() else {
            unreachable!("checked by infer")
        };
        Value::Dev(apply(self.0, x))
    }
}

fn apply(u: Unary, x: Ft) -> Ft {
    match u {
        Unary::Identity => x,
        Unary::Relu => map_ft!(x, t => act::relu(t)),
        Unary::LeakyRelu(a) => map_ft!(x, t => act::leaky_relu(t, a)),
        Unary::Clip(Some(lo), Some(hi)) => map_ft!(x, t => t.clamp(lo, hi)),
        Unary::Clip(Some(lo), None) => map_ft!(x, t => t.clamp_min(lo)),
        Unary::Clip(None, Some(hi)) => map_ft!(x, t => t.clamp_max(hi)),
        Unary::Clip(None, None) => x,
        Unary::Sigmoid => map_ft!(x, t => act::sigmoid(t)),
        // burn's hard_sigmoid runs in float32 under autodiff; composed here to keep float64.
        Unary::HardSigmoid(a, b) => map_ft!(x, t => t.mul_scalar(a).add_scalar(b).clamp(0.0, 1.0)),
        // x·max(0, min(1, x/6 + 1/2)), as ONNX defines it.
        Unary::HardSwish => {
            map_ft!(x, t => t.clone() * t.mul_scalar(1.0 / 6.0).add_scalar(0.5).clamp(0.0, 1.0))
        }
        Unary::Tanh => map_ft!(x, t => t.tanh()),
        Unary::Erf => map_ft!(x, t => t.erf()),
        Unary::Gelu { tanh: false } => map_ft!(x, t => act::gelu(t)),
        Unary::Gelu { tanh: true } => map_ft!(x, t => act::gelu_approximate(t)),
        Unary::Elu(a) => map_ft!(x, t => act::elu(t, a)),
        Unary::Sqrt => map_ft!(x, t => t.sqrt()),
        Unary::Neg => map_ft!(x, t => t.neg()),
        Unary::Softmax(_) => {
            let last = x.rank() - 1;
            map_ft!(x, t => act::softmax(t, last))
        }
    }
}
