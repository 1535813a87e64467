//! Shape operators on activations: Reshape (`0` and `-1`), Flatten, Transpose, Concat,
//! Squeeze, Unsqueeze, Gather (host indices: the torch.export exporter writes `as_strided` as a
//! flat Gather), and Shape (which yields a host integer tensor for the shape arithmetic
//! of [`crate::onnx::fold`]).
//!
//! Reshape targets are read at run time. A graph exported with a fixed batch size (the
//! torch.export exporter's default writes the batch into `Reshape` targets, `[1, 512]`) is
//! run on other batch sizes by reading a leading target dimension equal to the exported batch
//! as the actual batch, when that is the only way the shapes fit.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Ctx, Kernel, check_rank, dev, out};
use crate::host::Precision;
use crate::onnx::fold::{axis, axis_incl, perm_of, reshape_target, squeeze_shape, unsqueeze_shape};
use crate::onnx::tensor::Const;
use crate::onnx::value::{Ft, Layout, Meta, Value, map_ft, with_ft};

#[derive(Debug)]
enum Kind {
    Reshape {
        allowzero: bool,
        batch: Option<usize>,
    },
    Flatten(i64),
    Transpose(Option<Vec<i64>>),
    Concat(i64),
    Squeeze(Option<Vec<i64>>),
    Unsqueeze(Option<Vec<i64>>),
    Shape(Option<i64>, Option<i64>),
    Gather(i64),
}

#[derive(Debug)]
struct ShapeOp {
    kind: Kind,
    opset: i64,
    device: Device,
    precision: Precision,
}

pub fn compile(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    let kind = match n.op.as_str() {
        "Reshape" => Kind::Reshape {
            allowzero: n.int("allowzero")?.unwrap_or(0) != 0,
            batch: ctx.export_batch,
        },
        "Flatten" => Kind::Flatten(n.int("axis")?.unwrap_or(1)),
        "Transpose" => Kind::Transpose(n.ints("perm")?),
        "Concat" => Kind::Concat(n.int("axis")?.ok_or("axis is missing")?),
        "Squeeze" => Kind::Squeeze(n.ints("axes")?),
        "Unsqueeze" => Kind::Unsqueeze(n.ints("axes")?),
        "Gather" => Kind::Gather(n.int("axis")?.unwrap_or(0)),
        _ => Kind::Shape(n.int("start")?, n.int("end")?),
    };
    Ok(Box::new(ShapeOp {
        kind,
        opset: ctx.opset,
        device: ctx.device.clone(),
        precision: ctx.precision,
    }))
}

fn host(ins: &[Option<&Meta>], i: usize) -> Result<Option<Arc<Const>>, String> {
    match ins.get(i).copied().flatten() {
        None => Ok(None),
        Some(Meta::Host(c)) => Ok(Some(c.clone())),
        Some(Meta::Dev { .. }) => Err(format!(
            "input {i} (a shape or axes) is a computed float tensor, not supported"
        )),
    }
}

fn host_v(ins: &[Option<Value>], i: usize) -> Option<Arc<Const>> {
    match ins.get(i) {
        Some(Some(Value::Host(c))) => Some(c.clone()),
        _ => None,
    }
}

impl ShapeOp {
    /// Axes from the attribute (before opset 13) or input 1.
    fn axes(
        &self,
        attr: &Option<Vec<i64>>,
        input: Option<Arc<Const>>,
    ) -> Result<Option<Vec<i64>>, String> {
        if self.opset < 13 {
            Ok(attr.clone())
        } else {
            input.map(|c| c.i64s()).transpose()
        }
    }

