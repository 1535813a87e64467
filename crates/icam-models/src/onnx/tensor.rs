//! Host constants: ONNX initializers, `Constant` nodes and the small integer tensors of shape
//! arithmetic, decoded from `TensorProto` with every size checked against the bytes present.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use super::proto::{TensorProto, data_type as dt};

/// The most elements one tensor may have (initializer, constant or activation): 2²⁸ (1 GiB in
/// float32), so that no shape in a hostile file can ask for an unbounded allocation.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The most elements a tensor computed on the host may have (shape arithmetic, constants made
/// by `ConstantOfShape` or `Range`).
pub const MAX_HOST_ELEMENTS: usize = 1 << 24;

/// Host data: floats (kept in float64, exact for float32/float16 sources) or integers.
#[derive(Clone, Debug, PartialEq)]
pub enum CData {
    F(Vec<f64>),
    I(Vec<i64>),
}

/// A host tensor of constants.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    pub data: CData,
}

impl Const {
    pub fn ints(shape: Vec<usize>, v: Vec<i64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), v.len());
        Self {
            shape,
            data: CData::I(v),
        }
    }

    pub fn floats(shape: Vec<usize>, v: Vec<f64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), v.len());
        Self {
            shape,
            data: CData::F(v),
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            CData::F(v) => v.len(),
            CData::I(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_int(&self) -> bool {
        matches!(self.data, CData::I(_))
    }

    /// Values as f64.
    pub fn f64s(&self) -> Vec<f64> {
        match &self.data {
            CData::F(v) => v.clone(),
            CData::I(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Values as integers (floats must be integral).
    pub fn i64s(&self) -> Result<Vec<i64>, String> {
        match &self.data {
            CData::I(v) => Ok(v.clone()),
            CData::F(v) => v
                .iter()
                .map(|&x| {
                    if x.fract() == 0.0 && x.abs() < 9.0e15 {
                        Ok(x as i64)
                    } else {
                        Err(format!("expected integers, found {x}"))
                    }
                })
                .collect(),
        }
    }

    /// The single value of a one-element tensor.
    pub fn scalar(&self) -> Option<f64> {
        (self.len() == 1).then(|| self.f64s()[0])
    }
}

/// Number of elements of `dims`, checked: no negative dimension, at most [`MAX_ELEMENTS`].
pub fn checked_numel(dims: &[i64]) -> Result<usize, String> {
    let mut n: usize = 1;
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?;
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| format!("shape {dims:?} has more than {MAX_ELEMENTS} elements"))?;
    }
    Ok(n)
}

/// Reads tensors stored outside the model file (`data_location = EXTERNAL`), relative to the
/// model's folder; the location may not leave that folder.
pub struct External {
    dir: PathBuf,
    files: HashMap<String, (File, u64)>,
}

impl External {
    pub fn new(model: &Path) -> Self {
        Self {
            dir: model.parent().map(Path::to_path_buf).unwrap_or_default(),
            files: HashMap::new(),
        }
    }

    fn read(&mut self, t: &TensorProto, bytes: usize) -> Result<Vec<u8>, String> {
        let get = |k: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == k)
                .map(|e| e.value.as_str())
        };
        let location = get("location").ok_or("external data without a location")?;
        let rel = Path::new(location);
        if rel.as_os_str().is_empty()
            || rel
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!(
                "external data location `{location}` leaves the model's folder"
            ));
        }
        let num = |k: &str| -> Result<Option<u64>, String> {
            get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("external data {k} `{v}` is not a number"))
                })
                .transpose()
        };
        let offset = num("offset")?.unwrap_or(0);
        let length = num("length")?.unwrap_or(bytes as u64);
        if length != bytes as u64 {
            return Err(format!(
                "external data holds {length} bytes but the shape needs {bytes}"
            ));
        }
        if !self.files.contains_key(location) {
            let path = self.dir.join(rel);
            let f = File::open(&path)
                .map_err(|e| format!("cannot open external data {}: {e}", path.display()))?;
            let len = f
                .metadata()
                .map_err(|e| format!("cannot read external data {}: {e}", path.display()))?
                .len();
            self.files.insert(location.to_string(), (f, len));
        }
        let (f, len) = self.files.get_mut(location).expect("inserted above");
        if offset.checked_add(length).is_none_or(|end| end > *len) {
            return Err(format!(
                "external data {location}: bytes {offset}..{} lie past its end ({len} bytes)",
                offset.saturating_add(length)
            ));
        }
        let mut buf = vec![0u8; bytes];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| format!("cannot read external data {location}: {e}"))?;
        Ok(buf)
    }
}

