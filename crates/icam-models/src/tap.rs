//! Gradient taps: run a batch, record the activations of named layers and differentiate a
//! per-sample scalar with respect to each of them and to the input.
//!
//! A tap adds a zero leaf to the activation (`h + 0`, the leaf requiring gradients): the value
//! is unchanged and the leaf's gradient is the gradient of the activation. Only the input (when
//! asked) and the leaves require gradients, so burn never computes weight gradients, and when
//! the input gradient is not needed the backward pass stops at the earliest tap.

use burn::tensor::activation::softmax;
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::error::{ModelError, Result};
use crate::host::{HostTensor, Precision};

/// The scalar one sample contributes to the differentiated objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// The pre-softmax logit `S^c` of class `c`.
    Logit(usize),
    /// The softmax probability `Y^c` of class `c` (its full derivative, through every logit).
    Prob(usize),
    /// The sample contributes nothing (its gradients are zero).
    None,
}

/// One tappable layer, as `icam layers` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerInfo {
    pub name: String,
    /// The operation producing it (`block output`, `Relu`, `Conv+BatchNormalization`, ...).
    pub op: String,
    /// `[channels, height, width]` at the model's input size, when known without running.
    pub shape: Option<Vec<usize>>,
}

/// Which layers are I-CAM's candidates: a rule each architecture applies to its own blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateRule {
    /// The block outputs, as the paper (METHOD A8, A26): ResNet `layer1.0 … layer4.2`,
    /// EfficientNet-Lite `_blocks.0 … _blocks.N` (linear bottlenecks, so signed).
    BlockOutputs,
    /// The last non-negative activation of each block, plus the head's (issue 8): ResNet's
    /// block outputs (they end in a ReLU, so the same as `BlockOutputs`); EfficientNet-Lite's
    /// ReLU6 after each depthwise convolution, `_blocks.i._depthwise_act`, and `_head_act`.
    BlockActivations,
}

impl CandidateRule {
    pub const ALL: [CandidateRule; 2] = [Self::BlockOutputs, Self::BlockActivations];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::BlockOutputs => "block_outputs",
            Self::BlockActivations => "block_activations",
        }
    }
}

