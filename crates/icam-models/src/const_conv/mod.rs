//! Convolutions with constant weights and a fast input gradient on the CPU.
//!
//! burn's autodiff differentiates every convolution through a transposed convolution, which
//! burn Flex runs as a gemm into a column buffer and a scatter-add (col2im). For a depthwise
//! convolution that gemm is an outer product per channel (`k²` columns per input pixel): the
//! profile of an EfficientNet-Lite0 forward + backward (batch 9) put a third of the CPU time in
//! that scatter (docs/performance.md); for a 1×1 convolution the scatter is a plain copy of the
//! gemm's output. At stride 1 the input gradient is itself a convolution: of the output gradient
//! with the kernel transposed per group (`[C_out, C_in/g, k, k]` → `[C_in, C_out/g, k, k]`) and
//! flipped in space, padded `k − 1 − p`, which Flex runs with its direct paths (depthwise
//! kernel, 1×1 gemm, im2col). [`ConstConvOps::const_conv2d`] does that in its backward pass,
//! with the transposed kernel computed once when the model loads ([`gradient_kernel`]); strided
//! depthwise convolutions get a direct kernel of their own ([`strided_depthwise`]); other
//! strided convolutions keep burn's own. Written here, as a burn backend extension, because
//! neither burn's autodiff nor Flex offers a hook for it; a candidate for upstreaming.
//!
//! Weights are constants (A25): the backward pass computes the input gradient only.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

mod strided_depthwise;

/// A convolution with constant weights whose input gradient, at stride 1, is a convolution.
#[backend_extension(Flex, Autodiff)]
pub trait ConstConvOps: Backend {
    /// `conv2d(x, weight, bias, options)`; `grad_kernel` is [`gradient_kernel`] of `weight`
    /// (used by the backward pass at stride 1).
    fn const_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_kernel: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

impl ConstConvOps for Flex {
    fn const_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        _grad_kernel: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Flex::conv2d(x, weight, Some(bias), options)
    }
}

/// Whether a convolution goes through [`const_conv2d`]: the stride-1 1×1 convolutions (their
/// input gradient is a 1×1 convolution) and the depthwise ones at any stride (at stride 1 the
/// gradient is a depthwise convolution, above it [`strided_depthwise`]'s kernel). Dense k×k
/// convolutions keep burn's transposed convolution, which measured faster than Flex's im2col
/// for their input gradient (ResNet-50 batch 1 forward+backward 98–103 ms against 123–126 ms).
pub fn routes(kernel: [usize; 2], stride: [usize; 2], depthwise: bool) -> bool {
    depthwise || (kernel == [1, 1] && stride == [1, 1])
}

/// The kernel of the input gradient of a stride-1 convolution with `weight`
/// (`[C_out, C_in/g, k, k]`, `groups` groups): per group transposed, `[C_in, C_out/g, k, k]`,
/// and flipped in both spatial axes.
pub fn gradient_kernel(weight: &Tensor<4>, groups: usize) -> Tensor<4> {
    let [cout, per_group, kh, kw] = weight.dims();
    weight
        .clone()
        .reshape([groups, cout / groups, per_group, kh * kw])
        .swap_dims(1, 2)
        .reshape([groups * per_group, cout / groups, kh, kw])
        .flip([2, 3])
}

/// The options of the input gradient of a stride-1 convolution with `options`: a correlation
/// with [`gradient_kernel`], padded `k − 1 − p` on each side.
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
struct ConstConvBackward;

/// The input gradient of a depthwise convolution (one filter per channel, no dilation) at a
/// stride above 1, by [`strided_depthwise`]; `None` for other convolutions and dtypes.
fn strided_depthwise_gradient(
    grad: &FloatTensor<Flex>,
    weight: &FloatTensor<Flex>,
    x_shape: &burn::tensor::Shape,
    options: &ConvOptions<2>,
) -> Option<FloatTensor<Flex>> {
    let [cout, per_group, kh, kw] = weight.shape().dims::<4>();
    let [b, c, ih, iw] = x_shape.dims::<4>();
    let [_, _, oh, ow] = grad.shape().dims::<4>();
    if per_group != 1 || options.groups != c || cout != c || options.dilation != [1, 1] {
        return None;
    }
    let geometry = strided_depthwise::Geometry {
        planes: b * c,
        channels: c,
        input: [ih, iw],
        output: [oh, ow],
        kernel: [kh, kw],
        stride: options.stride,
        pad: options.padding_begin(),
    };
    let (g, w) = (grad.to_contiguous(), weight.to_contiguous());
    let (ga, gb) = g.layout().contiguous_offsets()?;
    let (wa, wb) = w.layout().contiguous_offsets()?;
    let shape = [b, c, ih, iw];
    // The kernel on the contiguous `f32` or `f64` views of the gradient and the weights.
    macro_rules! run {
        ($t:ty) => {
            TensorData::new(
                strided_depthwise::input_gradient(
                    &g.storage::<$t>()[ga..gb],
                    &w.storage::<$t>()[wa..wb],
                    &geometry,
                ),
                shape,
            )
        };
    }
    let data = match (g.dtype(), w.dtype()) {
        (DType::F32, DType::F32) => run!(f32),
        (DType::F64, DType::F64) => run!(f64),
        _ => return None,
    };
    Some(Flex::float_from_data(data, &Default::default()))
}

