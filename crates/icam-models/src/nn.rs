//! Building blocks shared by the architectures: a weight binder that checks names and shapes,
//! convolution with eval-mode BatchNorm folded in, and the linear classifier.
//!
//! Weights are plain tensors that never require gradients (A25: eval mode; weights are
//! constants), so a backward pass never computes weight gradients. They live on the plain
//! (non-autodiff) device: only `trace`'s inputs and tap leaves are autodiff tensors, so a
//! forward-only pass records no graph (one on the autodiff device would leave ~0.15 MB of
//! graph per call behind, never swept without a backward pass).

use std::collections::BTreeSet;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use crate::const_conv::{const_conv2d, gradient_kernel, routes};
use crate::error::{ModelError, Result};
use crate::host::{HostTensor, Precision};
use crate::tap::Tapper;
use crate::weights::{WeightFile, is_ignored_tensor};

/// Hands out the tensors of a [`WeightFile`] by name, checking shapes, and at the end reports
/// any tensor the architecture did not use.
pub struct Binder<'a> {
    file: &'a WeightFile,
    arch: String,
    used: BTreeSet<String>,
    pub(crate) device: Device,
    pub(crate) precision: Precision,
}

impl<'a> Binder<'a> {
    pub fn new(file: &'a WeightFile, arch: &str, device: &Device, precision: Precision) -> Self {
        Self {
            file,
            arch: arch.to_string(),
            used: BTreeSet::new(),
            device: device.clone(),
            precision,
        }
    }

    /// The tensor `name`, which must have shape `expected`.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<&'a HostTensor> {
        let t = self
            .file
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                arch: self.arch.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
            })?;
        if t.shape != expected {
            return Err(ModelError::ShapeMismatch {
                arch: self.arch.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: t.shape.clone(),
            });
        }
        if !t.all_finite() {
            return Err(ModelError::NonFinite {
                name: name.to_string(),
            });
        }
        self.used.insert(name.to_string());
        Ok(t)
    }

    /// Fails if the file holds tensors that were not taken (ignoring BatchNorm step counters).
    pub fn finish(self) -> Result<()> {
        let extra: Vec<&String> = self
            .file
            .tensors
            .keys()
            .filter(|k| !self.used.contains(*k) && !is_ignored_tensor(k))
            .collect();
        if let Some(first) = extra.first() {
            let more = if extra.len() > 1 {
                format!(" (and {} more unused tensors)", extra.len() - 1)
            } else {
                String::new()
            };
            return Err(ModelError::UnexpectedTensor {
                arch: self.arch,
                name: (*first).clone(),
                found: self.file.tensors[*first].shape.clone(),
                more,
            });
        }
        Ok(())
    }

    /// Upload a host tensor in the run precision.
    pub fn upload<const D: usize>(&self, shape: Vec<usize>, data: Vec<f64>) -> Result<Tensor<D>> {
        HostTensor::f64(shape, data).to_burn(&self.device, self.precision)
    }
}

/// Padding of a convolution: symmetric (PyTorch) or explicit per side (TF "SAME").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// The same number of zeros on every side.
    Symmetric(usize),
    /// TensorFlow "SAME": computed from the input size at run time, the odd pixel at the
    /// bottom/right (A26).
    TfSame,
}

/// A 2-D convolution followed by eval-mode BatchNorm, folded into one convolution with bias:
/// `w' = w·γ/√(σ²+ε)`, `b' = β − μ·γ/√(σ²+ε)` (computed in float64, then cast to the run
/// precision).
///
/// The output (BatchNorm's output, before any activation) is offered to the tapper as a bias
/// term ([`Tapper::tap_bias`], FullGrad) under the BatchNorm's name.
#[derive(Clone, Debug)]
pub struct ConvBn {
    name: String,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: Padding,
    groups: usize,
    kernel: usize,
    /// The kernel of the input gradient ([`gradient_kernel`]) of the convolutions that go
    /// through [`const_conv2d`] ([`routes`]); `None`: burn's `conv2d`.
    grad_kernel: Option<Tensor<4>>,
}

/// Shape of a convolution.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: Padding,
    pub groups: usize,
}

