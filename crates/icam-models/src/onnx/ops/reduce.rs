//! Reductions: `GlobalAveragePool` / `GlobalMaxPool` and `ReduceMean` (axes as an attribute
//! before opset 18, as an input from 18 on; the torch.export exporter writes global average
//! pooling as `ReduceMean` over the spatial axes).

use super::{Ctx, Kernel, dev, out};
use crate::onnx::fold::axis;
use crate::onnx::value::{Ft, Meta, Value, with_ft};

#[derive(Debug)]
struct Reduce {
    /// `None`: every axis.
    axes: Option<Vec<i64>>,
    keepdims: bool,
    max: bool,
}

pub fn global_pool(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    Ok(Box::new(Reduce {
        axes: Some(vec![2, 3]),
        keepdims: true,
        max: ctx.node.op == "GlobalMaxPool",
    }))
}

pub fn reduce_mean(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let n = ctx.node;
    let axes = if ctx.opset >= 18 {
        match n.inputs.get(1).filter(|s| !s.is_empty()) {
            Some(_) => Some(ctx.weight(1, "axes")?.i64s()?),
            None => None,
        }
    } else {
        n.ints("axes")?
    };
    let noop = n.int("noop_with_empty_axes")?.unwrap_or(0) != 0;
    let axes = match axes {
        Some(a) if a.is_empty() && noop => Some(vec![]),
        Some(a) if a.is_empty() => None,
        other => other,
    };
    Ok(Box::new(Reduce {
        axes,
        keepdims: n.int("keepdims")?.unwrap_or(1) != 0,
        max: false,
    }))
}

impl Reduce {
    fn resolved(&self, r: usize) -> Result<Vec<usize>, String> {
        let mut a: Vec<usize> = match &self.axes {
            None => (0..r).collect(),
            Some(v) => v.iter().map(|&x| axis(x, r)).collect::<Result<_, _>>()?,
        };
        a.sort_unstable();
        a.dedup();
        Ok(a)
    }
}

impl Kernel for Reduce {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let (s, l) = dev(ins, 0)?;
        if self.max && s.len() != 4 {
            return Err(format!("input of shape {s:?}: expected rank 4"));
        }
        let a = self.resolved(s.len())?;
        let mut o: Vec<usize> = Vec::new();
        for (i, &d) in s.iter().enumerate() {
            if !a.contains(&i) {
                o.push(d);
            } else if self.keepdims {
                o.push(1);
            }
        }
        if o.is_empty() {
            return Err("reducing to a scalar is not supported".into());
        }
        Ok(out(o, l))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let Some(Value::Dev(x)) = ins[0].take() else {
            unreachable!("checked by infer")
        };
        let s = x.dims();
        let a = self.resolved(s.len()).expect("checked by infer");
        let mut kept = s.clone();
        for &i in &a {
            kept[i] = 1;
        }
        // Reduce contiguous trailing spatial axes in one step ([b, c, h·w] → mean over the last).
        let y = if a == [2, 3] && s.len() == 4 {
            let t = x.reshape(&[s[0], s[1], s[2] * s[3]]);
            match t {
                Ft::R3(t) if self.max => Ft::R3(t.max_dim(2)),
                Ft::R3(t) => Ft::R3(t.mean_dim(2)),
                _ => unreachable!("rank 3"),
            }
            .reshape(&kept)
        } else {
            let mut y = x;
            for &i in a.iter().rev() {
                y = with_ft!(y, t => {
                    let r = t.mean_dim(i);
                    Ft::from(r)
                });
            }
            y
        };
        let o: Vec<usize> = if self.keepdims {
            kept
        } else {
            s.iter()
                .enumerate()
                .filter(|(i, _)| !a.contains(i))
                .map(|(_, &d)| d)
                .collect()
        };
        Value::Dev(y.reshape(&o))
    }
}
