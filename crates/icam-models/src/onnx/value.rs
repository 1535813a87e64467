//! Run-time values of the interpreter: float tensors of rank 1–5 on the model's device (burn
//! tensors carry their rank in the type, ONNX values do not) and host constants (weights that
//! were not folded into an operator, and the integer tensors of shape arithmetic).

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use super::tensor::Const;
use crate::host::Precision;

/// A float tensor of rank 1 to 5.
#[derive(Clone, Debug)]
pub enum Ft {
    R1(Tensor<1>),
    R2(Tensor<2>),
    R3(Tensor<3>),
    R4(Tensor<4>),
    R5(Tensor<5>),
}

/// Apply a rank-generic expression to an [`Ft`], keeping its rank.
macro_rules! map_ft {
    ($x:expr, $t:ident => $e:expr) => {
        match $x {
            Ft::R1($t) => Ft::R1($e),
            Ft::R2($t) => Ft::R2($e),
            Ft::R3($t) => Ft::R3($e),
            Ft::R4($t) => Ft::R4($e),
            Ft::R5($t) => Ft::R5($e),
        }
    };
}
pub(crate) use map_ft;

/// Evaluate a rank-generic expression on an [`Ft`] (any result type).
macro_rules! with_ft {
    ($x:expr, $t:ident => $e:expr) => {
        match $x {
            Ft::R1($t) => $e,
            Ft::R2($t) => $e,
            Ft::R3($t) => $e,
            Ft::R4($t) => $e,
            Ft::R5($t) => $e,
        }
    };
}
pub(crate) use with_ft;

/// Build an [`Ft`] of rank `s.len()` from a rank-generic constructor taking `[usize; R]`.
macro_rules! ft_of_shape {
    ($s:expr, $a:ident => $e:expr) => {{
        let s: &[usize] = $s;
        match s.len() {
            1 => {
                let $a = [s[0]];
                Ft::R1($e)
            }
            2 => {
                let $a = [s[0], s[1]];
                Ft::R2($e)
            }
            3 => {
                let $a = [s[0], s[1], s[2]];
                Ft::R3($e)
            }
            4 => {
                let $a = [s[0], s[1], s[2], s[3]];
                Ft::R4($e)
            }
            _ => {
                let $a = [s[0], s[1], s[2], s[3], s[4]];
                Ft::R5($e)
            }
        }
    }};
}

impl Ft {
    pub fn dims(&self) -> Vec<usize> {
        with_ft!(self, t => t.dims().to_vec())
    }

    pub fn rank(&self) -> usize {
        with_ft!(self, t => t.dims().len())
    }

    /// Reshape to `s` (rank 1–5, same number of elements; checked by shape inference).
    pub fn reshape(self, s: &[usize]) -> Ft {
        if self.dims() == s {
            return self;
        }
        with_ft!(self, t => ft_of_shape!(s, a => t.reshape(a)))
    }

    /// Prepend size-1 axes up to rank `r`.
    pub fn lift(self, r: usize) -> Ft {
        let d = self.dims();
        if d.len() >= r {
            return self;
        }
        let mut s = vec![1; r - d.len()];
        s.extend(d);
        self.reshape(&s)
    }

    /// Upload a host constant in the run precision (rank 0 becomes rank 1).
    pub fn upload(c: &Const, device: &Device, precision: Precision) -> Ft {
        let shape: Vec<usize> = if c.shape.is_empty() {
            vec![1]
        } else {
            c.shape.clone()
        };
        let v = c.f64s();
        let data = match precision {
            Precision::F32 => TensorData::new(
                v.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                shape.clone(),
            ),
            Precision::F64 => TensorData::new(v, shape.clone()),
        };
        let opts = (device, precision.dtype());
        ft_of_shape!(&shape, _a => Tensor::from_data(data, opts))
    }

    pub fn into_r4(self) -> Tensor<4> {
        match self {
            Ft::R4(t) => t,
            other => {
                let d = other.dims();
                match other.reshape(&pad4(&d)) {
                    Ft::R4(t) => t,
                    _ => unreachable!("reshape to rank 4"),
                }
            }
        }
    }
}

fn pad4(d: &[usize]) -> Vec<usize> {
    let mut s = vec![1; 4usize.saturating_sub(d.len())];
    s.extend(d);
    s
}

/// A value of the interpreter.
// A burn tensor is a few hundred bytes by value; values are moved once per operator, so
// boxing them would only add an allocation per operator.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Value {
    Dev(Ft),
    Host(Arc<Const>),
}

/// What shape inference knows about a value.
#[derive(Clone, Debug)]
pub enum Meta {
    Dev { shape: Vec<usize>, layout: Layout },
    Host(Arc<Const>),
}

/// Memory layout of a 4-D activation, tracked through transposes (ConvNeXt runs its blocks'
/// inner layers channels-last): only channels-first activations are tappable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[batch, channels, height, width]`.
    Nchw,
    /// `[batch, height, width, channels]`.
    Nhwc,
    /// Anything else.
    Other,
}

impl Meta {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Meta::Dev { shape, .. } => shape.clone(),
            Meta::Host(c) => c.shape.clone(),
        }
    }
}

macro_rules! ft_from {
    ($($d:literal => $v:ident),*) => {
        $(impl From<Tensor<$d>> for Ft {
            fn from(t: Tensor<$d>) -> Self {
                Ft::$v(t)
            }
        })*
    };
}
ft_from!(1 => R1, 2 => R2, 3 => R3, 4 => R4, 5 => R5);
