//! `Conv` (2-D, grouped/depthwise, dilated, explicit asymmetric or `auto_pad` padding, with a
//! following `BatchNormalization` folded in at load) and `MaxPool` / `AveragePool` (`ceil_mode`,
//! `count_include_pad`).

use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};

use super::{Ctx, Kernel, dev, out};
use crate::const_conv::{const_conv2d, gradient_kernel, routes};
use crate::host::{HostTensor, Precision};
use crate::onnx::graph::NodeDef;
use crate::onnx::value::{Ft, Layout, Meta, Value};

/// Convolution weights on the host (float64), before upload; BatchNorm folds into these.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    /// `[out, in/groups, kh, kw]`.
    pub shape: [usize; 4],
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

impl ConvWeights {
    /// Read the weight and optional bias inputs of a Conv node.
    pub fn of(ctx: &Ctx) -> Result<Self, String> {
        let w = ctx.weight(1, "weight")?;
        let shape: [usize; 4] = w.shape.as_slice().try_into().map_err(|_| {
            format!(
                "weight of shape {:?}: only 2-D convolutions (4-D weights) are supported",
                w.shape
            )
        })?;
        let b = match ctx.node.inputs.get(2).filter(|n| !n.is_empty()) {
            Some(_) => {
                let b = ctx.weight(2, "bias")?;
                if b.shape != [shape[0]] {
                    return Err(format!(
                        "bias of shape {:?} for {} output channels",
                        b.shape, shape[0]
                    ));
                }
                b.f64s()
            }
            None => vec![0.0; shape[0]],
        };
        Ok(Self {
            shape,
            w: w.f64s(),
            b,
        })
    }
}

/// Fold eval-mode BatchNorm `γ(x−μ)/√(σ²+ε)+β` into the convolution before it (float64):
/// `w' = w·γ/√(σ²+ε)`, `b' = (b−μ)·γ/√(σ²+ε) + β`.
pub fn fold_batch_norm(
    cw: &mut ConvWeights,
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> Result<(), String> {
    let o = cw.shape[0];
    if [gamma.len(), beta.len(), mean.len(), var.len()] != [o; 4] {
        return Err(format!(
            "BatchNormalization parameters do not have {o} channels"
        ));
    }
    let per = cw.w.len() / o.max(1);
    for k in 0..o {
        if var[k] + eps <= 0.0 {
            return Err(format!("negative variance at channel {k}"));
        }
        let s = gamma[k] / (var[k] + eps).sqrt();
        for v in &mut cw.w[k * per..(k + 1) * per] {
            *v *= s;
        }
        cw.b[k] = (cw.b[k] - mean[k]) * s + beta[k];
    }
    Ok(())
}

/// Padding of a convolution or pooling window.
#[derive(Clone, Copy, Debug)]
enum Pad {
    /// `[(top, bottom), (left, right)]`.
    Explicit([(usize, usize); 2]),
    /// `SAME_UPPER` (extra pixel at the end) or `SAME_LOWER`, from the input size.
    Same { upper: bool },
}

#[derive(Clone, Copy, Debug)]
struct Window {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: Pad,
    ceil: bool,
}

fn pair(v: Option<Vec<i64>>, default: usize, what: &str) -> Result<[usize; 2], String> {
    match v {
        None => Ok([default; 2]),
        Some(v) => match v.as_slice() {
            [a, b] if *a > 0 && *b > 0 && *a < 1 << 20 && *b < 1 << 20 => {
                Ok([*a as usize, *b as usize])
            }
            _ => Err(format!(
                "`{what}` {v:?}: expected two positive values (2-D only)"
            )),
        },
    }
}

fn window(n: &NodeDef, kernel: [usize; 2]) -> Result<Window, String> {
    let stride = pair(n.ints("strides")?, 1, "strides")?;
    let dilation = pair(n.ints("dilations")?, 1, "dilations")?;
    let auto = n.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let pad = match auto.as_str() {
        "NOTSET" => match n.ints("pads")? {
            None => Pad::Explicit([(0, 0); 2]),
            Some(p) => match p.as_slice() {
                [t, l, b, r] if p.iter().all(|&x| (0..1 << 20).contains(&x)) => {
                    Pad::Explicit([(*t as usize, *b as usize), (*l as usize, *r as usize)])
                }
                _ => return Err(format!("`pads` {p:?}: expected four non-negative values")),
            },
        },
        "VALID" => Pad::Explicit([(0, 0); 2]),
        "SAME_UPPER" => Pad::Same { upper: true },
        "SAME_LOWER" => Pad::Same { upper: false },
        other => return Err(format!("auto_pad `{other}` is not supported")),
    };
    let ceil = n.int("ceil_mode")?.unwrap_or(0) != 0;
    Ok(Window {
        kernel,
        stride,
        dilation,
        pad,
        ceil,
    })
}

impl Window {
    /// Padding for an input of `[h, w]`.
    fn padding(&self, hw: [usize; 2]) -> [(usize, usize); 2] {
        match self.pad {
            Pad::Explicit(p) => p,
            Pad::Same { upper } => {
                let f = |i: usize, a: usize| {
                    let out = hw[i].div_ceil(self.stride[i]);
                    let k = self.dilation[i] * (self.kernel[i] - 1) + 1;
                    let total = ((out.saturating_sub(1)) * self.stride[i] + k).saturating_sub(a);
                    if upper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    }
                };
                [f(0, hw[0]), f(1, hw[1])]
            }
        }
    }

    /// Output size (PyTorch/ONNX rules, with `ceil_mode`'s last window starting inside).
    fn out_hw(&self, hw: [usize; 2]) -> Result<[usize; 2], String> {
        let p = self.padding(hw);
        let mut o = [0; 2];
        for i in 0..2 {
            let span = hw[i] + p[i].0 + p[i].1;
            let k = self.dilation[i] * (self.kernel[i] - 1) + 1;
            if span < k {
                return Err(format!(
                    "the window ({}×{}) is larger than the padded input {hw:?}",
                    self.kernel[0], self.kernel[1]
                ));
            }
            let s = self.stride[i];
            let mut n = if self.ceil {
                (span - k).div_ceil(s) + 1
            } else {
                (span - k) / s + 1
            };
            if self.ceil && (n - 1) * s >= hw[i] + p[i].0 {
                n -= 1;
            }
            o[i] = n;
        }
        Ok(o)
    }
}