/// A network the tap machinery can run. Implemented by every architecture of the zoo and by
/// imported ONNX graphs.
pub trait Network: Send + Sync {
    /// Architecture name (`resnet50`, `efficientnet_lite0`, ...).
    fn arch(&self) -> &str;
    /// Number of output classes (read from the classifier weights).
    fn num_classes(&self) -> usize;
    /// Every tappable layer, canonical names, in forward order.
    fn layer_names(&self) -> Vec<String>;
    /// Aliases accepted for taps, as `(alias, canonical name)`.
    fn aliases(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// I-CAM's candidate layers under the paper's rule, the block outputs (METHOD A8, A26).
    fn candidate_layers(&self) -> Vec<String>;
    /// I-CAM's candidate layers under `rule`. Architectures whose block outputs are already
    /// non-negative activations (and networks that know no finer rule) keep the default: the
    /// block outputs for every rule.
    fn candidates(&self, rule: CandidateRule) -> Vec<String> {
        let _ = rule;
        self.candidate_layers()
    }
    /// The default single layer of the Grad-CAM-style baselines (A21, A26).
    fn baseline_layer(&self) -> String;
    /// Device and precision the weights live on.
    fn device(&self) -> &Device;
    fn precision(&self) -> Precision;
    /// Forward pass; `tapper.tap(name, h)` is called at every tappable layer in order, and
    /// `tapper.tap_bias(name, h, bias)` at every bias-add (FullGrad), where the network can. The
    /// input must have passed [`Network::validate_input`].
    fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<2>;

    /// Every tappable layer with the operation producing it (shapes unknown by default; see
    /// [`describe_layers`]).
    fn layer_info(&self) -> Vec<LayerInfo> {
        self.layer_names()
            .into_iter()
            .map(|name| LayerInfo {
                name,
                op: "block output".into(),
                shape: None,
            })
            .collect()
    }

    /// Whether an input of `shape` (`[batch, 3, H, W]`) can run, before any work is done.
    fn validate_input(&self, shape: &[usize]) -> Result<()> {
        check_rgb_batch(self, shape)
    }

    /// The rest of the forward pass after tappable layer `layer` (a canonical name): `h` is
    /// that layer's output `[batch, K, h, w]`; returns the logits. Lets gradient-free methods
    /// (Ablation-CAM) run only the part of the network after the layer they edit.
    ///
    /// The default says [`ModelError::Unsupported`]; callers then run the whole network with
    /// [`Tapper::replacing`] (see [`logits_replacing`]).
    fn forward_from(&self, layer: &str, h: Tensor<4>) -> Result<Tensor<2>> {
        let _ = h;
        Err(ModelError::Unsupported(format!(
            "{} cannot run from layer `{layer}` onwards",
            self.arch()
        )))
    }

    /// Canonical name of a requested layer, or an error listing the valid names.
    fn resolve_layer(&self, name: &str) -> Result<String> {
        let names = self.layer_names();
        if names.iter().any(|n| n == name) {
            return Ok(name.to_string());
        }
        if let Some((_, c)) = self.aliases().into_iter().find(|(a, _)| a == name) {
            return Ok(c);
        }
        let mut valid = names;
        valid.extend(self.aliases().into_iter().map(|(a, _)| a));
        Err(ModelError::UnknownLayer {
            arch: self.arch().to_string(),
            name: name.to_string(),
            valid,
        })
    }
}

/// A bias term seen during a forward pass: its name, the bias (one value per channel) and the
/// zero leaf whose gradient is the gradient of the bias-add's output.
type BiasTap = (String, Tensor<1>, Tensor<4>);

/// A zero tensor shaped like `h` that requires its gradient: the leaf of a tap (`h + leaf`).
/// Built from a typed vector of zeros, because burn Flex's `zeros`/`zeros_like` allocate bytes
/// and then copy them once more to realign them (a memset and a memcpy of every tapped
/// activation); other dtypes keep `zeros_like`.
fn zero_leaf(h: &Tensor<4>) -> Tensor<4> {
    let shape = h.shape();
    let n = shape.num_elements();
    let dtype = h.dtype();
    let data = match dtype {
        DType::F32 => TensorData::new(vec![0f32; n], shape),
        DType::F64 => TensorData::new(vec![0f64; n], shape),
        _ => return h.zeros_like().require_grad(),
    };
    Tensor::from_data(data, (&h.device(), dtype)).require_grad()
}

/// Records the activations of the requested layers during a forward pass; optionally adds a
/// gradient leaf at every bias-add (FullGrad), or replaces one layer's output (Ablation-CAM
/// without [`Network::forward_from`]).
pub struct Tapper {
    wanted: Vec<String>,
    grads: bool,
    found: Vec<Option<(Tensor<4>, Option<Tensor<4>>)>>,
    bias_grads: bool,
    biases: Vec<BiasTap>,
    replace: Option<(String, Tensor<4>)>,
}

impl Tapper {
    /// Tap `layers` (canonical names); `grads` adds a gradient leaf to each.
    pub fn new(layers: &[String], grads: bool) -> Self {
        Self {
            wanted: layers.to_vec(),
            grads,
            found: vec![None; layers.len()],
            bias_grads: false,
            biases: Vec::new(),
            replace: None,
        }
    }

    /// A tapper that continues with `with` instead of the output of `layer` (canonical name).
    pub fn replacing(layer: &str, with: Tensor<4>) -> Self {
        let mut t = Self::none();
        t.replace = Some((layer.to_string(), with));
        t
    }

