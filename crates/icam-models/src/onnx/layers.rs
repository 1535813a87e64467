//! Which activations of an ONNX graph are layers, what they are called, and the default
//! layers of the methods.
//!
//! - **Tappable layers**: every 4-D channels-first activation the graph computes (ConvNeXt's
//!   channels-last tensors between its transposes are not).
//! - **Names**: a layer's canonical name is its node's name in the file (e.g.
//!   `/layer4/layer4.2/relu_2/Relu`), or its output tensor's name when the node has no unique
//!   name. Its output tensor name is an alias, and so is every PyTorch module path whose last
//!   tappable activation it is (`layer4.2`, `layer4`, `features.denseblock4`): the tensor a
//!   forward hook on that module would see.
//! - **I-CAM candidates** (one rule for every graph): the *block outputs*, where computed
//!   branches join — an `Add` of two activations (a residual connection) or a `Concat` of two or
//!   more (Inception, SqueezeNet's Fire, DenseNet) — taken after the pointwise activation that
//!   directly follows the join when that activation is its only reader (ResNet's ReLU after
//!   the add, so the 16 candidates of an exported ResNet-50 are the native model's 16 block
//!   outputs). A Concat whose inputs all go into a later Concat is not a block output
//!   (DenseNet re-concatenates its growing feature list in every layer; only each dense
//!   block's last concatenation counts). 1×1 activations are skipped. A graph with fewer than
//!   two block outputs (VGG) takes instead the last activation at each spatial resolution.
//! - **I-CAM candidates under the block-activation rule** (`CandidateRule::BlockActivations`,
//!   the recommended preset): in a graph of inverted-residual blocks (MobileNet, EfficientNet:
//!   at least two depthwise convolutions), the activation directly after each depthwise
//!   convolution (and its BatchNormalization) — ReLU6 (`Clip`), ReLU, HardSwish, or SiLU exported
//!   as `x · Sigmoid(x)` — plus the baseline layer, as the native EfficientNet-Lite's
//!   `_blocks.i._depthwise_act` and `_head_act`: the block-output rule above finds those graphs'
//!   linear (signed) residual sums instead. Unlike ReLU6, SiLU and HardSwish dip slightly below
//!   zero. Any other graph keeps its block outputs under this rule.
//! - **Baseline layer**: the last tappable activation larger than 1×1 that is not a pooling
//!   output — the tensor that global pooling or the classifier's flatten reads.

use std::collections::{BTreeSet, HashMap};

use super::ops::is_activation;
use super::program::{Operand, Program};
use super::value::{Layout, Meta};

/// One tappable activation.
#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub slot: usize,
    pub op: String,
    /// `[channels, height, width]` at the input size used at load.
    pub shape: [usize; 3],
}

/// Layers, aliases and defaults of a program.
#[derive(Clone, Debug)]
pub struct LayerSet {
    pub layers: Vec<Layer>,
    pub aliases: Vec<(String, String)>,
    pub candidates: Vec<String>,
    /// The candidates under the block-activation rule (module docs).
    pub activation_candidates: Vec<String>,
    pub baseline: String,
}

fn chw(m: &Meta) -> Option<[usize; 3]> {
    match m {
        Meta::Dev {
            shape,
            layout: Layout::Nchw,
        } if shape.len() == 4 => Some([shape[1], shape[2], shape[3]]),
        _ => None,
    }
}

fn is_pool(op: &str) -> bool {
    matches!(op, "MaxPool" | "AveragePool")
}

