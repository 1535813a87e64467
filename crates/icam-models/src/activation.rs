//! ReLU6 (`min(max(x, 0), 6)`, EfficientNet-Lite's activation) in one pass each way on the CPU.
//!
//! Written with burn's tensor operations, ReLU6 with PyTorch's gradient (`hardtanh`: 1 on the
//! open interval `(0, 6)`, 0 elsewhere) takes three elementwise passes forward (a comparison,
//! ReLU, `mask_fill`) and three backward; on Lite0 they were 13 % of a forward pass's CPU time
//! (docs/performance.md). [`Relu6Ops::relu6`] clamps in one pass (in place when the input is
//! not shared) and, in its backward pass, zeroes the output gradient where the output is not
//! in `(0, 6)`, also in one pass. A burn backend extension for Flex and `Autodiff<Flex>`;
//! other devices use the tensor-operation form ([`relu6`]).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{BoolTensorOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, BoolStore, DType, Dispatch, Flex, backend_extension};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

/// ReLU6 with the gradient of PyTorch's `hardtanh(0, 6)`.
#[backend_extension(Flex, Autodiff)]
pub trait Relu6Ops: Backend {
    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Elements per parallel task of the kernels.
const CHUNK: usize = 1 << 15;

/// `t` itself when contiguous, else a contiguous copy. (Flex's `to_contiguous` borrows and
/// returns a second handle to the same buffer even when nothing is copied, so a later
/// `storage_mut` would see a shared buffer and copy it whole: every ReLU6 and its gradient did,
/// a full extra read and write of each activation.)
fn contiguous(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// Apply `f32`/`f64` kernels to a contiguous copy-on-write view of `t` (in place when `t` is
/// not shared); `None` for other dtypes.
fn map_in_place(
    t: FloatTensor<Flex>,
    f32k: impl Fn(&mut [f32]) + Send + Sync,
    f64k: impl Fn(&mut [f64]) + Send + Sync,
) -> Option<FloatTensor<Flex>> {
    let mut t = contiguous(t);
    let (a, b) = t.layout().contiguous_offsets()?;
    match t.dtype() {
        DType::F32 => t.storage_mut::<f32>()[a..b]
            .par_chunks_mut(CHUNK)
            .for_each(f32k),
        DType::F64 => t.storage_mut::<f64>()[a..b]
            .par_chunks_mut(CHUNK)
            .for_each(f64k),
        _ => return None,
    }
    Some(t)
}

impl Relu6Ops for Flex {
    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let dtype = x.dtype();
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Flex::float_clamp(x, 0.0.into(), 6.0.into());
        }
        map_in_place(
            x,
            |c| c.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
            |c| c.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        )
        .expect("a float tensor")
    }
}

/// The output gradient where `0 < y < 6`, else 0 (`y` the forward output).
fn relu6_grad(grad: FloatTensor<Flex>, y: FloatTensor<Flex>) -> FloatTensor<Flex> {
    let y = y.to_contiguous();
    let (ya, yb) = y
        .layout()
        .contiguous_offsets()
        .expect("a contiguous tensor");
    let dtype = y.dtype();
    let keep32 = |g: &mut [f32], y: &[f32]| {
        g.iter_mut()
            .zip(y)
            .for_each(|(g, &y)| *g = if y > 0.0 && y < 6.0 { *g } else { 0.0 })
    };
    let keep64 = |g: &mut [f64], y: &[f64]| {
        g.iter_mut()
            .zip(y)
            .for_each(|(g, &y)| *g = if y > 0.0 && y < 6.0 { *g } else { 0.0 })
    };
    let mut g = contiguous(grad);
    let (ga, gb) = g
        .layout()
        .contiguous_offsets()
        .expect("a contiguous tensor");
    match dtype {
        DType::F32 => {
            let ys = &y.storage::<f32>()[ya..yb];
            g.storage_mut::<f32>()[ga..gb]
                .par_chunks_mut(CHUNK)
                .zip(ys.par_chunks(CHUNK))
                .for_each(|(g, y)| keep32(g, y));
        }
        DType::F64 => {
            let ys = &y.storage::<f64>()[ya..yb];
            g.storage_mut::<f64>()[ga..gb]
                .par_chunks_mut(CHUNK)
                .zip(ys.par_chunks(CHUNK))
                .for_each(|(g, y)| keep64(g, y));
        }
        // Other dtypes: 0 < y < 6 from comparisons.
        _ => {
            let inside = Flex::bool_and(
                Flex::float_greater_elem(y.clone(), 0.0.into(), BoolStore::Native),
                Flex::float_lower_elem(y, 6.0.into(), BoolStore::Native),
            );
            return Flex::float_mask_fill(g, Flex::bool_not(inside), 0.0.into());
        }
    }
    g
}

#[derive(Debug)]
struct Relu6Backward;

impl Backward<Flex, 1> for Relu6Backward {
    /// The forward output.
    type State = FloatTensor<Flex>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, relu6_grad(grad, ops.state));
        }
    }
}

impl<C: CheckpointStrategy> Relu6Ops for Autodiff<Flex, C> {
    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Relu6Backward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::relu6(x.into_primitive());
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::relu6(x.into_primitive())),
        }
    }
}

/// ReLU6 with PyTorch's `hardtanh` gradient: through [`Relu6Ops`] on the Flex CPU backend
/// (plain or autodiff), else as `relu(x)` with the saturated values set to 6.
pub fn relu6(x: Tensor<4>) -> Tensor<4> {
    if x.device().without_autodiff() != Device::flex() {
        let saturated = x.clone().greater_equal_elem(6.0);
        return relu(x).mask_fill(saturated, 6.0);
    }
    Tensor::from_dispatch(<Dispatch as Relu6Ops>::relu6(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// The one-pass op against the tensor-operation form, forward and input gradient, in
    /// float32 and float64, with values at and around both end points and a non-contiguous
    /// input.
    #[test]
    fn equals_the_tensor_operation_form() {
        let vals: Vec<f64> = (0..96).map(|i| (i as f64 - 20.0) * 0.125).collect();
        for dtype in [burn::tensor::DType::F32, burn::tensor::DType::F64] {
            let dev = Device::flex().autodiff();
            let make = || {
                Tensor::<4>::from_data(
                    TensorData::new(vals.clone(), [2, 3, 4, 4]).convert_dtype(dtype),
                    (&dev, dtype),
                )
                .swap_dims(2, 3)
                .require_grad()
            };
            let seed = Tensor::<4>::from_data(
                TensorData::new((0..96).map(|i| i as f64 + 1.0).collect(), [2, 3, 4, 4])
                    .convert_dtype(dtype),
                (&dev, dtype),
            );
            let run = |fast: bool| {
                let x = make();
                let y = if fast {
                    relu6(x.clone())
                } else {
                    let saturated = x.clone().greater_equal_elem(6.0);
                    relu(x.clone()).mask_fill(saturated, 6.0)
                };
                let g = (y.clone() * seed.clone()).sum().backward();
                let to = |t: Tensor<4>| -> Vec<f64> {
                    t.into_data().convert::<f64>().try_to_vec().unwrap()
                };
                (to(y), to(x.grad(&g).unwrap()))
            };
            let (fast, slow) = (run(true), run(false));
            assert_eq!(fast, slow, "{dtype:?}");
            assert!(fast.1.contains(&0.0) && fast.1.iter().any(|&v| v > 0.0));
        }
    }
}