fn elem_size(data_type: i32) -> Option<usize> {
    Some(match data_type {
        dt::FLOAT | dt::INT32 => 4,
        dt::DOUBLE | dt::INT64 => 8,
        dt::FLOAT16 | dt::BFLOAT16 => 2,
        dt::UINT8 | dt::INT8 | dt::BOOL => 1,
        _ => return None,
    })
}

/// Decode a tensor; every length is checked against its shape before use.
pub fn decode(t: &TensorProto, ext: &mut External) -> Result<Const, String> {
    let n = checked_numel(&t.dims)?;
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let size = elem_size(t.data_type)
        .ok_or_else(|| format!("element type {} is not supported", t.data_type))?;
    let raw: Option<Vec<u8>> = if t.data_location == 1 {
        Some(ext.read(t, n * size)?)
    } else if !t.raw_data.is_empty() || n == 0 {
        if t.raw_data.len() != n * size {
            return Err(format!(
                "shape {:?} needs {} bytes of data but the tensor holds {}",
                t.dims,
                n * size,
                t.raw_data.len()
            ));
        }
        None
    } else {
        None
    };
    let raw_bytes: Option<&[u8]> = raw.as_deref().or(if t.raw_data.is_empty() {
        None
    } else {
        Some(&t.raw_data)
    });
    let typed_len = |len: usize| -> Result<(), String> {
        if len != n {
            Err(format!(
                "shape {:?} needs {n} values but the tensor holds {len}",
                t.dims
            ))
        } else {
            Ok(())
        }
    };
    fn le<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        b.chunks_exact(N)
            .map(|c| c.try_into().expect("chunks of N bytes"))
    }
    let data = match (t.data_type, raw_bytes) {
        (dt::FLOAT, Some(b)) => {
            CData::F(le::<4>(b).map(|c| f32::from_le_bytes(c) as f64).collect())
        }
        (dt::DOUBLE, Some(b)) => CData::F(le::<8>(b).map(f64::from_le_bytes).collect()),
        (dt::FLOAT16, Some(b)) => CData::F(
            le::<2>(b)
                .map(|c| half::f16::from_le_bytes(c).to_f64())
                .collect(),
        ),
        (dt::BFLOAT16, Some(b)) => CData::F(
            le::<2>(b)
                .map(|c| half::bf16::from_le_bytes(c).to_f64())
                .collect(),
        ),
        (dt::INT64, Some(b)) => CData::I(le::<8>(b).map(i64::from_le_bytes).collect()),
        (dt::INT32, Some(b)) => {
            CData::I(le::<4>(b).map(|c| i32::from_le_bytes(c) as i64).collect())
        }
        (dt::INT8, Some(b)) => CData::I(b.iter().map(|&x| x as i8 as i64).collect()),
        (dt::UINT8 | dt::BOOL, Some(b)) => CData::I(b.iter().map(|&x| x as i64).collect()),
        (dt::FLOAT, None) => {
            typed_len(t.float_data.len())?;
            CData::F(t.float_data.iter().map(|&x| x as f64).collect())
        }
        (dt::DOUBLE, None) => {
            typed_len(t.double_data.len())?;
            CData::F(t.double_data.clone())
        }
        (dt::INT64, None) => {
            typed_len(t.int64_data.len())?;
            CData::I(t.int64_data.clone())
        }
        (dt::FLOAT16 | dt::BFLOAT16, None) => {
            // Stored as the 16-bit patterns in int32_data.
            typed_len(t.int32_data.len())?;
            let bf = t.data_type == dt::BFLOAT16;
            CData::F(
                t.int32_data
                    .iter()
                    .map(|&b| {
                        let bits = b as u16;
                        if bf {
                            half::bf16::from_bits(bits).to_f64()
                        } else {
                            half::f16::from_bits(bits).to_f64()
                        }
                    })
                    .collect(),
            )
        }
        (_, None) => {
            typed_len(t.int32_data.len())?;
            CData::I(t.int32_data.iter().map(|&x| x as i64).collect())
        }
        _ => return Err(format!("element type {} is not supported", t.data_type)),
    };
    Ok(Const { shape, data })
}
