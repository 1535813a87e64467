//! Depthwise convolution (one filter per channel) with a fast input gradient on the CPU.
//!
//! burn's autodiff differentiates every convolution through a transposed convolution, which
//! burn Flex runs as a gemm into a column buffer and a scatter-add (col2im). For a depthwise
//! convolution that gemm is an outer product per channel (`k²` columns per input pixel), and
//! the profile of an EfficientNet-Lite0 forward + backward (batch 9) put a third of the CPU
//! time in that scatter (docs/performance.md). At stride 1 the input gradient is itself a
//! depthwise convolution, of the output gradient with the spatially flipped kernel, which
//! Flex runs with its direct depthwise kernel: that is what [`DepthwiseOps::depthwise_conv2d`]
//! does in its backward pass (other strides keep burn's own). Written here, as a burn backend
//! extension, because neither burn's autodiff nor Flex offers a hook for it; a candidate for
//! upstreaming.
//!
//! Weights are constants (A25): the backward pass computes the input gradient only.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

/// A depthwise convolution whose input gradient, at stride 1, is a depthwise convolution.
#[backend_extension(Flex, Autodiff)]
pub trait DepthwiseOps: Backend {
    /// `conv2d(x, weight, bias, options)` with `options.groups` equal to the channels of `x`
    /// and of the output, and a weight of shape `[channels, 1, k, k]`.
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

impl DepthwiseOps for Flex {
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Flex::conv2d(x, weight, Some(bias), options)
    }
}

/// The options of the input gradient of a stride-1 depthwise convolution with `options`: a
/// correlation with the flipped kernel, padded `k − 1 − p` on each side (the sides swapped).
fn transposed_options(options: &ConvOptions<2>, kernel: [usize; 2]) -> ConvOptions<2> {
    let begin = options.padding_begin();
    let end = options.padding_end();
    let pad = |k: usize, p: usize| k - 1 - p;
    ConvOptions::new_with_padding(
        [1, 1],
        [
            (pad(kernel[0], begin[0]), pad(kernel[0], end[0])),
            (pad(kernel[1], begin[1]), pad(kernel[1], end[1])),
        ],
        [1, 1],
        options.groups,
    )
}

/// Whether [`transposed_options`] applies: stride 1, no dilation, padding below the kernel.
fn stride_one(options: &ConvOptions<2>, kernel: [usize; 2]) -> bool {
    let (begin, end) = (options.padding_begin(), options.padding_end());
    options.stride == [1, 1]
        && options.dilation == [1, 1]
        && (0..2).all(|i| begin[i] < kernel[i] && end[i] < kernel[i])
}

#[derive(Debug)]
struct DepthwiseBackward;

impl<B: Backend> Backward<B, 1> for DepthwiseBackward {
    /// The weight, the input's shape and the options.
    type State = (FloatTensor<B>, burn::tensor::Shape, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (weight, x_shape, options) = ops.state;
        let Some(node) = node_x else { return };
        let dims = weight.shape().dims::<4>();
        let kernel = [dims[2], dims[3]];
        let gx = if stride_one(&options, kernel) {
            let flipped = B::float_flip(weight, &[2, 3]);
            B::conv2d(grad, flipped, None, transposed_options(&options, kernel))
        } else {
            // burn's own (a transposed convolution); it reads only the input's shape.
            let x = B::float_zeros(x_shape, &grad.device(), grad.dtype().into());
            B::conv2d_x_backward(x, weight, grad, options)
        };
        grads.register::<B>(node.id, gx);
    }
}

impl<C: CheckpointStrategy> DepthwiseOps for Autodiff<Flex, C> {
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        // Only the input is differentiated: the weight and bias are constants (A25).
        match DepthwiseBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let w = weight.into_primitive();
                let shape = x.shape();
                let y = Flex::conv2d(x, w.clone(), Some(bias.into_primitive()), options.clone());
                prep.finish((w, shape, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                Some(bias.into_primitive()),
                options,
            )),
        }
    }
}

/// A depthwise `conv2d` through [`DepthwiseOps`] where the tensors live on the Flex CPU
/// backend (plain or autodiff), else burn's `conv2d`.
pub fn depthwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    if x.device().without_autodiff() != Device::flex() {
        return burn::tensor::module::conv2d(x, weight, Some(bias), options);
    }
    Tensor::from_dispatch(<Dispatch as DepthwiseOps>::depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn ramp(shape: [usize; 4], scale: f32) -> Vec<f32> {
        let n: usize = shape.iter().product();
        (0..n)
            .map(|i| ((i * 7919 % 113) as f32 / 56.0 - 1.0) * scale)
            .collect()
    }

    /// The input gradient of the custom op equals burn's (a transposed convolution), for
    /// symmetric and TF-"SAME" (asymmetric) padding, strides 1 and 2, kernels 3 and 5.
    #[test]
    fn input_gradient_equals_burns() {
        let dev = Device::flex();
        let ad = dev.clone().autodiff();
        for (k, stride, pad) in [
            (3, 1, [(1, 1), (1, 1)]),
            (5, 1, [(2, 2), (2, 2)]),
            (3, 1, [(0, 2), (1, 1)]),
            (3, 2, [(0, 1), (0, 1)]),
            (5, 2, [(1, 2), (1, 2)]),
        ] {
            let (b, c, h, w) = (2, 4, 9, 8);
            let opts = ConvOptions::new_with_padding([stride, stride], pad, [1, 1], c);
            let weight: Tensor<4> =
                Tensor::from_data(TensorData::new(ramp([c, 1, k, k], 0.5), [c, 1, k, k]), &dev);
            let bias: Tensor<1> =
                Tensor::from_data(TensorData::new(vec![0.1, -0.2, 0.3, 0.0], [c]), &dev);
            let xs = ramp([b, c, h, w], 1.0);
            let run = |custom: bool| {
                let x: Tensor<4> =
                    Tensor::from_data(TensorData::new(xs.clone(), [b, c, h, w]), &ad)
                        .require_grad();
                let y = if custom {
                    depthwise_conv2d(x.clone(), weight.clone(), bias.clone(), opts.clone())
                } else {
                    burn::tensor::module::conv2d(
                        x.clone(),
                        weight.clone(),
                        Some(bias.clone()),
                        opts.clone(),
                    )
                };
                // A non-uniform objective, so every output position weighs differently.
                let dims = y.dims();
                let seed: Tensor<4> =
                    Tensor::from_data(TensorData::new(ramp(dims, 1.0), dims), &ad);
                let g = (y.clone() * seed).sum().backward();
                let gx = x.grad(&g).expect("input gradient");
                (
                    y.into_data().try_to_vec::<f32>().unwrap(),
                    gx.into_data().try_to_vec::<f32>().unwrap(),
                )
            };
            let ((y0, g0), (y1, g1)) = (run(false), run(true));
            assert_eq!(y0, y1, "k {k} stride {stride} {pad:?}: forward");
            let d = g0
                .iter()
                .zip(&g1)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                d < 1e-5,
                "k {k} stride {stride} {pad:?}: input gradient differs by {d}"
            );
            assert!(g0.iter().any(|v| v.abs() > 0.1));
        }
    }
}
