//! `BatchNormalization` (eval mode, as a per-channel affine map; one that follows a Conv is
//! folded into it at load instead) and `LayerNormalization` over the last axis.

use burn::tensor::Tensor;
use burn::tensor::module::layer_norm as burn_layer_norm;

use super::conv::upload_vec;
use super::{Ctx, Kernel, dev, out};
use crate::onnx::value::{Ft, Meta, Value, map_ft};

/// The eval-mode parameters of a BatchNormalization node: `(γ, β, μ, σ², ε)`.
pub fn batch_norm_params(ctx: &Ctx) -> Result<[Vec<f64>; 4], String> {
    let n = ctx.node;
    if n.int("training_mode")?.unwrap_or(0) != 0 {
        return Err("training_mode 1 is not supported (export the model in eval mode)".into());
    }
    if n.int("spatial")?.unwrap_or(1) != 1 {
        return Err("spatial 0 is not supported".into());
    }
    if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("training outputs (running mean/var) are not supported".into());
    }
    let g = ctx.weight(1, "scale")?.f64s();
    let b = ctx.weight(2, "bias")?.f64s();
    let m = ctx.weight(3, "mean")?.f64s();
    let v = ctx.weight(4, "variance")?.f64s();
    if b.len() != g.len() || m.len() != g.len() || v.len() != g.len() || g.is_empty() {
        return Err("scale, bias, mean and variance differ in length".into());
    }
    Ok([g, b, m, v])
}

pub fn epsilon(ctx: &Ctx) -> Result<f64, String> {
    let e = ctx.node.float("epsilon")?.unwrap_or(1e-5);
    if !(e.is_finite() && e >= 0.0) {
        return Err(format!("epsilon {e} is not a non-negative number"));
    }
    Ok(e)
}

#[derive(Debug)]
struct BatchNorm {
    scale: Tensor<1>,
    shift: Tensor<1>,
    channels: usize,
}

pub fn batch_norm(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let [g, b, m, v] = batch_norm_params(ctx)?;
    let eps = epsilon(ctx)?;
    let c = g.len();
    let mut scale = vec![0.0; c];
    let mut shift = vec![0.0; c];
    for k in 0..c {
        if v[k] + eps <= 0.0 {
            return Err(format!("negative variance at channel {k}"));
        }
        scale[k] = g[k] / (v[k] + eps).sqrt();
        shift[k] = b[k] - m[k] * scale[k];
    }
    Ok(Box::new(BatchNorm {
        scale: upload_vec(vec![c], scale, ctx.device, ctx.precision)?,
        shift: upload_vec(vec![c], shift, ctx.device, ctx.precision)?,
        channels: c,
    }))
}

impl Kernel for BatchNorm {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let (s, l) = dev(ins, 0)?;
        if s.len() < 2 || s[1] != self.channels {
            return Err(format!(
                "input of shape {s:?} for {} channels",
                self.channels
            ));
        }
        Ok(out(s, l))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let Some(Value::Dev(x)) = ins[0].take() else {
            unreachable!("checked by infer")
        };
        let mut s = vec![1; x.rank()];
        s[1] = self.channels;
        let sc = Ft::R1(self.scale.clone()).reshape(&s);
        let sh = Ft::R1(self.shift.clone()).reshape(&s);
        Value::Dev(match (x, sc, sh) {
            (Ft::R2(x), Ft::R2(a), Ft::R2(b)) => Ft::R2(x * a + b),
            (Ft::R3(x), Ft::R3(a), Ft::R3(b)) => Ft::R3(x * a + b),
            (Ft::R4(x), Ft::R4(a), Ft::R4(b)) => Ft::R4(x * a + b),
            (Ft::R5(x), Ft::R5(a), Ft::R5(b)) => Ft::R5(x * a + b),
            _ => unreachable!("same rank"),
        })
    }
}

#[derive(Debug)]
struct LayerNorm {
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    eps: f64,
    width: usize,
}

pub fn layer_norm(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("the Mean and InvStdDev outputs are not supported".into());
    }
    let axis = n.int("axis")?.unwrap_or(-1);
    let g = ctx.weight(1, "scale")?;
    if g.shape.len() != 1 || (axis != -1) {
        return Err(format!(
            "normalising over axes from {axis} with a scale of shape {:?}: only the last axis is supported",
            g.shape
        ));
    }
    let width = g.len();
    let beta = match ctx.node.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(_) => {
            let b = ctx.weight(2, "bias")?;
            if b.len() != width {
                return Err("bias and scale differ in length".into());
            }
            Some(upload_vec(
                vec![width],
                b.f64s(),
                ctx.device,
                ctx.precision,
            )?)
        }
        None => None,
    };
    Ok(Box::new(LayerNorm {
        gamma: upload_vec(vec![width], g.f64s(), ctx.device, ctx.precision)?,
        beta,
        eps: epsilon(ctx)?,
        width,
    }))
}

impl Kernel for LayerNorm {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let (s, l) = dev(ins, 0)?;
        if s.last() != Some(&self.width) {
            return Err(format!(
                "input of shape {s:?} for a width of {}",
                self.width
            ));
        }
        Ok(out(s, l))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let Some(Value::Dev(x)) = ins[0].take() else {
            unreachable!("checked by infer")
        };
        Value::Dev(
            map_ft!(x, t => burn_layer_norm(t, self.gamma.clone(), self.beta.clone(), self.eps)),
        )
    }
}