impl Backward<Flex, 1> for ConstConvBackward {
    /// The weight, its gradient kernel, the input's shape and the options.
    type State = (
        FloatTensor<Flex>,
        FloatTensor<Flex>,
        burn::tensor::Shape,
        ConvOptions<2>,
    );

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (weight, grad_kernel, x_shape, options) = ops.state;
        let Some(node) = node_x else { return };
        let dims = weight.shape().dims::<4>();
        let kernel = [dims[2], dims[3]];
        let gx = if stride_one(&options, kernel) {
            Flex::conv2d(
                grad,
                grad_kernel,
                None,
                transposed_options(&options, kernel),
            )
        } else if let Some(gx) = strided_depthwise_gradient(&grad, &weight, &x_shape, &options) {
            gx
        } else {
            // burn's own (a transposed convolution); it reads only the input's shape.
            let x = Flex::float_zeros(x_shape, &grad.device(), grad.dtype().into());
            Flex::conv2d_x_backward(x, weight, grad, options)
        };
        grads.register::<Flex>(node.id, gx);
    }
}

impl<C: CheckpointStrategy> ConstConvOps for Autodiff<Flex, C> {
    fn const_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_kernel: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        // Only the input is differentiated: the weight and bias are constants (A25).
        match ConstConvBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let w = weight.into_primitive();
                let shape = x.shape();
                let y = Flex::conv2d(x, w.clone(), Some(bias.into_primitive()), options.clone());
                prep.finish((w, grad_kernel.into_primitive(), shape, options), y)
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

/// `conv2d(x, weight, bias, options)` through [`ConstConvOps`] where the tensors live on the
/// Flex CPU backend (plain or autodiff), else burn's `conv2d`. `grad_kernel` is
/// [`gradient_kernel`] of `weight`.
pub fn const_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    grad_kernel: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    if x.device().without_autodiff() != Device::flex() {
        return burn::tensor::module::conv2d(x, weight, Some(bias), options);
    }
    Tensor::from_dispatch(<Dispatch as ConstConvOps>::const_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        grad_kernel.into_dispatch(),
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
    /// depthwise, grouped and dense convolutions, symmetric and TF-"SAME" (asymmetric)
    /// padding, strides 1 and 2, kernels 1, 3, 5 and 7.
    #[test]
    fn input_gradient_equals_burns() {
        let dev = Device::flex();
        let ad = dev.clone().autodiff();
        for (k, stride, pad, groups, cout) in [
            (3, 1, [(1, 1), (1, 1)], 4, 4),
            (5, 1, [(2, 2), (2, 2)], 4, 4),
            (3, 1, [(0, 2), (1, 1)], 4, 4),
            (3, 2, [(0, 1), (0, 1)], 4, 4),
            (5, 2, [(1, 2), (1, 2)], 4, 4),
            (1, 1, [(0, 0), (0, 0)], 1, 6),
            (3, 1, [(1, 1), (1, 1)], 1, 6),
            (3, 1, [(1, 1), (1, 1)], 2, 6),
            (7, 2, [(3, 3), (3, 3)], 1, 6),
        ] {
            let (b, c, h, w) = (2, 4, 9, 8);
            let pg = c / groups;
            let opts = ConvOptions::new_with_padding([stride, stride], pad, [1, 1], groups);
            let weight: Tensor<4> = Tensor::from_data(
                TensorData::new(ramp([cout, pg, k, k], 0.5), [cout, pg, k, k]),
                &dev,
            );
            let grad_kernel = gradient_kernel(&weight, groups);
            let bias: Tensor<1> =
                Tensor::from_data(TensorData::new(ramp([1, 1, 1, cout], 0.3), [cout]), &dev);
            let xs = ramp([b, c, h, w], 1.0);
            let run = |custom: bool| {
                let x: Tensor<4> =
                    Tensor::from_data(TensorData::new(xs.clone(), [b, c, h, w]), &ad)
                        .require_grad();
                let y = if custom {
                    const_conv2d(
                        x.clone(),
                        weight.clone(),
                        bias.clone(),
                        grad_kernel.clone(),
                        opts.clone(),
                    )
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
            assert_eq!(y0, y1, "k {k} stride {stride} groups {groups}: forward");
            let d = g0
                .iter()
                .zip(&g1)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                d < 1e-5,
                "k {k} stride {stride} groups {groups}: input gradient differs by {d}"
            );
            assert!(g0.iter().any(|v| v.abs() > 0.1));
        }
    }
}