    /// Output shape and layout for input shapes `shapes` (`host1`: input 1 as a host tensor).
    fn shape_of(
        &self,
        shapes: &[(Vec<usize>, Layout)],
        host1: Option<Arc<Const>>,
    ) -> Result<(Vec<usize>, Layout), String> {
        let (s, l) = shapes[0].clone();
        Ok(match &self.kind {
            Kind::Reshape { allowzero, batch } => {
                let spec = host1.ok_or("the target shape is missing")?.i64s()?;
                let t = match reshape_target(&s, &spec, *allowzero) {
                    Ok(t) => t,
                    Err(e) => match (batch, s.first()) {
                        (Some(b), Some(&actual))
                            if spec.first() == Some(&(*b as i64)) && actual != *b =>
                        {
                            let mut relaxed = spec.clone();
                            relaxed[0] = actual as i64;
                            reshape_target(&s, &relaxed, *allowzero).map_err(|_| e)?
                        }
                        _ => return Err(e),
                    },
                };
                let l = if t == s { l } else { Layout::Other };
                (t, l)
            }
            Kind::Flatten(a) => {
                let a = axis_incl(*a, s.len())?;
                let outer: usize = s[..a].iter().product();
                let inner: usize = s[a..].iter().product();
                (vec![outer, inner], Layout::Other)
            }
            Kind::Transpose(_) => {
                let perm = self.perm(s.len())?;
                let o: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
                let l = match (l, perm.as_slice()) {
                    (l, [0, 1, 2, 3]) => l,
                    (Layout::Nchw, [0, 2, 3, 1]) => Layout::Nhwc,
                    (Layout::Nhwc, [0, 3, 1, 2]) => Layout::Nchw,
                    _ => Layout::Other,
                };
                (o, l)
            }
            Kind::Concat(a) => {
                let a = axis(*a, s.len())?;
                let mut o = s.clone();
                o[a] = 0;
                let mut layout = l;
                for (t, tl) in shapes {
                    if t.len() != s.len() || t.iter().enumerate().any(|(i, &d)| i != a && d != s[i])
                    {
                        return Err(format!(
                            "cannot concatenate shapes {s:?} and {t:?} on axis {a}"
                        ));
                    }
                    o[a] += t[a];
                    if *tl != layout {
                        layout = Layout::Other;
                    }
                }
                (o, layout)
            }
            Kind::Squeeze(attr) => {
                let axes = self.axes(attr, host1)?;
                let o = squeeze_shape(&s, axes.as_deref())?;
                (o, Layout::Other)
            }
            Kind::Unsqueeze(attr) => {
                let axes = self.axes(attr, host1)?.ok_or("axes are missing")?;
                (unsqueeze_shape(&s, &axes)?, Layout::Other)
            }
            Kind::Gather(a) => {
                let a = axis(*a, s.len())?;
                let idx = host1.ok_or("the indices are missing")?;
                gather_indices(&idx, s[a])?;
                let mut o = s[..a].to_vec();
                o.extend(&idx.shape);
                o.extend(&s[a + 1..]);
                (o, Layout::Other)
            }
            Kind::Shape(..) => unreachable!("handled in infer"),
        })
    }

    fn perm(&self, r: usize) -> Result<Vec<usize>, String> {
        let Kind::Transpose(p) = &self.kind else {
            unreachable!("transpose only")
        };
        let node = crate::onnx::graph::NodeDef {
            name: String::new(),
            op: "Transpose".into(),
            domain: String::new(),
            inputs: vec![],
            outputs: vec![],
            attrs: p
                .iter()
                .map(|v| ("perm".to_string(), crate::onnx::graph::Attr::Is(v.clone())))
                .collect(),
            scopes: vec![],
        };
        perm_of(&node, r)
    }

    fn shape_slice(&self, s: &[usize]) -> Const {
        let Kind::Shape(start, end) = self.kind else {
            unreachable!("shape only")
        };
        let r = s.len() as i64;
        let clampi = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
        let lo = clampi(start.unwrap_or(0));
        let hi = clampi(end.unwrap_or(r)).max(lo);
        let v: Vec<i64> = s[lo..hi].iter().map(|&d| d as i64).collect();
        Const::ints(vec![v.len()], v)
    }
}

