//! Compilation of a [`Graph`] into a straight-line program of kernels over numbered value
//! slots, with shape inference (run at load for the graph's own input size, and again for any
//! other input size before it is used) and the interpreter that runs it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use burn::tensor::{Device, Tensor};

use super::fold::{self, HOST_OPS};
use super::graph::{Graph, NodeDef};
use super::ops::{self, ConvWeights, Ctx, DEVICE_OPS, Kernel, fold_batch_norm};
use super::tensor::Const;
use super::value::{Ft, Layout, Meta, Value};
use crate::host::Precision;
use crate::tap::Tapper;

/// Where an instruction input comes from.
#[derive(Clone, Debug)]
pub enum Operand {
    Slot(usize),
    Const(Arc<Const>),
}

#[derive(Debug)]
pub enum Exec {
    Device(Box<dyn Kernel>),
    /// Evaluated on the host (integer shape arithmetic).
    Host,
}

#[derive(Debug)]
pub struct Instr {
    /// Index of the node in [`Graph::nodes`] whose output this is (for a Conv with a folded
    /// BatchNormalization: the BatchNormalization).
    pub node: usize,
    /// The operator, as listed (`Conv`, `Conv+BatchNormalization`, ...).
    pub op: String,
    pub exec: Exec,
    pub inputs: Vec<Option<Operand>>,
    /// Per input: this is the slot's last use (move instead of clone).
    pub last_use: Vec<bool>,
    pub output: usize,
    /// The layer name under which the output is tapped (4-D channels-first activations).
    pub tap: Option<String>,
}

#[derive(Debug)]
pub struct Program {
    pub graph: Graph,
    pub instrs: Vec<Instr>,
    pub n_slots: usize,
    pub output: usize,
    /// Shapes and layouts at the input size used at load.
    pub metas: Vec<Meta>,
    pub probe: Vec<usize>,
}

fn is_default_domain(d: &str) -> bool {
    d.is_empty() || d == "ai.onnx"
}

/// The nodes the output depends on.
fn needed(g: &Graph) -> Vec<bool> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for o in &n.outputs {
            producer.insert(o, i);
        }
    }
    let mut need = vec![false; g.nodes.len()];
    let mut stack: Vec<&str> = vec![&g.output];
    while let Some(t) = stack.pop() {
        if let Some(&i) = producer.get(t)
            && !need[i]
        {
            need[i] = true;
            stack.extend(g.nodes[i].inputs.iter().map(String::as_str));
        }
    }
    need
}

impl Program {
    /// Compile `graph` for `device`/`precision`, inferring shapes for an input of `probe`.
    pub fn compile(
        graph: Graph,
        probe: Vec<usize>,
        device: &Device,
        precision: Precision,
    ) -> Result<Self, String> {
        let opset = graph.opset;
        let export_batch = graph.input.dims.first().copied().flatten();
        let need = needed(&graph);
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            if need[i] {
                for x in &n.inputs {
                    consumers.entry(x.as_str()).or_default().push(i);
                }
            }
        }
        let mut names: HashMap<String, Operand> = HashMap::new();
        for (k, c) in &graph.consts {
            names.insert(k.clone(), Operand::Const(c.clone()));
        }
        names.insert(graph.input.name.clone(), Operand::Slot(0));
        let mut metas: Vec<Meta> = vec![Meta::Dev {
            shape: probe.clone(),
            layout: Layout::Nchw,
        }];
        let mut instrs: Vec<Instr> = Vec::new();
        let mut absorbed: HashSet<usize> = HashSet::new();

