//! Import: an ONNX file becomes a [`Graph`] — nodes in a checked topological order with their
//! original (exporter's) names, module scopes, typed attributes, and the decoded initializers.
//! Every structural fault (undefined or twice-defined tensors, cycles, missing input/output)
//! is a one-line error here, before anything is computed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::proto::{self, AttributeProto, attr_type};
use super::tensor::{self, Const, External};

/// The largest ONNX file read (protobuf's own limit is 2 GiB).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// An attribute value.
#[derive(Clone, Debug)]
pub enum Attr {
    F(f32),
    I(i64),
    S(String),
    T(Arc<Const>),
    Fs(Vec<f32>),
    Is(Vec<i64>),
    /// A type icam does not read (graphs, sparse tensors, strings lists).
    Other,
}

/// One node, as the file names it.
#[derive(Clone, Debug)]
pub struct NodeDef {
    /// The node's name in the file (may be empty).
    pub name: String,
    pub op: String,
    pub domain: String,
    /// Input tensor names; "" marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(String, Attr)>,
    /// Module paths enclosing the node, outermost first (`layer4`, `layer4.2`, ...), from the
    /// TorchScript exporter's node names or the torch.export exporter's `name_scopes`.
    pub scopes: Vec<String>,
}

impl NodeDef {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::I(v)) => Ok(Some(*v)),
            Some(_) => Err(format!("attribute `{name}` is not an integer")),
        }
    }

    /// A float attribute as the decimal number it was written from: ONNX stores float32, so
    /// `0.01` or `1e-5` are read back through their shortest decimal form (exactly PyTorch's
    /// float64 constants), and the float32 nearest 1/6 (HardSigmoid) as 1/6.
    pub fn float(&self, name: &str) -> Result<Option<f64>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::F(v)) => Ok(Some(decimal(*v))),
            Some(_) => Err(format!("attribute `{name}` is not a float")),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Is(v)) => Ok(Some(v.clone())),
            Some(_) => Err(format!("attribute `{name}` is not a list of integers")),
        }
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(format!("attribute `{name}` is not a string")),
        }
    }

    /// How messages name the node: its name, else its first output.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!(
                "{} node producing `{}`",
                self.op,
                self.outputs.first().map_or("", String::as_str)
            )
        } else {
            format!("{} node `{}`", self.op, self.name)
        }
    }
}

/// The float64 a float32 attribute stands for (see [`NodeDef::float`]).
pub fn decimal(v: f32) -> f64 {
    if v == (1.0f64 / 6.0) as f32 {
        return 1.0 / 6.0;
    }
    format!("{v}").parse().unwrap_or(v as f64)
}

/// The graph input: name and dimensions (`None` = dynamic).
#[derive(Clone, Debug)]
pub struct InputDef {
    pub name: String,
    pub dims: Vec<Option<usize>>,
}

/// A checked ONNX graph.
#[derive(Clone, Debug)]
pub struct Graph {
    pub nodes: Vec<NodeDef>,
    pub consts: HashMap<String, Arc<Const>>,
    pub input: InputDef,
    pub output: String,
    /// Version of the default (`ai.onnx`) operator set.
    pub opset: i64,
    pub producer: String,
}