    /// Called by networks after every bias-add (a convolution's bias, a folded BatchNorm),
    /// with the layer's name and its bias; returns the tensor to continue with. Records a
    /// gradient leaf when the run asks for bias gradients (FullGrad).
    pub fn tap_bias(&mut self, name: &str, h: Tensor<4>, bias: &Tensor<1>) -> Tensor<4> {
        if !self.bias_grads {
            return h;
        }
        let leaf = zero_leaf(&h);
        self.biases
            .push((name.to_string(), bias.clone(), leaf.clone()));
        h + leaf
    }

    /// A tapper that records nothing.
    pub fn none() -> Self {
        Self::new(&[], false)
    }

    /// Called by networks at every tappable layer; returns the tensor to continue with.
    pub fn tap(&mut self, name: &str, h: Tensor<4>) -> Tensor<4> {
        if self.replace.as_ref().is_some_and(|(l, _)| l == name) {
            return self.replace.take().expect("checked").1;
        }
        let Some(i) = self.wanted.iter().position(|w| w == name) else {
            return h;
        };
        if self.grads {
            let leaf = zero_leaf(&h);
            let h = h + leaf.clone();
            self.found[i] = Some((h.clone(), Some(leaf)));
            h
        } else {
            self.found[i] = Some((h.clone(), None));
            h
        }
    }
}

/// What a traced run returns: logits, and per tapped layer its activation and the gradient of
/// the objective with respect to it; optionally the gradient with respect to the input.
#[derive(Clone, Debug)]
pub struct Trace {
    /// `[batch, classes]`.
    pub logits: HostTensor,
    /// Tapped layer names, as requested.
    pub layers: Vec<String>,
    /// `[batch, K, h, w]` per layer.
    pub activations: Vec<HostTensor>,
    /// `[batch, K, h, w]` per layer: ∂(Σ_b objective_b)/∂A, i.e. each sample's own gradient
    /// (eval-mode BatchNorm keeps samples independent, A24).
    pub grads: Vec<HostTensor>,
    /// `[batch, 3, H, W]`, when requested.
    pub input_grad: Option<HostTensor>,
    /// Every bias term of the network with the gradient of its output, in forward order,
    /// when requested ([`TraceExtras::bias_grads`]); empty for networks that call no
    /// [`Tapper::tap_bias`].
    pub biases: Vec<BiasGrad>,
}

/// One bias term of a traced run (FullGrad).
#[derive(Clone, Debug)]
pub struct BiasGrad {
    /// The layer's name (a BatchNorm's or a convolution's).
    pub name: String,
    /// One value per channel.
    pub bias: Vec<f64>,
    /// `[batch, C, h, w]`: the gradient of the objective with respect to the bias-add's
    /// output (equivalently, per position, with respect to the bias).
    pub grad: HostTensor,
}

/// What a traced run differentiates besides the tapped layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceExtras {
    /// The gradient with respect to the input.
    pub input_grad: bool,
    /// The gradient at every bias-add ([`Trace::biases`]).
    pub bias_grads: bool,
}

/// Run `input` (`[batch, 3, H, W]`, model-input space) through `net` with taps at `layers`
/// (names or aliases) and differentiate `Σ_b objectives[b]`.
pub fn trace(
    net: &dyn Network,
    input: &HostTensor,
    layers: &[String],
    objectives: &[Objective],
    input_grad: bool,
) -> Result<Trace> {
    trace_with(net, input, layers, input_grad, |_| Ok(objectives.to_vec()))
}

/// As [`trace`], with the objectives chosen after the forward pass from the logits
/// (`[batch, classes]`), e.g. from the predicted class of the first sample.
pub fn trace_with(
    net: &dyn Network,
    input: &HostTensor,
    layers: &[String],
    input_grad: bool,
    objectives: impl FnOnce(&HostTensor) -> Result<Vec<Objective>>,
) -> Result<Trace> {
    let extras = TraceExtras {
        input_grad,
        bias_grads: false,
    };
    trace_core(net, input, layers, extras, |logits, host, device| {
        let objectives = objectives(host)?;
        objective_tensor(net, logits, &objectives, device)
    })
}