fn nchw(ins: &[Option<&Meta>]) -> Result<[usize; 4], String> {
    let (s, _) = dev(ins, 0)?;
    s.as_slice()
        .try_into()
        .map_err(|_| format!("input of shape {s:?}: expected [batch, channels, height, width]"))
}

fn r4(v: Option<Value>) -> Tensor<4> {
    match v {
        Some(Value::Dev(t)) => t.into_r4(),
        _ => unreachable!("checked by infer"),
    }
}

#[derive(Debug)]
struct Conv {
    weight: Tensor<4>,
    bias: Tensor<1>,
    /// [`gradient_kernel`] of the convolutions that take the fast input gradient
    /// ([`routes`]: 1×1 at stride 1, depthwise), as in the zoo's networks.
    grad_kernel: Option<Tensor<4>>,
    shape: [usize; 4],
    groups: usize,
    win: Window,
}

/// Compile a Conv (with `folded` weights when a BatchNormalization was absorbed).
pub fn conv(ctx: &Ctx, folded: Option<ConvWeights>) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    let cw = match folded {
        Some(w) => w,
        None => ConvWeights::of(ctx)?,
    };
    let groups = n.int("group")?.unwrap_or(1);
    if groups < 1 || cw.shape[0] % groups as usize != 0 {
        return Err(format!(
            "group {groups} does not divide {} output channels",
            cw.shape[0]
        ));
    }
    let kernel = [cw.shape[2], cw.shape[3]];
    if let Some(ks) = n.ints("kernel_shape")?
        && ks.iter().map(|&k| k as usize).collect::<Vec<_>>() != kernel
    {
        return Err(format!(
            "kernel_shape {ks:?} differs from the weight's {kernel:?}"
        ));
    }
    let win = window(n, kernel)?;
    let up = |shape: Vec<usize>, data: Vec<f64>| HostTensor::f64(shape, data);
    let weight = up(cw.shape.to_vec(), cw.w)
        .to_burn::<4>(ctx.device, ctx.precision)
        .map_err(|e| e.to_string())?;
    let bias = up(vec![cw.shape[0]], cw.b)
        .to_burn::<1>(ctx.device, ctx.precision)
        .map_err(|e| e.to_string())?;
    let depthwise = groups > 1 && cw.shape[1] == 1 && cw.shape[0] == groups as usize;
    let grad_kernel = (win.dilation == [1, 1] && routes(kernel, win.stride, depthwise))
        .then(|| gradient_kernel(&weight, groups as usize));
    Ok(Box::new(Conv {
        weight,
        bias,
        grad_kernel,
        shape: cw.shape,
        groups: groups as usize,
        win,
    }))
}