impl ConvBn {
    /// Bind `conv` (a bias-free convolution) and `bn` (a BatchNorm2d with eps `eps`).
    pub fn bind(b: &mut Binder, conv: &str, bn: &str, spec: ConvSpec, eps: f64) -> Result<Self> {
        let ConvSpec {
            cin,
            cout,
            kernel,
            groups,
            ..
        } = spec;
        let w = b.take(
            &format!("{conv}.weight"),
            &[cout, cin / groups, kernel, kernel],
        )?;
        let gamma = b.take(&format!("{bn}.weight"), &[cout])?;
        let beta = b.take(&format!("{bn}.bias"), &[cout])?;
        let mean = b.take(&format!("{bn}.running_mean"), &[cout])?;
        let var = b.take(&format!("{bn}.running_var"), &[cout])?;
        let per_out = w.len() / cout;
        let mut wf = w.to_f64();
        let mut bias = vec![0.0; cout];
        for k in 0..cout {
            let var_k = var.get(k);
            if var_k + eps <= 0.0 {
                return Err(ModelError::Input(format!(
                    "tensor `{bn}.running_var` has a negative variance at channel {k}"
                )));
            }
            let scale = gamma.get(k) / (var_k + eps).sqrt();
            for v in &mut wf[k * per_out..(k + 1) * per_out] {
                *v *= scale;
            }
            bias[k] = beta.get(k) - mean.get(k) * scale;
        }
        let weight = b.upload(vec![cout, cin / groups, kernel, kernel], wf)?;
        let depthwise = groups == cout && groups == cin;
        let grad_kernel = routes([kernel; 2], [spec.stride; 2], depthwise)
            .then(|| gradient_kernel(&weight, groups));
        Ok(Self {
            name: bn.to_string(),
            weight,
            bias: b.upload(vec![cout], bias)?,
            stride: spec.stride,
            padding: spec.padding,
            groups,
            kernel,
            grad_kernel,
        })
    }

    pub fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<4> {
        let s = self.stride;
        let padding = match self.padding {
            Padding::Symmetric(p) => [(p, p), (p, p)],
            Padding::TfSame => {
                let [_, _, h, w] = x.dims();
                [tf_same(h, self.kernel, s), tf_same(w, self.kernel, s)]
            }
        };
        let opts = ConvOptions::new_with_padding([s, s], padding, [1, 1], self.groups);
        let y = match &self.grad_kernel {
            Some(gk) => const_conv2d(x, self.weight.clone(), self.bias.clone(), gk.clone(), opts),
            None => conv2d(x, self.weight.clone(), Some(self.bias.clone()), opts),
        };
        tapper.tap_bias(&self.name, y, &self.bias)
    }
}

/// TF "SAME" padding for one axis: `pad = max((⌈i/s⌉−1)·s + k − i, 0)`, split with the odd
/// pixel after (A26).
pub fn tf_same(i: usize, k: usize, s: usize) -> (usize, usize) {
    let out = i.div_ceil(s);
    let pad = ((out.saturating_sub(1)) * s + k).saturating_sub(i);
    (pad / 2, pad - pad / 2)
}

/// The classifier `y = x·Wᵀ + b`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight_t: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    /// Bind `name.weight` (`[out, in]`) and `name.bias`; `out` is read from the file.
    pub fn bind(b: &mut Binder, name: &str, cin: usize, cout: usize) -> Result<Self> {
        let w = b.take(&format!("{name}.weight"), &[cout, cin])?;
        let bias = b.take(&format!("{name}.bias"), &[cout])?.to_f64();
        let wf = w.to_f64();
        let mut wt = vec![0.0; cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                wt[i * cout + o] = wf[o * cin + i];
            }
        }
        Ok(Self {
            weight_t: b.upload(vec![cin, cout], wt)?,
            bias: b.upload(vec![cout], bias)?,
        })
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight_t.clone()) + self.bias.clone().unsqueeze::<2>()
    }
}

/// Global average pooling `[b, c, h, w] -> [b, c]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
}

#[cfg(test)]
mod tests {
    use super::tf_same;

    #[test]
    fn tf_same_padding_matches_tensorflow() {
        // 224 input, 3x3 stride 2: out 112, pad = 111*2+3-224 = 1 -> (0, 1)
        assert_eq!(tf_same(224, 3, 2), (0, 1));
        // stride 1, 5x5: pad 4 -> (2, 2)
        assert_eq!(tf_same(14, 5, 1), (2, 2));
        // 1x1 never pads
        assert_eq!(tf_same(7, 1, 1), (0, 0));
        // 5x5 stride 2 on 28: out 14, pad = 13*2+5-28 = 3 -> (1, 2)
        assert_eq!(tf_same(28, 5, 2), (1, 2));
    }
}
