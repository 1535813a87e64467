//! Host evaluation of operators on constants: constant folding at load (weights transposed or
//! reshaped by the exporter, `Constant` nodes) and the integer shape arithmetic that exporters
//! emit around `Reshape` (`Shape → Gather → Unsqueeze → Concat`), at run time from the actual
//! input shape. Shapes are small, so plain loops do.

use std::sync::Arc;

use super::graph::{Attr, NodeDef};
use super::tensor::{CData, Const, MAX_HOST_ELEMENTS, checked_numel};

/// The operators [`eval`] knows.
pub const HOST_OPS: &[&str] = &[
    "Constant",
    "Identity",
    "Cast",
    "Reshape",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Gather",
    "Transpose",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Sqrt",
    "Range",
    "Slice",
    "ConstantOfShape",
    "Flatten",
    "Dropout",
    "Shape",
];

/// `shape` of a broadcast between `a` and `b` (numpy rules).
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let x = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let y = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// Resolve an ONNX axis (negative counts from the end) for rank `r`.
pub fn axis(a: i64, r: usize) -> Result<usize, String> {
    let v = if a < 0 { a + r as i64 } else { a };
    if v < 0 || v as usize >= r.max(1) {
        return Err(format!("axis {a} is out of range for rank {r}"));
    }
    Ok(v as usize)
}

/// Target shape of `Reshape` (`0` copies the input dimension unless `allowzero`, one `-1` is
/// inferred).
pub fn reshape_target(
    input: &[usize],
    spec: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let n: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| {
                format!("reshape {input:?} to {spec:?}: no dimension {i} to copy")
            })?),
            s if s >= 0 => out.push(s as usize),
            _ => return Err(format!("reshape {input:?} to {spec:?}: bad dimension {s}")),
        }
    }
    let known = checked_numel(&out.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
    if let Some(i) = infer {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(format!("cannot reshape {input:?} to {spec:?}"));
        }
        out[i] = n / known;
    } else if known != n {
        return Err(format!(
            "cannot reshape {input:?} ({n} elements) to {spec:?}"
        ));
    }
    Ok(out)
}

/// Output shape of `Unsqueeze` with `axes`.
pub fn unsqueeze_shape(s: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let r = s.len() + axes.len();
    let mut ax: Vec<usize> = axes.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?;
    ax.sort_unstable();
    ax.dedup();
    if ax.len() != axes.len() {
        return Err(format!("repeated axis in {axes:?}"));
    }
    let mut out = Vec::with_capacity(r);
    let mut it = s.iter();
    for i in 0..r {
        if ax.contains(&i) {
            out.push(1);
        } else {
            out.push(*it.next().ok_or("bad unsqueeze axes")?);
        }
    }
    Ok(out)
}