/// Read and import an ONNX file.
pub fn load(path: &Path) -> Result<Graph, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len > MAX_MODEL_BYTES {
        return Err(format!(
            "the file has {len} bytes, more than ONNX's {MAX_MODEL_BYTES}-byte limit"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    import(&bytes, &mut External::new(path))
}

/// Import ONNX bytes (external data is read through `ext`).
pub fn import(bytes: &[u8], ext: &mut External) -> Result<Graph, String> {
    let model = proto::decode_model(bytes).map_err(|e| format!("not a valid ONNX model ({e})"))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or("the model imports no version of the default ONNX operator set")?;
    let g = model.graph.ok_or("the model has no graph")?;
    if g.node.is_empty() {
        return Err("the graph has no nodes".into());
    }
    let mut consts: HashMap<String, Arc<Const>> = HashMap::new();
    for t in &g.initializer {
        let c = tensor::decode(t, ext).map_err(|e| format!("initializer `{}`: {e}", t.name))?;
        if consts.insert(t.name.clone(), Arc::new(c)).is_some() {
            return Err(format!("initializer `{}` is defined twice", t.name));
        }
    }
    let inputs: Vec<&proto::ValueInfoProto> = g
        .input
        .iter()
        .filter(|i| !consts.contains_key(&i.name))
        .collect();
    let input = match inputs.as_slice() {
        [i] => i,
        [] => return Err("the graph has no input".into()),
        more => {
            return Err(format!(
                "the graph has {} inputs ({}); icam explains single-input image classifiers",
                more.len(),
                more.iter()
                    .map(|i| format!("`{}`", i.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let tt = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| format!("graph input `{}` is not a tensor", input.name))?;
    if !matches!(
        tt.elem_type,
        proto::data_type::FLOAT | proto::data_type::DOUBLE | proto::data_type::FLOAT16
    ) {
        return Err(format!(
            "graph input `{}` has element type {}; icam feeds float images",
            input.name, tt.elem_type
        ));
    }
    let dims: Vec<Option<usize>> = tt
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| {
                    d.dim_value
                        .and_then(|v| usize::try_from(v).ok())
                        .filter(|&v| v > 0)
                })
                .collect()
        })
        .unwrap_or_default();
    if dims.len() != 4 {
        return Err(format!(
            "graph input `{}` has rank {}; icam feeds images as [batch, channels, height, width]",
            input.name,
            dims.len()
        ));
    }
    let input = InputDef {
        name: input.name.clone(),
        dims,
    };
    let output = match g.output.as_slice() {
        [o] => o.name.clone(),
        [] => return Err("the graph has no output".into()),
        [first, ..] => first.name.clone(),
    };

    let mut nodes = Vec::with_capacity(g.node.len());
    for n in g.node {
        let scopes = scopes_of(&n);
        let mut attrs = Vec::with_capacity(n.attribute.len());
        for a in &n.attribute {
            attrs.push((
                a.name.clone(),
                attr(a, ext).map_err(|e| {
                    format!(
                        "{} node `{}`: attribute `{}`: {e}",
                        n.op_type, n.name, a.name
                    )
                })?,
            ));
        }
        nodes.push(NodeDef {
            name: n.name,
            op: n.op_type,
            domain: n.domain,
            inputs: n.input,
            outputs: n.output,
            attrs,
            scopes,
        });
    }
    let nodes = topological(nodes, &input.name, &consts)?;
    if !nodes.iter().any(|n| n.outputs.contains(&output)) && output != input.name {
        return Err(format!(
            "the graph output `{output}` is produced by no node"
        ));
    }
    Ok(Graph {
        nodes,
        consts,
        input,
        output,
        opset,
        producer: model.producer_name,
    })
}

fn attr(a: &AttributeProto, ext: &mut External) -> Result<Attr, String> {
    // Old files leave `type` unset; infer it from the field that is present.
    let ty = if a.r#type != 0 {
        a.r#type
    } else if !a.ints.is_empty() {
        attr_type::INTS
    } else if !a.floats.is_empty() {
        attr_type::FLOATS
    } else if a.t.is_some() {
        attr_type::TENSOR
    } else if !a.s.is_empty() {
        attr_type::STRING
    } else if a.f != 0.0 {
        attr_type::FLOAT
    } else {
        attr_type::INT
    };
    Ok(match ty {
        attr_type::FLOAT => Attr::F(a.f),
        attr_type::INT => Attr::I(a.i),
        attr_type::STRING => Attr::S(String::from_utf8_lossy(&a.s).into_owned()),
        attr_type::TENSOR => Attr::T(Arc::new(tensor::decode(
            a.t.as_ref().ok_or("tensor attribute without a tensor")?,
            ext,
        )?)),
        attr_type::FLOATS => Attr::Fs(a.floats.clone()),
        attr_type::INTS => Attr::Is(a.ints.clone()),
        _ => Attr::Other,
    })
}

/// Module paths of a node: from `pkg.torch.onnx.name_scopes` (torch.export exporter:
/// `['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu_2']`, full paths, the last entry the
/// operation), else from a TorchScript-exporter node name (`/layer1/layer1.0/relu_2/Relu`:
/// scopes separated by `/`, the last the operation, a Sequential's children written
/// `parent.index`).
fn scopes_of(n: &proto::NodeProto) -> Vec<String> {
    if let Some(m) = n
        .metadata_props
        .iter()
        .find(|p| p.key == "pkg.torch.onnx.name_scopes")
    {
        let parts: Vec<String> = m
            .value
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|s| s.trim_matches(|c| c == '\'' || c == '"').to_string())
            .collect();
        let n = parts.len().saturating_sub(1);
        return parts
            .into_iter()
            .take(n)
            .filter(|s| !s.is_empty())
            .collect();
    }
    let Some(rest) = n.name.strip_prefix('/') else {
        return Vec::new();
    };
    let comps: Vec<&str> = rest.split('/').collect();
    let mut out: Vec<String> = Vec::new();
    let mut local = "";
    for c in &comps[..comps.len().saturating_sub(1)] {
        if c.is_empty() {
            continue;
        }
        let parent = out.last().cloned();
        let full = match (
            &parent,
            c.strip_prefix(local).and_then(|r| r.strip_prefix('.')),
        ) {
            (Some(p), Some(tail)) if !local.is_empty() => {
                // `layer1` then `layer1.0`: the Sequential child `0` of `layer1`.
                let base = p.strip_suffix(local).unwrap_or(p).to_string();
                format!("{base}{local}.{tail}")
            }
            (Some(p), _) => format!("{p}.{c}"),
            (None, _) => c.to_string(),
        };
        out.push(full);
        local = c;
    }
    out
}

/// The nodes in an order where every input is defined before use (Kahn's algorithm, keeping the
/// file order among ready nodes); errors name an undefined input, a tensor defined twice, or
/// a cycle.
fn topological(
    nodes: Vec<NodeDef>,
    input: &str,
    consts: &HashMap<String, Arc<Const>>,
) -> Result<Vec<NodeDef>, String> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.outputs.is_empty() {
            return Err(format!("{} has no output", n.label()));
        }
        for o in &n.outputs {
            if o.is_empty() {
                continue;
            }
            if o == input || consts.contains_key(o) || producer.insert(o, i).is_some() {
                return Err(format!("tensor `{o}` is defined twice"));
            }
        }
    }
    let mut waiting = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let mut seen = HashSet::new();
        for x in &n.inputs {
            if x.is_empty() || x == input || consts.contains_key(x) {
                continue;
            }
            let Some(&p) = producer.get(x.as_str()) else {
                return Err(format!("{} reads `{x}`, which nothing defines", n.label()));
            };
            if seen.insert(p) {
                waiting[i] += 1;
                users[p].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        return Err(format!(
            "the graph has a cycle (through {})",
            nodes[stuck].label()
        ));
    }
    let mut slots: Vec<Option<NodeDef>> = nodes.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each node once"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> proto::NodeProto {
        proto::NodeProto {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn torchscript_scopes() {
        assert_eq!(
            scopes_of(&node("/layer1/layer1.0/relu_2/Relu")),
            ["layer1", "layer1.0", "layer1.0.relu_2"]
        );
        assert_eq!(
            scopes_of(&node("/features/features.1/conv/conv.0/conv.0.0/Conv")),
            [
                "features",
                "features.1",
                "features.1.conv",
                "features.1.conv.0",
                "features.1.conv.0.0"
            ]
        );
        assert_eq!(scopes_of(&node("/fc/Gemm")), ["fc"]);
        assert!(scopes_of(&node("Identity_3")).is_empty());
    }

    #[test]
    fn dynamo_scopes() {
        let mut n = node("node_relu_2");
        n.metadata_props.push(proto::StringStringEntryProto {
            key: "pkg.torch.onnx.name_scopes".into(),
            value: "['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu_2']".into(),
        });
        assert_eq!(scopes_of(&n), ["layer1", "layer1.0", "layer1.0.relu"]);
    }
}