impl Kernel for ShapeOp {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        if let Kind::Shape(..) = self.kind {
            let (s, _) = dev(ins, 0)?;
            return Ok(Meta::Host(Arc::new(self.shape_slice(&s))));
        }
        let n = if matches!(self.kind, Kind::Concat(_)) {
            ins.len()
        } else {
            1
        };
        let shapes = (0..n).map(|i| dev(ins, i)).collect::<Result<Vec<_>, _>>()?;
        let host1 = if matches!(self.kind, Kind::Concat(_)) {
            None
        } else {
            host(ins, 1)?
        };
        let (o, l) = self.shape_of(&shapes, host1)?;
        check_rank(&o)?;
        crate::onnx::tensor::checked_numel(&o.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
        Ok(out(o, l))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let x = |i: usize, ins: &mut Vec<Option<Value>>| {
            super::take_ft(ins, i, &self.device, self.precision)
        };
        match &self.kind {
            Kind::Shape(..) => {
                let s = match &ins[0] {
                    Some(Value::Dev(t)) => t.dims(),
                    Some(Value::Host(c)) => c.shape.clone(),
                    None => unreachable!("checked by infer"),
                };
                Value::Host(Arc::new(self.shape_slice(&s)))
            }
            Kind::Concat(a) => {
                let ts: Vec<Ft> = (0..ins.len()).map(|i| x(i, &mut ins)).collect();
                let a = axis(*a, ts[0].rank()).expect("checked by infer");
                macro_rules! cat {
                    ($v:ident) => {{
                        let v: Vec<Tensor<_>> = ts
                            .into_iter()
                            .map(|t| match t {
                                Ft::$v(t) => t,
                                _ => unreachable!("same rank"),
                            })
                            .collect();
                        Ft::$v(Tensor::cat(v, a))
                    }};
                }
                Value::Dev(match ts[0] {
                    Ft::R1(_) => cat!(R1),
                    Ft::R2(_) => cat!(R2),
                    Ft::R3(_) => cat!(R3),
                    Ft::R4(_) => cat!(R4),
                    Ft::R5(_) => cat!(R5),
                })
            }
            Kind::Transpose(_) => {
                let t = x(0, &mut ins);
                let p = self.perm(t.rank()).expect("checked by infer");
                Value::Dev(match t {
                    Ft::R1(t) => Ft::R1(t),
                    Ft::R2(t) => Ft::R2(t.permute([p[0], p[1]])),
                    Ft::R3(t) => Ft::R3(t.permute([p[0], p[1], p[2]])),
                    Ft::R4(t) => Ft::R4(t.permute([p[0], p[1], p[2], p[3]])),
                    Ft::R5(t) => Ft::R5(t.permute([p[0], p[1], p[2], p[3], p[4]])),
                })
            }
            Kind::Gather(a) => {
                let idx = host_v(&ins, 1).expect("checked by infer");
                let t = x(0, &mut ins);
                let s = t.dims();
                let a = axis(*a, s.len()).expect("checked by infer");
                let ids = gather_indices(&idx, s[a]).expect("checked by infer");
                let n = ids.len();
                let mut o = s[..a].to_vec();
                o.extend(&idx.shape);
                o.extend(&s[a + 1..]);
                let device = with_ft!(&t, v => v.device());
                let it: Tensor<1, Int> = Tensor::from_data(TensorData::new(ids, [n]), &device);
                Value::Dev(map_ft!(t, v => v.select(a, it.clone())).reshape(&o))
            }
            _ => {
                let h1 = host_v(&ins, 1);
                let t = x(0, &mut ins);
                let (o, _) = self
                    .shape_of(&[(t.dims(), Layout::Other)], h1)
                    .expect("checked by infer");
                Value::Dev(t.reshape(&o))
            }
        }
    }
}

/// Gather indices resolved against an axis of size `d`.
fn gather_indices(idx: &Const, d: usize) -> Result<Vec<i64>, String> {
    idx.i64s()?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + d as i64 } else { i };
            if (0..d as i64).contains(&j) {
                Ok(j)
            } else {
                Err(format!("index {i} is out of range for size {d}"))
            }
        })
        .collect()
}