        for (ni, node) in graph.nodes.iter().enumerate() {
            if !need[ni] || absorbed.contains(&ni) {
                continue;
            }
            let fail = |e: String| format!("{} (opset {opset}): {e}", node.label());
            if !is_default_domain(&node.domain) {
                return Err(fail(format!(
                    "operator {}::{} is not supported (custom domain)",
                    node.domain, node.op
                )));
            }
            let ins: Vec<Option<Operand>> = node
                .inputs
                .iter()
                .map(|n| {
                    if n.is_empty() {
                        Ok(None)
                    } else {
                        names.get(n).cloned().map(Some).ok_or_else(|| {
                            fail(format!("reads `{n}`, an output icam does not compute"))
                        })
                    }
                })
                .collect::<Result<_, _>>()?;
            let meta_of = |o: &Operand| -> Meta {
                match o {
                    Operand::Const(c) => Meta::Host(c.clone()),
                    Operand::Slot(s) => metas[*s].clone(),
                }
            };
            let all_const = ins.iter().flatten().all(|o| matches!(o, Operand::Const(_)));
            let all_host = ins
                .iter()
                .flatten()
                .all(|o| matches!(meta_of(o), Meta::Host(_)));
            let host_op = HOST_OPS.contains(&node.op.as_str());
            if all_const && host_op {
                let consts: Vec<Option<Arc<Const>>> = ins
                    .iter()
                    .map(|o| match o {
                        Some(Operand::Const(c)) => Some(c.clone()),
                        _ => None,
                    })
                    .collect();
                let v = fold::eval(node, &consts, opset)
                    .map_err(fail)?
                    .expect("a host op");
                let first = v.into_iter().next().expect("one output");
                names.insert(node.outputs[0].clone(), Operand::Const(Arc::new(first)));
                continue;
            }
            let (exec, op_label, out_node) = if all_host && host_op && node.op != "Shape" {
                (Exec::Host, node.op.clone(), ni)
            } else if DEVICE_OPS.contains(&node.op.as_str()) {
                let consts: Vec<Option<Arc<Const>>> = ins
                    .iter()
                    .map(|o| match o {
                        Some(Operand::Const(c)) => Some(c.clone()),
                        _ => None,
                    })
                    .collect();
                let ctx = Ctx {
                    node,
                    consts,
                    device,
                    precision,
                    opset,
                    export_batch,
                };
                // A Conv whose only reader is a BatchNormalization absorbs it.
                let bn = (node.op == "Conv")
                    .then(|| consumers.get(node.outputs[0].as_str()))
                    .flatten()
                    .filter(|c| c.len() == 1 && node.outputs[0] != graph.output)
                    .map(|c| c[0])
                    .filter(|&j| graph.nodes[j].op == "BatchNormalization");
                let folded = match bn {
                    Some(j) => {
                        let bnode = &graph.nodes[j];
                        let bconsts: Option<Vec<Option<Arc<Const>>>> = bnode
                            .inputs
                            .iter()
                            .enumerate()
                            .map(|(k, n)| {
                                if k == 0 {
                                    Some(None)
                                } else {
                                    match names.get(n) {
                                        Some(Operand::Const(c)) => Some(Some(c.clone())),
                                        _ => None,
                                    }
                                }
                            })
                            .collect();
                        match bconsts {
                            Some(bc) if bnode.inputs.len() == 5 => {
                                let bctx = Ctx {
                                    node: bnode,
                                    consts: bc,
                                    device,
                                    precision,
                                    opset,
                                    export_batch,
                                };
                                let bfail =
                                    |e: String| format!("{} (opset {opset}): {e}", bnode.label());
                                let [g, b, m, v] = ops::batch_norm_params(&bctx).map_err(bfail)?;
                                let eps = ops::bn_epsilon(&bctx).map_err(bfail)?;
                                let mut w = ConvWeights::of(&ctx).map_err(fail)?;
                                fold_batch_norm(&mut w, &g, &b, &m, &v, eps).map_err(bfail)?;
                                Some((j, w))
                            }
                            _ => None,
                        }
                    }
                    None => None,
                };
                match folded {
                    Some((j, w)) => {
                        absorbed.insert(j);
                        let k = ops::compile_conv(&ctx, w).map_err(fail)?;
                        (Exec::Device(k), "Conv+BatchNormalization".to_string(), j)
                    }
                    None => (
                        Exec::Device(ops::compile(&ctx).map_err(fail)?),
                        node.op.clone(),
                        ni,
                    ),
                }
            } else {
                return Err(fail(format!("operator {} is not supported", node.op)));
            };
            let onode = &graph.nodes[out_node];
            if onode
                .outputs
                .iter()
                .skip(1)
                .any(|o| !o.is_empty() && consumers.contains_key(o.as_str()))
            {
                return Err(fail("only the first output of a node can be used".into()));
            }
            let slot = metas.len();
            let instr = Instr {
                node: out_node,
                op: op_label,
                exec,
                inputs: ins,
                last_use: Vec::new(),
                output: slot,
                tap: None,
            };
            let m = infer_one(&instr, &metas, &graph, opset)
                .map_err(|e| format!("{} (opset {opset}): {e}", onode.label()))?;
            metas.push(m);
            names.insert(onode.outputs[0].clone(), Operand::Slot(slot));
            instrs.push(instr);
        }
        let output = match names.get(&graph.output) {
            Some(Operand::Slot(s)) => *s,
            _ => return Err("the graph output does not depend on the input".into()),
        };
        match &metas[output] {
            Meta::Dev { shape, .. } if shape.len() == 2 && shape[1] > 0 => {}
            m => {
                return Err(format!(
                    "the graph output `{}` has shape {:?}; icam needs class scores [batch, classes]",
                    graph.output,
                    m.shape()
                ));
            }
        }
        // Last uses: scan backwards.
        let mut seen: HashSet<usize> = HashSet::from([output]);
        for instr in instrs.iter_mut().rev() {
            let mut flags = vec![false; instr.inputs.len()];
            for (k, o) in instr.inputs.iter().enumerate().rev() {
                if let Some(Operand::Slot(s)) = o {
                    flags[k] = seen.insert(*s);
                }
            }
            instr.last_use = flags;
        }
        Ok(Self {
            graph,
            instrs,
            n_slots: metas.len(),
            output,
            metas,
            probe,
        })
    }

    /// Shapes of every slot for an input of shape `input`.
    pub fn infer(&self, input: &[usize]) -> Result<Vec<Meta>, String> {
        let mut metas = vec![Meta::Dev {
            shape: input.to_vec(),
            layout: Layout::Nchw,
        }];
        for instr in &self.instrs {
            let m = infer_one(instr, &metas, &self.graph, self.graph.opset).map_err(|e| {
                format!(
                    "{} (opset {}): {e}",
                    self.graph.nodes[instr.node].label(),
                    self.graph.opset
                )
            })?;
            metas.push(m);
        }
        Ok(metas)
    }

    /// Run the program on `x` (already checked by [`Program::infer`]).
    pub fn run(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<2> {
        let mut vals: Vec<Option<Value>> = vec![None; self.n_slots];
        vals[0] = Some(Value::Dev(Ft::R4(x)));
        for instr in &self.instrs {
            let ins: Vec<Option<Value>> = instr
                .inputs
                .iter()
                .zip(&instr.last_use)
                .map(|(o, &last)| match o {
                    None => None,
                    Some(Operand::Const(c)) => Some(Value::Host(c.clone())),
                    Some(Operand::Slot(s)) if last => vals[*s].take(),
                    Some(Operand::Slot(s)) => vals[*s].clone(),
                })
                .collect();
            let mut v = match &instr.exec {
                Exec::Device(k) => k.run(ins),
                Exec::Host => {
                    let consts: Vec<Option<Arc<Const>>> = ins
                        .into_iter()
                        .map(|v| match v {
                            Some(Value::Host(c)) => Some(c),
                            _ => None,
                        })
                        .collect();
                    let c = fold::eval(&self.graph.nodes[instr.node], &consts, self.graph.opset)
                        .ok()
                        .flatten()
                        .and_then(|v| v.into_iter().next())
                        .expect("checked by infer");
                    Value::Host(Arc::new(c))
                }
            };
            if let (Some(name), Value::Dev(Ft::R4(t))) = (&instr.tap, &v) {
                v = Value::Dev(Ft::R4(tapper.tap(name, t.clone())));
            }
            vals[instr.output] = Some(v);
        }
        match vals[self.output].take() {
            Some(Value::Dev(Ft::R2(t))) => t,
            _ => unreachable!("the output is [batch, classes], checked at load"),
        }
    }

    /// The node that produced slot `s` (`None` for the input).
    pub fn producer(&self, s: usize) -> Option<&Instr> {
        s.checked_sub(1).map(|i| &self.instrs[i])
    }

    pub fn node(&self, instr: &Instr) -> &NodeDef {
        &self.graph.nodes[instr.node]
    }
}

fn infer_one(instr: &Instr, metas: &[Meta], graph: &Graph, opset: i64) -> Result<Meta, String> {
    let ins: Vec<Option<Meta>> = instr
        .inputs
        .iter()
        .map(|o| {
            o.as_ref().map(|o| match o {
                Operand::Const(c) => Meta::Host(c.clone()),
                Operand::Slot(s) => metas[*s].clone(),
            })
        })
        .collect();
    match &instr.exec {
        Exec::Device(k) => {
            let refs: Vec<Option<&Meta>> = ins.iter().map(Option::as_ref).collect();
            let m = k.infer(&refs)?;
            if let Meta::Dev { shape, .. } = &m {
                super::tensor::checked_numel(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
            }
            Ok(m)
        }
        Exec::Host => {
            let consts: Vec<Option<Arc<Const>>> = ins
                .into_iter()
                .map(|m| match m {
                    Some(Meta::Host(c)) => Some(c),
                    _ => None,
                })
                .collect();
            let v = fold::eval(&graph.nodes[instr.node], &consts, opset)?
                .and_then(|v| v.into_iter().next())
                .ok_or("no output")?;
            Ok(Meta::Host(Arc::new(v)))
        }
    }
}
