//! Elementwise Add, Sub, Mul, Div (numpy broadcasting) and Pow with a constant exponent. A
//! one-element constant operand becomes a scalar operation; a larger one is uploaded once.

use super::{Ctx, Kernel, dev, out};
use crate::host::Precision;
use crate::onnx::fold::broadcast;
use crate::onnx::tensor::Const;
use crate::onnx::value::{Ft, Layout, Meta, Value, map_ft};
use burn::tensor::Device;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[allow(clippy::large_enum_variant)] // one per node, built once
#[derive(Debug)]
enum Side {
    /// Both operands are computed.
    Both,
    /// Operand `i` (0 or 1) is the scalar `v`.
    Scalar(usize, f64),
    /// Operand `i` is a constant tensor, uploaded.
    Tensor(usize, Ft, Vec<usize>),
}

#[derive(Debug)]
struct Binary {
    op: Bin,
    side: Side,
    device: Device,
    precision: Precision,
}

pub fn binary(ctx: &Ctx) -> Result<Box<dyn Kernel>, String> {
    let op = match ctx.node.op.as_str() {
        "Add" => Bin::Add,
        "Sub" => Bin::Sub,
        "Mul" => Bin::Mul,
        "Div" => Bin::Div,
        _ => Bin::Pow,
    };
    if ctx.node.inputs.len() != 2 {
        return Err("expects two inputs".into());
    }
    let konst = |i: usize| -> Option<Arc<Const>> { ctx.opt_const(i) };
    let side = match (konst(0), konst(1)) {
        (_, Some(c)) if c.len() == 1 => Side::Scalar(1, c.f64s()[0]),
        (Some(c), _) if c.len() == 1 => Side::Scalar(0, c.f64s()[0]),
        (_, Some(c)) => Side::Tensor(
            1,
            Ft::upload(&c, ctx.device, ctx.precision),
            c.shape.clone(),
        ),
        (Some(c), _) => Side::Tensor(
            0,
            Ft::upload(&c, ctx.device, ctx.precision),
            c.shape.clone(),
        ),
        _ => Side::Both,
    };
    if op == Bin::Pow && !matches!(side, Side::Scalar(1, _)) {
        return Err("only a constant scalar exponent is supported".into());
    }
    Ok(Box::new(Binary {
        op,
        side,
        device: ctx.device.clone(),
        precision: ctx.precision,
    }))
}

impl Kernel for Binary {
    fn infer(&self, ins: &[Option<&Meta>]) -> Result<Meta, String> {
        let shape_of = |i: usize| -> Result<(Vec<usize>, Layout), String> {
            match &self.side {
                Side::Scalar(j, _) if *j == i => Ok((vec![], Layout::Other)),
                Side::Tensor(j, _, s) if *j == i => Ok((s.clone(), Layout::Other)),
                _ => dev(ins, i),
            }
        };
        let (a, la) = shape_of(0)?;
        let (b, lb) = shape_of(1)?;
        let s = broadcast(&a, &b)?;
        super::check_rank(&s)?;
        // The layout follows the computed operand(s) of full rank.
        let layout = match (a.len() == s.len() && a == s, b.len() == s.len() && b == s) {
            (true, true) if la == lb => la,
            (true, true) => Layout::Other,
            (true, false) => la,
            (false, true) => lb,
            _ => Layout::Other,
        };
        Ok(out(s, layout))
    }

    fn run(&self, mut ins: Vec<Option<Value>>) -> Value {
        let op = self.op;
        let mut get = |i: usize| super::take_ft(&mut ins, i, &self.device, self.precision);
        Value::Dev(match &self.side {
            Side::Scalar(1, v) => scalar_right(op, get(0), *v),
            Side::Scalar(_, v) => scalar_left(op, *v, get(1)),
            Side::Tensor(1, c, _) => tensors(op, get(0), c.clone()),
            Side::Tensor(_, c, _) => tensors(op, c.clone(), get(1)),
            Side::Both => {
                let a = get(0);
                let b = get(1);
                tensors(op, a, b)
            }
        })
    }
}

fn scalar_right(op: Bin, x: Ft, v: f64) -> Ft {
    match op {
        Bin::Add => map_ft!(x, t => t.add_scalar(v)),
        Bin::Sub => map_ft!(x, t => t.sub_scalar(v)),
        Bin::Mul => map_ft!(x, t => t.mul_scalar(v)),
        Bin::Div => map_ft!(x, t => t.div_scalar(v)),
        Bin::Pow if v == 2.0 => map_ft!(x, t => t.clone() * t),
        Bin::Pow if v == 1.0 => x,
        Bin::Pow if v == 0.5 => map_ft!(x, t => t.sqrt()),
        Bin::Pow => map_ft!(x, t => t.powf_scalar(v)),
    }
}

fn scalar_left(op: Bin, v: f64, x: Ft) -> Ft {
    match op {
        Bin::Add => map_ft!(x, t => t.add_scalar(v)),
        Bin::Sub => map_ft!(x, t => t.neg().add_scalar(v)),
        Bin::Mul => map_ft!(x, t => t.mul_scalar(v)),
        Bin::Div => map_ft!(x, t => t.recip().mul_scalar(v)),
        Bin::Pow => unreachable!("rejected at compile"),
    }
}

fn tensors(op: Bin, a: Ft, b: Ft) -> Ft {
    let r = a.rank().max(b.rank());
    let (a, b) = (a.lift(r), b.lift(r));
    macro_rules! go {
        ($x:ident, $y:ident, $v:ident) => {
            Ft::$v(match op {
                Bin::Add => $x + $y,
                Bin::Sub => $x - $y,
                Bin::Mul => $x * $y,
                Bin::Div => $x / $y,
                Bin::Pow => unreachable!("rejected at compile"),
            })
        };
    }
    match (a, b) {
        (Ft::R1(x), Ft::R1(y)) => go!(x, y, R1),
        (Ft::R2(x), Ft::R2(y)) => go!(x, y, R2),
        (Ft::R3(x), Ft::R3(y)) => go!(x, y, R3),
        (Ft::R4(x), Ft::R4(y)) => go!(x, y, R4),
        (Ft::R5(x), Ft::R5(y)) => go!(x, y, R5),
        _ => unreachable!("lifted to the same rank"),
    }
}