impl Kernel for Conv {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let [b, c, h, w] = nchw(ins)?;
        if c != self.shape[1] * self.groups {
            return Err(format!(
                "input has {c} channels, the weights expect {} ({} groups of {})",
                self.shape[1] * self.groups,
                self.groups,
                self.shape[1]
            ));
        }
        let [oh, ow] = self.win.out_hw([h, w])?;
        Ok(out(vec![b, self.shape[0], oh, ow], Layout::Nchw))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let x = r4(ins[0].take());
        let [_, _, h, w] = x.dims();
        let opts = ConvOptions::new_with_padding(
            self.win.stride,
            self.win.padding([h, w]),
            self.win.dilation,
            self.groups,
        );
        Value::Dev(Ft::R4(match &self.grad_kernel {
            Some(gk) => const_conv2d(x, self.weight.clone(), self.bias.clone(), gk.clone(), opts),
            None => conv2d(x, self.weight.clone(), Some(self.bias.clone()), opts),
        }))
    }
}

#[derive(Debug)]
struct Pool {
    max: bool,
    win: Window,
    count_include_pad: bool,
}

/// Compile a MaxPool or AveragePool.
pub fn pool(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    if n.outputs.len() > 1 && n.outputs[1..].iter().any(|o| !o.is_empty()) {
        return Err("the Indices output of MaxPool is not supported".into());
    }
    let kernel = pair(
        Some(n.ints("kernel_shape")?.ok_or("kernel_shape is missing")?),
        1,
        "kernel_shape",
    )?;
    let win = window(n, kernel)?;
    let max = n.op == "MaxPool";
    if !max && win.dilation != [1, 1] {
        return Err("dilated AveragePool is not supported".into());
    }
    if n.int("storage_order")?.unwrap_or(0) != 0 {
        return Err("storage_order 1 is not supported".into());
    }
    Ok(Box::new(Pool {
        max,
        win,
        count_include_pad: n.int("count_include_pad")?.unwrap_or(0) != 0,
    }))
}

impl Kernel for Pool {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let [b, c, h, w] = nchw(ins)?;
        let p = self.win.padding([h, w]);
        for (i, &(a, z)) in p.iter().enumerate() {
            if a.max(z) * 2 > self.win.kernel[i] && self.max {
                return Err(format!(
                    "padding {:?} is more than half the kernel {:?}",
                    p, self.win.kernel
                ));
            }
        }
        let [oh, ow] = self.win.out_hw([h, w])?;
        Ok(out(vec![b, c, oh, ow], Layout::Nchw))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let x = r4(ins[0].take());
        let [_, _, h, w] = x.dims();
        let padding = self.win.padding([h, w]);
        let y = if self.max {
            max_pool2d(
                x,
                MaxPoolOptions {
                    kernel_size: self.win.kernel,
                    stride: self.win.stride,
                    padding,
                    dilation: self.win.dilation,
                    ceil_mode: self.win.ceil,
                },
            )
        } else {
            avg_pool2d(
                x,
                AvgPoolOptions {
                    kernel_size: self.win.kernel,
                    stride: self.win.stride,
                    padding,
                    count_include_pad: self.count_include_pad,
                    ceil_mode: self.win.ceil,
                },
            )
        };
        Value::Dev(Ft::R4(y))
    }
}

/// Upload helper shared by other kernels.
pub(crate) fn upload_vec<const D: usize>(
    shape: Vec<usize>,
    data: Vec<f64>,
    device: &Device,
    precision: Precision,
) -> Result<Tensor<D>, String> {
    HostTensor::f64(shape, data)
        .to_burn::<D>(device, precision)
        .map_err(|e| e.to_string())
}