/// As [`trace_with`], for an objective given by its gradient with respect to the logits:
/// `seeds` returns, from the logits `[batch, classes]`, `∂O/∂logits` (`batch × classes`,
/// row-major), and the run differentiates `Σ_b Σ_j seed_bj · logit_bj`, whose gradients are
/// `∂O/∂A` by the chain rule (any objective that depends on the input only through the
/// logits, e.g. Finer-CAM's weighted class difference). `extras` adds the input and bias
/// gradients.
pub fn trace_seeded(
    net: &dyn Network,
    input: &HostTensor,
    layers: &[String],
    extras: TraceExtras,
    seeds: impl FnOnce(&HostTensor) -> Result<Vec<f64>>,
) -> Result<Trace> {
    trace_core(net, input, layers, extras, |logits, host, device| {
        let [batch, classes] = logits.dims();
        let seed = seeds(host)?;
        if seed.len() != batch * classes {
            return Err(ModelError::Input(format!(
                "{} logit seeds for a batch of {batch} with {classes} classes",
                seed.len()
            )));
        }
        if seed.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Input("a logit seed is NaN or infinite".into()));
        }
        let dtype = net.precision().dtype();
        let seed: Tensor<2> =
            Tensor::from_data(TensorData::new(seed, [batch, classes]), (device, dtype));
        Ok((logits.clone() * seed).sum())
    })
}

/// `Σ_b (logit mask ⊙ logits + prob mask ⊙ softmax(logits))` for per-sample objectives.
fn objective_tensor(
    net: &dyn Network,
    logits: &Tensor<2>,
    objectives: &[Objective],
    device: &Device,
) -> Result<Tensor<1>> {
    let [batch, classes] = logits.dims();
    if objectives.len() != batch {
        return Err(ModelError::Input(format!(
            "{} objectives for a batch of {batch}",
            objectives.len()
        )));
    }
    for o in objectives {
        if let Objective::Logit(c) | Objective::Prob(c) = *o
            && c >= classes
        {
            return Err(ModelError::Input(format!(
                "class {c} is out of range: the model has {classes} classes (0..{})",
                classes - 1
            )));
        }
    }
    let mut logit_mask = vec![0.0f64; batch * classes];
    let mut prob_mask = vec![0.0f64; batch * classes];
    for (b, o) in objectives.iter().enumerate() {
        match *o {
            Objective::Logit(c) => logit_mask[b * classes + c] = 1.0,
            Objective::Prob(c) => prob_mask[b * classes + c] = 1.0,
            Objective::None => {}
        }
    }
    let dtype = net.precision().dtype();
    let mask = |m: Vec<f64>| -> Tensor<2> {
        Tensor::from_data(TensorData::new(m, [batch, classes]), (device, dtype))
    };
    let any_prob = objectives.iter().any(|o| matches!(o, Objective::Prob(_)));
    let mut obj = (logits.clone() * mask(logit_mask)).sum();
    if any_prob {
        obj = obj + (softmax(logits.clone(), 1) * mask(prob_mask)).sum();
    }
    Ok(obj)
}

