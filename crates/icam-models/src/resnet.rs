//! torchvision's ResNet-18/34/50/101/152 (v1.5: the stride of a bottleneck sits on its 3×3
//! convolution), eval-mode BatchNorm with eps 1e-5 (A25), torchvision tensor names.
//!
//! Taps (A8): every block output `layerS.B`, after the residual add and ReLU, plus
//! `layer1`…`layer4` as aliases of their last block.

use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::host::Precision;
use crate::nn::{Binder, ConvBn, ConvSpec, Linear, Padding, global_avg_pool};
use crate::tap::{Network, Tapper};
use crate::weights::WeightFile;

/// BatchNorm epsilon of torchvision's ResNets.
pub const RESNET_BN_EPS: f64 = 1e-5;

/// The five torchvision depths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResNetDepth {
    R18,
    R34,
    R50,
    R101,
    R152,
}

impl ResNetDepth {
    pub const ALL: [ResNetDepth; 5] = [Self::R18, Self::R34, Self::R50, Self::R101, Self::R152];

    pub fn name(self) -> &'static str {
        match self {
            Self::R18 => "resnet18",
            Self::R34 => "resnet34",
            Self::R50 => "resnet50",
            Self::R101 => "resnet101",
            Self::R152 => "resnet152",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Blocks per stage.
    pub fn blocks(self) -> [usize; 4] {
        match self {
            Self::R18 => [2, 2, 2, 2],
            Self::R34 | Self::R50 => [3, 4, 6, 3],
            Self::R101 => [3, 4, 23, 3],
            Self::R152 => [3, 8, 36, 3],
        }
    }

    /// Bottleneck blocks (expansion 4) rather than basic blocks.
    pub fn bottleneck(self) -> bool {
        !matches!(self, Self::R18 | Self::R34)
    }

    /// The depth whose tensor names a weight file holds, if it is a ResNet.
    pub fn infer(file: &WeightFile) -> Option<Self> {
        let t = &file.tensors;
        if !t.contains_key("conv1.weight") || !t.contains_key("layer1.0.conv1.weight") {
            return None;
        }
        let count = |stage: usize| {
            (0..)
                .take_while(|b| t.contains_key(&format!("layer{stage}.{b}.conv1.weight")))
                .count()
        };
        let blocks = [count(1), count(2), count(3), count(4)];
        let bottleneck = t.contains_key("layer1.0.conv3.weight");
        Self::ALL
            .into_iter()
            .find(|d| d.blocks() == blocks && d.bottleneck() == bottleneck)
    }
}

/// One residual block (basic or bottleneck) with its optional downsample branch.
#[derive(Clone, Debug)]
struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone(), tapper),
            None => x.clone(),
        };
        let last = self.convs.len() - 1;
        let mut h = x;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(h, tapper);
            if i < last {
                h = relu(h);
            }
        }
        relu(h + identity)
    }
}

/// A torchvision ResNet.
#[derive(Debug)]
pub struct ResNet {
    depth: ResNetDepth,
    stem: ConvBn,
    stages: Vec<Vec<Block>>,
    fc: Linear,
    num_classes: usize,
    device: Device,
    precision: Precision,
}