/// Output shape of `Squeeze` with `axes` (all size-1 axes when `None`).
pub fn squeeze_shape(s: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>, String> {
    match axes {
        None => Ok(s.iter().copied().filter(|&d| d != 1).collect()),
        Some(a) => {
            let ax: Vec<usize> = a
                .iter()
                .map(|&x| axis(x, s.len()))
                .collect::<Result<_, _>>()?;
            for &i in &ax {
                if s[i] != 1 {
                    return Err(format!("cannot squeeze axis {i} of shape {s:?}"));
                }
            }
            Ok(s.iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect())
        }
    }
}

/// Row-major strides.
fn strides(s: &[usize]) -> Vec<usize> {
    let mut st = vec![1; s.len()];
    for i in (0..s.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * s[i + 1];
    }
    st
}

/// Index into `src` (shape `s`, broadcast to `out`) for output flat index `i`.
fn bindex(i: usize, out: &[usize], s: &[usize], st: &[usize]) -> usize {
    let mut rem = i;
    let mut idx = 0;
    let off = out.len() - s.len();
    let ost = strides(out);
    for d in 0..out.len() {
        let c = rem / ost[d];
        rem %= ost[d];
        if d >= off && s[d - off] != 1 {
            idx += c * st[d - off];
        }
    }
    idx
}

fn binary(a: &Const, b: &Const, op: &str) -> Result<Const, String> {
    let shape = broadcast(&a.shape, &b.shape)?;
    let n = checked_numel(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
    if n > a.len().max(b.len()) && n > MAX_HOST_ELEMENTS {
        return Err(format!("broadcasting to {shape:?} is too large"));
    }
    let (sa, sb) = (strides(&a.shape), strides(&b.shape));
    let ia = |i| bindex(i, &shape, &a.shape, &sa);
    let ib = |i| bindex(i, &shape, &b.shape, &sb);
    Ok(match (&a.data, &b.data) {
        (CData::I(x), CData::I(y)) => {
            let f = |p: i64, q: i64| -> Result<i64, String> {
                Ok(match op {
                    "Add" => p.wrapping_add(q),
                    "Sub" => p.wrapping_sub(q),
                    "Mul" => p.wrapping_mul(q),
                    _ => {
                        if q == 0 {
                            return Err("integer division by zero".into());
                        }
                        p.div_euclid(q)
                    }
                })
            };
            Const::ints(
                shape.clone(),
                (0..n)
                    .map(|i| f(x[ia(i)], y[ib(i)]))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let (x, y) = (a.f64s(), b.f64s());
            let f = |p: f64, q: f64| match op {
                "Add" => p + q,
                "Sub" => p - q,
                "Mul" => p * q,
                _ => p / q,
            };
            Const::floats(
                shape.clone(),
                (0..n).map(|i| f(x[ia(i)], y[ib(i)])).collect(),
            )
        }
    })
}

fn gather(data: &Const, idx: &Const, ax: usize) -> Result<Const, String> {
    let s = &data.shape;
    let d = s[ax] as i64;
    let ids: Vec<usize> = idx
        .i64s()?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + d } else { i };
            if j < 0 || j >= d {
                Err(format!("Gather index {i} out of range for size {d}"))
            } else {
                Ok(j as usize)
            }
        })
        .collect::<Result<_, _>>()?;
    let outer: usize = s[..ax].iter().product();
    let inner: usize = s[ax + 1..].iter().product();
    let mut shape = s[..ax].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&s[ax + 1..]);
    if outer.saturating_mul(ids.len()).saturating_mul(inner) > MAX_HOST_ELEMENTS {
        return Err(format!("Gather output {shape:?} is too large"));
    }
    let pick = |v: &[i64]| -> Vec<i64> {
        let mut out = Vec::with_capacity(outer * ids.len() * inner);
        for o in 0..outer {
            for &j in &ids {
                let base = (o * s[ax] + j) * inner;
                out.extend_from_slice(&v[base..base + inner]);
            }
        }
        out
    };
    let pickf = |v: &[f64]| -> Vec<f64> {
        let mut out = Vec::with_capacity(outer * ids.len() * inner);
        for o in 0..outer {
            for &j in &ids {
                let base = (o * s[ax] + j) * inner;
                out.extend_from_slice(&v[base..base + inner]);
            }
        }
        out
    };
    Ok(match &data.data {
        CData::I(v) => Const::ints(shape, pick(v)),
        CData::F(v) => Const::floats(shape, pickf(v)),
    })
}

/// Permute the axes of a host tensor.
pub fn transpose(c: &Const, perm: &[usize]) -> Const {
    let s = &c.shape;
    let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    let st = strides(s);
    let ost = strides(&out);
    let n = c.len();
    let src = |i: usize| {
        let mut rem = i;
        let mut idx = 0;
        for d in 0..out.len() {
            let q = rem / ost[d];
            rem %= ost[d];
            idx += q * st[perm[d]];
        }
        idx
    };
    match &c.data {
        CData::I(v) => Const::ints(out.clone(), (0..n).map(|i| v[src(i)]).collect()),
        CData::F(v) => Const::floats(out.clone(), (0..n).map(|i| v[src(i)]).collect()),
    }
}

fn with_data(c: &Const, shape: Vec<usize>) -> Const {
    Const {
        shape,
        data: c.data.clone(),
    }
}

