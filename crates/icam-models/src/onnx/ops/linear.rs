//! Matrix products with constant weights: `Gemm` (`alpha·op(A)·op(B) + beta·C`, `transA`,
//! `transB`) and `MatMul` of an activation `[..., K]` by a `[K, N]` constant (ConvNeXt's
//! channels-last linear layers).

use burn::tensor::Tensor;

use super::conv::upload_vec;
use super::{Ctx, Kernel, dev, out};
use crate::onnx::fold::transpose;
use crate::onnx::value::{Ft, Layout, Meta, Value};

#[derive(Debug)]
struct Linear {
    /// `[K, N]`, alpha folded in.
    weight: Tensor<2>,
    /// `[1, N]` or `[M, N]`, beta folded in.
    bias: Option<Tensor<2>>,
    bias_rows: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    /// Gemm takes exactly rank 2; MatMul any rank ≥ 2.
    gemm: bool,
}

pub fn gemm(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    let alpha = n.float("alpha")?.unwrap_or(1.0);
    let beta = n.float("beta")?.unwrap_or(1.0);
    let trans_a = n.int("transA")?.unwrap_or(0) != 0;
    let trans_b = n.int("transB")?.unwrap_or(0) != 0;
    let b = ctx.weight(1, "B")?;
    if b.shape.len() != 2 {
        return Err(format!("B of shape {:?} is not a matrix", b.shape));
    }
    let b = if trans_b {
        transpose(&b, &[1, 0])
    } else {
        (*b).clone()
    };
    let (k, nn) = (b.shape[0], b.shape[1]);
    let w: Vec<f64> = b.f64s().into_iter().map(|x| x * alpha).collect();
    let (bias, bias_rows) = match n.inputs.get(2).filter(|s| !s.is_empty()) {
        None => (None, 1),
        Some(_) => {
            let c = ctx.weight(2, "C")?;
            let v: Vec<f64> = c.f64s().into_iter().map(|x| x * beta).collect();
            let (rows, v) = match c.shape.as_slice() {
                [] | [1] => (1, vec![v[0]; nn]),
                [x] if *x == nn => (1, v),
                [1, x] if *x == nn => (1, v),
                [m, x] if *x == nn => (*m, v),
                [m, 1] => (
                    *m,
                    v.iter().flat_map(|&x| std::iter::repeat_n(x, nn)).collect(),
                ),
                s => return Err(format!("C of shape {s:?} does not broadcast to [M, {nn}]")),
            };
            (
                Some(upload_vec(vec![rows, nn], v, ctx.device, ctx.precision)?),
                rows,
            )
        }
    };
    Ok(Box::new(Linear {
        weight: upload_vec(vec![k, nn], w, ctx.device, ctx.precision)?,
        bias,
        bias_rows,
        k,
        n: nn,
        trans_a,
        gemm: true,
    }))
}

pub fn matmul(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let b = ctx
        .weight(1, "right operand")
        .map_err(|e| format!("{e} (products of two computed tensors are not supported)"))?;
    if b.shape.len() != 2 {
        return Err(format!(
            "right operand of shape {:?} is not a matrix",
            b.shape
        ));
    }
    let (k, nn) = (b.shape[0], b.shape[1]);
    Ok(Box::new(Linear {
        weight: upload_vec(vec![k, nn], b.f64s(), ctx.device, ctx.precision)?,
        bias: None,
        bias_rows: 1,
        k,
        n: nn,
        trans_a: false,
        gemm: false,
    }))
}

impl Kernel for Linear {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let (s, l) = dev(ins, 0)?;
        if self.gemm && s.len() != 2 {
            return Err(format!("A of shape {s:?} is not a matrix"));
        }
        if s.len() < 2 {
            return Err(format!(
                "left operand of shape {s:?}: rank 2 or more expected"
            ));
        }
        let (m, k) = if self.trans_a {
            (s[1], s[0])
        } else {
            (s[..s.len() - 1].iter().product(), s[s.len() - 1])
        };
        if k != self.k {
            return Err(format!(
                "shapes {s:?} and [{}, {}] do not multiply",
                self.k, self.n
            ));
        }
        if self.bias.is_some() && self.bias_rows != 1 && self.bias_rows != m {
            return Err(format!("C has {} rows for {m}", self.bias_rows));
        }
        let mut o = if self.trans_a {
            vec![m]
        } else {
            s[..s.len() - 1].to_vec()
        };
        o.push(self.n);
        Ok(out(
            o,
            if l == Layout::Nhwc {
                Layout::Nhwc
            } else {
                Layout::Other
            },
        ))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let Some(Value::Dev(x)) = ins[0].take() else {
            unreachable!("checked by infer")
        };
        let s = x.dims();
        let lead = s[..s.len() - 1].to_vec();
        let a: Tensor<2> = match x.reshape(&[s[..s.len() - 1].iter().product(), s[s.len() - 1]]) {
            Ft::R2(t) if self.trans_a => t.transpose(),
            Ft::R2(t) => t,
            _ => unreachable!("rank 2"),
        };
        let mut y = a.matmul(self.weight.clone());
        if let Some(b) = &self.bias {
            y = y + b.clone();
        }
        if self.trans_a || lead.len() == 1 {
            return Value::Dev(Ft::R2(y));
        }
        let mut o = lead;
        o.push(self.n);
        Value::Dev(Ft::R2(y).reshape(&o))
    }
}