/// The traced run: forward on the autodiff device with taps, the objective built from the
/// logits by `objective`, one backward pass, everything read back to the host.
fn trace_core(
    net: &dyn Network,
    input: &HostTensor,
    layers: &[String],
    extras: TraceExtras,
    objective: impl FnOnce(&Tensor<2>, &HostTensor, &Device) -> Result<Tensor<1>>,
) -> Result<Trace> {
    check_input(net, input)?;
    let canonical = layers
        .iter()
        .map(|l| net.resolve_layer(l))
        .collect::<Result<Vec<_>>>()?;
    let mut unique: Vec<String> = Vec::new();
    for c in &canonical {
        if !unique.contains(c) {
            unique.push(c.clone());
        }
    }
    let device = net.device().clone().autodiff();
    let mut x: Tensor<4> = input.to_burn(&device, net.precision())?;
    if extras.input_grad {
        x = x.require_grad();
    }
    let mut tapper = Tapper::new(&unique, true);
    tapper.bias_grads = extras.bias_grads;
    let logits = net.forward(x.clone(), &mut tapper);
    let host_logits = HostTensor::from_burn(logits.clone().detach())?;
    let obj = objective(&logits, &host_logits, &device)?;
    let want_backward = extras.input_grad || extras.bias_grads || !unique.is_empty();
    let grads = want_backward.then(|| obj.backward());

    let mut activations = Vec::with_capacity(canonical.len());
    let mut tap_grads = Vec::with_capacity(canonical.len());
    let found = std::mem::take(&mut tapper.found);
    let mut host_cache: Vec<Option<(HostTensor, HostTensor)>> = vec![None; unique.len()];
    for (i, entry) in found.into_iter().enumerate() {
        let Some((value, leaf)) = entry else {
            return Err(ModelError::Input(format!(
                "layer `{}` was not reached by the forward pass",
                unique[i]
            )));
        };
        let leaf = leaf.expect("taps with gradients have a leaf");
        let g = grads
            .as_ref()
            .and_then(|gr| leaf.grad(gr))
            .unwrap_or_else(|| value.zeros_like().detach());
        host_cache[i] = Some((
            HostTensor::from_burn(value.detach())?,
            HostTensor::from_burn(g)?,
        ));
    }
    for c in &canonical {
        let i = unique
            .iter()
            .position(|u| u == c)
            .expect("unique holds every canonical name");
        let (a, g) = host_cache[i].clone().expect("filled above");
        activations.push(a);
        tap_grads.push(g);
    }
    let mut biases = Vec::with_capacity(tapper.biases.len());
    for (name, bias, leaf) in std::mem::take(&mut tapper.biases) {
        let g = grads
            .as_ref()
            .and_then(|gr| leaf.grad(gr))
            .unwrap_or_else(|| leaf.zeros_like().detach());
        biases.push(BiasGrad {
            name,
            bias: HostTensor::from_burn(bias)?.to_f64(),
            grad: HostTensor::from_burn(g)?,
        });
    }
    let input_grad = match (extras.input_grad, grads.as_ref()) {
        (true, Some(gr)) => Some(HostTensor::from_burn(
            x.grad(gr).unwrap_or_else(|| x.zeros_like().detach()),
        )?),
        _ => None,
    };
    Ok(Trace {
        logits: host_logits,
        layers: layers.to_vec(),
        activations,
        grads: tap_grads,
        input_grad,
        biases,
    })
}

/// Forward only: logits `[batch, classes]`.
pub fn logits(net: &dyn Network, input: &HostTensor) -> Result<HostTensor> {
    check_input(net, input)?;
    let x: Tensor<4> = input.to_burn(net.device(), net.precision())?;
    HostTensor::from_burn(net.forward(x, &mut Tapper::none()))
}