/// Evaluate `node` on host inputs (`None` for an omitted optional input); `Ok(None)` when the
/// operator is not one of [`HOST_OPS`].
pub fn eval(
    node: &NodeDef,
    ins: &[Option<Arc<Const>>],
    opset: i64,
) -> Result<Option<Vec<Const>>, String> {
    let get = |i: usize| -> Result<&Const, String> {
        ins.get(i)
            .and_then(|x| x.as_deref())
            .ok_or_else(|| format!("input {i} is missing"))
    };
    let opt = |i: usize| ins.get(i).and_then(|x| x.as_deref());
    let ints_in =
        |i: usize| -> Result<Option<Vec<i64>>, String> { opt(i).map(Const::i64s).transpose() };
    let out = match node.op.as_str() {
        "Constant" => match node.attrs.first().map(|(n, a)| (n.as_str(), a)) {
            Some(("value", Attr::T(t))) => (**t).clone(),
            Some(("value_float", Attr::F(f))) => {
                Const::floats(vec![], vec![super::graph::decimal(*f)])
            }
            Some(("value_int", Attr::I(i))) => Const::ints(vec![], vec![*i]),
            Some(("value_floats", Attr::Fs(f))) => {
                Const::floats(vec![f.len()], f.iter().map(|&x| x as f64).collect())
            }
            Some(("value_ints", Attr::Is(v))) => Const::ints(vec![v.len()], v.clone()),
            _ => return Err("Constant without a supported value attribute".into()),
        },
        "Identity" | "Dropout" => get(0)?.clone(),
        "Cast" => {
            let c = get(0)?;
            let to = node.int("to")?.ok_or("Cast without `to`")?;
            match to {
                1 | 10 | 11 | 16 => Const::floats(c.shape.clone(), c.f64s()),
                2..=9 | 12 | 13 => Const::ints(
                    c.shape.clone(),
                    c.f64s().into_iter().map(|x| x.trunc() as i64).collect(),
                ),
                t => return Err(format!("Cast to element type {t} is not supported")),
            }
        }
        "Shape" => {
            let c = get(0)?;
            Const::ints(
                vec![c.shape.len()],
                c.shape.iter().map(|&d| d as i64).collect(),
            )
        }
        "Reshape" => {
            let c = get(0)?;
            let spec = get(1)?.i64s()?;
            let allowzero = node.int("allowzero")?.unwrap_or(0) != 0;
            with_data(c, reshape_target(&c.shape, &spec, allowzero)?)
        }
        "Flatten" => {
            let c = get(0)?;
            let a = axis_incl(node.int("axis")?.unwrap_or(1), c.shape.len())?;
            let outer: usize = c.shape[..a].iter().product();
            with_data(c, vec![outer, c.len() / outer.max(1)])
        }
        "Unsqueeze" => {
            let c = get(0)?;
            let axes = if opset >= 13 {
                ints_in(1)?
            } else {
                node.ints("axes")?
            }
            .ok_or("Unsqueeze without axes")?;
            with_data(c, unsqueeze_shape(&c.shape, &axes)?)
        }
        "Squeeze" => {
            let c = get(0)?;
            let axes = if opset >= 13 {
                ints_in(1)?
            } else {
                node.ints("axes")?
            };
            with_data(c, squeeze_shape(&c.shape, axes.as_deref())?)
        }
        "Concat" => {
            let parts: Vec<&Const> = (0..ins.len()).map(get).collect::<Result<_, _>>()?;
            let r = parts[0].shape.len();
            let a = axis(node.int("axis")?.ok_or("Concat without axis")?, r)?;
            for p in &parts {
                if p.shape.len() != r
                    || p.shape
                        .iter()
                        .enumerate()
                        .any(|(i, &d)| i != a && d != parts[0].shape[i])
                {
                    return Err(format!(
                        "Concat of shapes {:?} and {:?}",
                        parts[0].shape, p.shape
                    ));
                }
            }
            let outer: usize = parts[0].shape[..a].iter().product();
            let mut shape = parts[0].shape.clone();
            shape[a] = parts.iter().map(|p| p.shape[a]).sum();
            let ints = parts.iter().all(|p| p.is_int());
            let chunk = |p: &Const, o: usize| {
                let inner: usize = p.shape[a..].iter().product();
                (o * inner)..((o + 1) * inner)
            };
            if ints {
                let mut v = Vec::new();
                for o in 0..outer {
                    for p in &parts {
                        v.extend_from_slice(&p.i64s()?[chunk(p, o)]);
                    }
                }
                Const::ints(shape, v)
            } else {
                let mut v = Vec::new();
                for o in 0..outer {
                    for p in &parts {
                        v.extend_from_slice(&p.f64s()[chunk(p, o)]);
                    }
                }
                Const::floats(shape, v)
            }
        }
        "Gather" => {
            let c = get(0)?;
            let a = axis(node.int("axis")?.unwrap_or(0), c.shape.len())?;
            gather(c, get(1)?, a)?
        }
        "Transpose" => {
            let c = get(0)?;
            let perm = perm_of(node, c.shape.len())?;
            transpose(c, &perm)
        }
        "Add" | "Sub" | "Mul" | "Div" => binary(get(0)?, get(1)?, &node.op)?,
        "Neg" => {
            let c = get(0)?;
            match &c.data {
                CData::I(v) => Const::ints(
                    c.shape.clone(),
                    v.iter().map(|x| x.wrapping_neg()).collect(),
                ),
                CData::F(v) => Const::floats(c.shape.clone(), v.iter().map(|x| -x).collect()),
            }
        }
        "Sqrt" => {
            let c = get(0)?;
            Const::floats(
                c.shape.clone(),
                c.f64s().into_iter().map(f64::sqrt).collect(),
            )
        }
        "Range" => {
            let (s, l, d) = (get(0)?, get(1)?, get(2)?);
            let (s0, l0, d0) = (
                s.scalar().ok_or("Range start is not a scalar")?,
                l.scalar().ok_or("Range limit is not a scalar")?,
                d.scalar().ok_or("Range delta is not a scalar")?,
            );
            if d0 == 0.0 {
                return Err("Range with delta 0".into());
            }
            let n = ((l0 - s0) / d0).ceil().max(0.0);
            if n > MAX_HOST_ELEMENTS as f64 {
                return Err("Range is too long".into());
            }
            let n = n as usize;
            if s.is_int() && l.is_int() && d.is_int() {
                Const::ints(
                    vec![n],
                    (0..n).map(|i| (s0 + i as f64 * d0) as i64).collect(),
                )
            } else {
                Const::floats(vec![n], (0..n).map(|i| s0 + i as f64 * d0).collect())
            }
        }
        "ConstantOfShape" => {
            let dims = get(0)?.i64s()?;
            let n = checked_numel(&dims)?;
            if n > MAX_HOST_ELEMENTS {
                return Err(format!("ConstantOfShape of {n} elements is too large"));
            }
            let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
            match node.attr("value") {
                Some(Attr::T(t)) if t.is_int() => {
                    Const::ints(shape, vec![t.i64s()?.first().copied().unwrap_or(0); n])
                }
                Some(Attr::T(t)) => {
                    Const::floats(shape, vec![t.f64s().first().copied().unwrap_or(0.0); n])
                }
                _ => Const::floats(shape, vec![0.0; n]),
            }
        }
        "Slice" => {
            let c = get(0)?;
            let r = c.shape.len();
            let (starts, ends, axes, steps) = if opset >= 10 {
                (get(1)?.i64s()?, get(2)?.i64s()?, ints_in(3)?, ints_in(4)?)
            } else {
                (
                    node.ints("starts")?.ok_or("Slice without starts")?,
                    node.ints("ends")?.ok_or("Slice without ends")?,
                    node.ints("axes")?,
                    None,
                )
            };
            let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
            let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return Err("Slice inputs of different lengths".into());
            }
            let mut ranges: Vec<Vec<usize>> = c.shape.iter().map(|&d| (0..d).collect()).collect();
            for k in 0..starts.len() {
                let a = axis(axes[k], r)?;
                let (lo, hi) = slice_range(starts[k], ends[k], steps[k], c.shape[a])?;
                ranges[a] = slice_indices(lo, hi, steps[k]);
            }
            let shape: Vec<usize> = ranges.iter().map(Vec::len).collect();
            let st = strides(&c.shape);
            let n: usize = shape.iter().product();
            let ost = strides(&shape);
            let src = |i: usize| {
                let mut rem = i;
                let mut idx = 0;
                for d in 0..shape.len() {
                    let q = rem / ost[d];
                    rem %= ost[d];
                    idx += ranges[d][q] * st[d];
                }
                idx
            };
            match &c.data {
                CData::I(v) => Const::ints(shape.clone(), (0..n).map(|i| v[src(i)]).collect()),
                CData::F(v) => Const::floats(shape.clone(), (0..n).map(|i| v[src(i)]).collect()),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(vec![out]))
}

/// `Flatten`'s axis may equal the rank.
pub fn axis_incl(a: i64, r: usize) -> Result<usize, String> {
    let v = if a < 0 { a + r as i64 } else { a };
    if v < 0 || v as usize > r {
        return Err(format!("axis {a} is out of range for rank {r}"));
    }
    Ok(v as usize)
}

/// `Transpose`'s permutation (reversed axes by default), checked.
pub fn perm_of(node: &NodeDef, r: usize) -> Result<Vec<usize>, String> {
    let perm: Vec<usize> = match node.ints("perm")? {
        Some(p) => p.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?,
        None => (0..r).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..r).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is not a permutation of {r} axes"));
    }
    Ok(perm)
}

/// Clamped `[start, end)` of a slice with step `step` on an axis of size `d` (ONNX rules).
pub fn slice_range(start: i64, end: i64, step: i64, d: usize) -> Result<(i64, i64), String> {
    if step == 0 {
        return Err("Slice step 0".into());
    }
    let d = d as i64;
    let norm = |x: i64| if x < 0 { x.saturating_add(d) } else { x };
    let (s, e) = (norm(start), norm(end));
    Ok(if step > 0 {
        (s.clamp(0, d), e.clamp(0, d))
    } else {
        (s.clamp(-1, d - 1), e.clamp(-1, d - 1))
    })
}

/// The indices a slice visits.
pub fn slice_indices(lo: i64, hi: i64, step: i64) -> Vec<usize> {
    let mut v = Vec::new();
    let mut i = lo;
    while (step > 0 && i < hi) || (step < 0 && i > hi) {
        v.push(i as usize);
        i += step;
    }
    v
}