impl ResNet {
    /// Build from a weight file with torchvision names; the number of classes is read from
    /// `fc.weight`. Missing, extra or wrongly shaped tensors are errors.
    pub fn load(
        depth: ResNetDepth,
        file: &WeightFile,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let arch = depth.name();
        let device = device.clone().without_autodiff();
        let mut b = Binder::new(file, arch, &device, precision);
        let sym = |cin, cout, kernel, stride, pad| ConvSpec {
            cin,
            cout,
            kernel,
            stride,
            padding: Padding::Symmetric(pad),
            groups: 1,
        };
        let stem = ConvBn::bind(&mut b, "conv1", "bn1", sym(3, 64, 7, 2, 3), RESNET_BN_EPS)?;
        let expansion = if depth.bottleneck() { 4 } else { 1 };
        let mut inplanes = 64;
        let mut stages = Vec::new();
        for (s, &nblocks) in depth.blocks().iter().enumerate() {
            let planes = 64 << s;
            let stage_stride = if s == 0 { 1 } else { 2 };
            let mut blocks = Vec::new();
            for bi in 0..nblocks {
                let p = format!("layer{}.{bi}", s + 1);
                let stride = if bi == 0 { stage_stride } else { 1 };
                let out = planes * expansion;
                let specs = if depth.bottleneck() {
                    vec![
                        sym(inplanes, planes, 1, 1, 0),
                        sym(planes, planes, 3, stride, 1),
                        sym(planes, out, 1, 1, 0),
                    ]
                } else {
                    vec![
                        sym(inplanes, planes, 3, stride, 1),
                        sym(planes, planes, 3, 1, 1),
                    ]
                };
                let convs = specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, spec)| {
                        let n = i + 1;
                        ConvBn::bind(
                            &mut b,
                            &format!("{p}.conv{n}"),
                            &format!("{p}.bn{n}"),
                            spec,
                            RESNET_BN_EPS,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                let downsample = if bi == 0 && (stride != 1 || inplanes != out) {
                    Some(ConvBn::bind(
                        &mut b,
                        &format!("{p}.downsample.0"),
                        &format!("{p}.downsample.1"),
                        sym(inplanes, out, 1, stride, 0),
                        RESNET_BN_EPS,
                    )?)
                } else {
                    None
                };
                inplanes = out;
                blocks.push(Block { convs, downsample });
            }
            stages.push(blocks);
        }
        let num_classes = match file.tensors.get("fc.weight") {
            Some(t) if t.shape.len() == 2 && t.shape[0] > 0 => t.shape[0],
            Some(t) => {
                return Err(ModelError::ShapeMismatch {
                    arch: arch.into(),
                    name: "fc.weight".into(),
                    expected: vec![1000, inplanes],
                    found: t.shape.clone(),
                });
            }
            None => {
                return Err(ModelError::MissingTensor {
                    arch: arch.into(),
                    name: "fc.weight".into(),
                    expected: vec![1000, inplanes],
                });
            }
        };
        let fc = Linear::bind(&mut b, "fc", inplanes, num_classes)?;
        b.finish()?;
        Ok(Self {
            depth,
            stem,
            stages,
            fc,
            num_classes,
            device,
            precision,
        })
    }
}

impl ResNet {
    /// `(stage, block)` of a canonical block name `layerS.B`.
    fn block_index(&self, name: &str) -> Option<(usize, usize)> {
        let (s, b) = name.strip_prefix("layer")?.split_once('.')?;
        let (s, b) = (s.parse::<usize>().ok()?.checked_sub(1)?, b.parse().ok()?);
        (s < self.stages.len() && b < self.stages[s].len()).then_some((s, b))
    }

    /// The blocks from `(stage, block)` on (tapping each), then pooling and the classifier.
    fn run_blocks(&self, mut h: Tensor<4>, from: (usize, usize), tapper: &mut Tapper) -> Tensor<2> {
        for (s, blocks) in self.stages.iter().enumerate().skip(from.0) {
            let first = if s == from.0 { from.1 } else { 0 };
            for (bi, block) in blocks.iter().enumerate().skip(first) {
                h = block.forward(h, tapper);
                h = tapper.tap(&format!("layer{}.{bi}", s + 1), h);
            }
        }
        self.fc.forward(global_avg_pool(h))
    }
}

impl Network for ResNet {
    fn arch(&self) -> &str {
        self.depth.name()
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn layer_names(&self) -> Vec<String> {
        self.stages
            .iter()
            .enumerate()
            .flat_map(|(s, blocks)| (0..blocks.len()).map(move |b| format!("layer{}.{b}", s + 1)))
            .collect()
    }

    fn aliases(&self) -> Vec<(String, String)> {
        self.stages
            .iter()
            .enumerate()
            .map(|(s, blocks)| {
                (
                    format!("layer{}", s + 1),
                    format!("layer{}.{}", s + 1, blocks.len() - 1),
                )
            })
            .collect()
    }

    fn candidate_layers(&self) -> Vec<String> {
        self.layer_names()
    }

    fn baseline_layer(&self) -> String {
        "layer4".to_string()
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<2> {
        let h = relu(self.stem.forward(x, tapper));
        let pool = MaxPoolOptions::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1]);
        self.run_blocks(max_pool2d(h, pool), (0, 0), tapper)
    }

    fn forward_from(&self, layer: &str, h: Tensor<4>) -> Result<Tensor<2>> {
        let (s, b) = self.block_index(layer).ok_or_else(|| {
            ModelError::Input(format!("`{layer}` is not a block of {}", self.arch()))
        })?;
        let next = if b + 1 < self.stages[s].len() {
            (s, b + 1)
        } else {
            (s + 1, 0)
        };
        Ok(self.run_blocks(h, next, &mut Tapper::none()))
    }
}