/// Forward only, on the plain device (no autodiff graph): logits `[batch, classes]` and the
/// outputs of `layers` (names or aliases), each `[batch, K, h, w]`.
pub fn activations(
    net: &dyn Network,
    input: &HostTensor,
    layers: &[String],
) -> Result<(HostTensor, Vec<HostTensor>)> {
    check_input(net, input)?;
    let canonical = layers
        .iter()
        .map(|l| net.resolve_layer(l))
        .collect::<Result<Vec<_>>>()?;
    let x: Tensor<4> = input.to_burn(net.device(), net.precision())?;
    let mut tapper = Tapper::new(&canonical, false);
    let logits = HostTensor::from_burn(net.forward(x, &mut tapper))?;
    let acts = tapper
        .found
        .into_iter()
        .zip(&canonical)
        .map(|(f, name)| match f {
            Some((a, _)) => HostTensor::from_burn(a),
            None => Err(ModelError::Input(format!(
                "layer `{name}` was not reached by the forward pass"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((logits, acts))
}

/// Forward only from layer `layer` (name or alias) onwards: `acts` is a batch of that layer's
/// outputs `[batch, K, h, w]`; returns the logits. [`ModelError::Unsupported`] when the
/// network cannot start there ([`Network::forward_from`]); use [`logits_replacing`] then.
pub fn logits_from(net: &dyn Network, layer: &str, acts: &HostTensor) -> Result<HostTensor> {
    let layer = net.resolve_layer(layer)?;
    if acts.shape.len() != 4 || acts.shape[0] == 0 {
        return Err(ModelError::Input(format!(
            "activations of `{layer}` must be [batch, K, h, w], got {:?}",
            acts.shape
        )));
    }
    let h: Tensor<4> = acts.to_burn(net.device(), net.precision())?;
    HostTensor::from_burn(net.forward_from(&layer, h)?)
}

/// Forward only through the whole network on `input` (`[batch, 3, H, W]`), with the output of
/// `layer` replaced by `acts` (same batch): the fallback of [`logits_from`] for networks
/// without [`Network::forward_from`].
pub fn logits_replacing(
    net: &dyn Network,
    input: &HostTensor,
    layer: &str,
    acts: &HostTensor,
) -> Result<HostTensor> {
    check_input(net, input)?;
    let layer = net.resolve_layer(layer)?;
    if acts.shape.first() != input.shape.first() {
        return Err(ModelError::Input(format!(
            "{} replacement activations for a batch of {}",
            acts.shape.first().unwrap_or(&0),
            input.shape[0]
        )));
    }
    let x: Tensor<4> = input.to_burn(net.device(), net.precision())?;
    let h: Tensor<4> = acts.to_burn(net.device(), net.precision())?;
    let mut tapper = Tapper::replacing(&layer, h);
    let logits = net.forward(x, &mut tapper);
    if tapper.replace.is_some() {
        return Err(ModelError::Input(format!(
            "layer `{layer}` was not reached by the forward pass"
        )));
    }
    HostTensor::from_burn(logits)
}

fn check_input(net: &dyn Network, input: &HostTensor) -> Result<()> {
    net.validate_input(&input.shape)
}

/// The default input check: a non-empty batch of RGB images of at least 32×32.
pub fn check_rgb_batch<N: Network + ?Sized>(net: &N, shape: &[usize]) -> Result<()> {
    match shape {
        [b, 3, h, w] if *b > 0 && *h >= 32 && *w >= 32 => Ok(()),
        s => Err(ModelError::Input(format!(
            "{} expects a batch of RGB images [batch, 3, H, W] with H, W >= 32, got {s:?}",
            net.arch()
        ))),
    }
}

/// Every tappable layer of `net` with its shape for an input of `height`×`width`: the
/// network's own description, with shapes it does not know read from one forward pass (no
/// gradients) on a blank image.
pub fn describe_layers(net: &dyn Network, height: usize, width: usize) -> Result<Vec<LayerInfo>> {
    let mut info = net.layer_info();
    if info.iter().all(|l| l.shape.is_some()) {
        return Ok(info);
    }
    let shape = vec![1, 3, height, width];
    net.validate_input(&shape)?;
    let input = HostTensor::f32(shape, vec![0.0; 3 * height * width]);
    let names: Vec<String> = info.iter().map(|l| l.name.clone()).collect();
    let x: Tensor<4> = input.to_burn(net.device(), net.precision())?;
    let mut tapper = Tapper::new(&names, false);
    let _ = net.forward(x, &mut tapper);
    for (l, found) in info.iter_mut().zip(tapper.found) {
        if l.shape.is_none()
            && let Some((t, _)) = found
        {
            l.shape = Some(t.dims()[1..].to_vec());
        }
    }
    Ok(info)
}