pub fn layer_set(p: &Program) -> Result<LayerSet, String> {
    let g = &p.graph;
    let mut name_count: HashMap<&str, usize> = HashMap::new();
    for n in &g.nodes {
        *name_count.entry(n.name.as_str()).or_default() += 1;
    }
    let mut layers = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for instr in &p.instrs {
        let Some(shape) = chw(&p.metas[instr.output]) else {
            continue;
        };
        let node = p.node(instr);
        let name = if !node.name.is_empty()
            && name_count[node.name.as_str()] == 1
            && !used.contains(&node.name)
        {
            node.name.clone()
        } else {
            node.outputs[0].clone()
        };
        used.insert(name.clone());
        layers.push(Layer {
            name,
            slot: instr.output,
            op: instr.op.clone(),
            shape,
        });
    }
    if layers.is_empty() {
        return Err("the graph computes no 4-D channels-first activation to explain".into());
    }
    let by_slot: HashMap<usize, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.slot, i))
        .collect();

    // Aliases: tensor names, node names, module paths.
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut module_last: Vec<(String, usize)> = Vec::new();
    for l in &layers {
        let instr = p.producer(l.slot).expect("a computed layer");
        let node = p.node(instr);
        let t = &node.outputs[0];
        if *t != l.name && !used.contains(t) {
            aliases.push((t.clone(), l.name.clone()));
        }
        for s in &node.scopes {
            match module_last.iter_mut().find(|(m, _)| m == s) {
                Some(e) => e.1 = l.slot,
                None => module_last.push((s.clone(), l.slot)),
            }
        }
    }
    for (m, slot) in module_last {
        if !used.contains(&m) && !aliases.iter().any(|(a, _)| *a == m) {
            aliases.push((m, layers[by_slot[&slot]].name.clone()));
        }
    }

    // Readers of each slot.
    let mut readers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, instr) in p.instrs.iter().enumerate() {
        for o in instr.inputs.iter().flatten() {
            if let Operand::Slot(s) = o {
                readers.entry(*s).or_default().push(i);
            }
        }
    }
    let slot_inputs = |i: usize| -> Vec<usize> {
        p.instrs[i]
            .inputs
            .iter()
            .flatten()
            .filter_map(|o| match o {
                Operand::Slot(s) => Some(*s),
                _ => None,
            })
            .collect()
    };
    let four = |s: usize| chw(&p.metas[s]).is_some();
    let mut merges: Vec<usize> = Vec::new();
    for (i, instr) in p.instrs.iter().enumerate() {
        let ins = slot_inputs(i);
        let joined = match instr.op.as_str() {
            "Add" => ins.len() == 2 && ins.iter().all(|&s| four(s)) && ins[0] != ins[1],
            "Concat" => ins.len() >= 2 && ins.iter().all(|&s| four(s)),
            _ => false,
        };
        if joined && four(instr.output) {
            merges.push(i);
        }
    }
    let concat_inputs: Vec<(usize, BTreeSet<usize>)> = merges
        .iter()
        .filter(|&&i| p.instrs[i].op == "Concat")
        .map(|&i| (i, slot_inputs(i).into_iter().collect()))
        .collect();
    let mut candidates: Vec<usize> = Vec::new();
    for &i in &merges {
        if p.instrs[i].op == "Concat" {
            let mine: BTreeSet<usize> = slot_inputs(i).into_iter().collect();
            if concat_inputs
                .iter()
                .any(|(j, other)| *j > i && mine.is_subset(other))
            {
                continue;
            }
        }
        let mut out = p.instrs[i].output;
        if let Some(r) = readers.get(&out)
            && r.len() == 1
            && is_activation(&p.instrs[r[0]].op)
            && four(p.instrs[r[0]].output)
        {
            out = p.instrs[r[0]].output;
        }
        if let Some(&li) = by_slot.get(&out)
            && layers[li].shape[1] * layers[li].shape[2] > 1
            && !candidates.contains(&li)
        {
            candidates.push(li);
        }
    }
    let spatial = |l: &Layer| l.shape[1] * l.shape[2] > 1;
    if candidates.len() < 2 {
        candidates.clear();
        for (i, l) in layers.iter().enumerate() {
            if !spatial(l) || is_pool(&l.op) {
                continue;
            }
            let later_same = layers[i + 1..]
                .iter()
                .take_while(|m| m.shape[1..] == l.shape[1..])
                .any(|m| !is_pool(&m.op));
            if !later_same {
                candidates.push(i);
            }
        }
    }
    let baseline = layers
        .iter()
        .rev()
        .find(|l| spatial(l) && !is_pool(&l.op))
        .or(layers.last())
        .map(|l| l.name.clone())
        .expect("layers is not empty");
    if candidates.is_empty() {
        candidates.push(
            layers
                .iter()
                .position(|l| l.name == baseline)
                .expect("a layer"),
        );
    }
    let mut activation_candidates: Vec<String> = depthwise_activations(p, &readers)
        .into_iter()
        .filter_map(|s| by_slot.get(&s).map(|&i| &layers[i]))
        .filter(|l| spatial(l))
        .map(|l| l.name.clone())
        .collect();
    if activation_candidates.len() < 2 {
        activation_candidates = candidates.iter().map(|&i| layers[i].name.clone()).collect();
    } else if !activation_candidates.contains(&baseline) {
        activation_candidates.push(baseline.clone());
    }
    Ok(LayerSet {
        candidates: candidates.iter().map(|&i| layers[i].name.clone()).collect(),
        activation_candidates,
        layers,
        aliases,
        baseline,
    })
}

/// The output slots of the activation directly after each depthwise convolution (groups equal
/// to its output channels, more than one), in forward order: the convolution's output, or its
/// BatchNormalization's when not folded, read by one pointwise activation, or by the pair
/// `Sigmoid` and `Mul` of an exported SiLU.
fn depthwise_activations(p: &Program, readers: &HashMap<usize, Vec<usize>>) -> Vec<usize> {
    let g = &p.graph;
    let by_output: HashMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let only_reader = |s: usize| match readers.get(&s).map(Vec::as_slice) {
        Some([r]) => Some(*r),
        _ => None,
    };
    let mut out = Vec::new();
    for instr in &p.instrs {
        if !instr.op.starts_with("Conv") {
            continue;
        }
        // A folded BatchNormalization is the instruction's node; its input is the Conv's.
        let mut node = p.node(instr);
        if node.op == "BatchNormalization" {
            match node.inputs.first().and_then(|t| by_output.get(t.as_str())) {
                Some(&c) => node = &g.nodes[c],
                None => continue,
            }
        }
        let channels = chw(&p.metas[instr.output]).map(|c| c[0]);
        let groups = node.int("group").ok().flatten().unwrap_or(1);
        if node.op != "Conv" || groups <= 1 || channels != Some(groups as usize) {
            continue;
        }
        let mut s = instr.output;
        if let Some(r) = only_reader(s)
            && p.instrs[r].op == "BatchNormalization"
        {
            s = p.instrs[r].output;
        }
        let Some(rs) = readers.get(&s) else { continue };
        let act = match rs.as_slice() {
            [r] if is_activation(&p.instrs[*r].op) => Some(p.instrs[*r].output),
            [a, b] => {
                let (sig, mul) = if p.instrs[*a].op == "Sigmoid" {
                    (*a, *b)
                } else {
                    (*b, *a)
                };
                let reads = |i: usize, x: usize| {
                    p.instrs[i]
                        .inputs
                        .iter()
                        .flatten()
                        .any(|o| matches!(o, Operand::Slot(v) if *v == x))
                };
                (p.instrs[sig].op == "Sigmoid"
                    && p.instrs[mul].op == "Mul"
                    && reads(mul, s)
                    && reads(mul, p.instrs[sig].output))
                .then_some(p.instrs[mul].output)
            }
            _ => None,
        };
        out.extend(act);
    }
    out
}
