//! Host-side tensors: plain row-major buffers that cross the boundary between burn and the
//! rest of icam (weights on the way in, activations and gradients on the way out).

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::error::{ModelError, Result};

/// Floating-point precision of a network run (A20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32, the default.
    #[default]
    F32,
    /// float64, for golden comparisons to ~1e-9.
    F64,
}

impl Precision {
    /// The burn dtype of this precision.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }

    /// `float32` / `float64`, as PyTorch names them.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "float32",
            Precision::F64 => "float64",
        }
    }
}

/// A row-major buffer in float32 or float64.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A host tensor: shape plus row-major data.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: HostData,
}

impl HostTensor {
    /// A float32 tensor; panics if the length does not match the shape (a programming error).
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape/data length"
        );
        Self {
            shape,
            data: HostData::F32(data),
        }
    }

    /// A float64 tensor; panics if the length does not match the shape (a programming error).
    pub fn f64(shape: Vec<usize>, data: Vec<f64>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape/data length"
        );
        Self {
            shape,
            data: HostData::F64(data),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
        }
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Precision of the stored data.
    pub fn precision(&self) -> Precision {
        match &self.data {
            HostData::F32(_) => Precision::F32,
            HostData::F64(_) => Precision::F64,
        }
    }

    /// Element `i` (flat index) as f64.
    pub fn get(&self, i: usize) -> f64 {
        match &self.data {
            HostData::F32(v) => v[i] as f64,
            HostData::F64(v) => v[i],
        }
    }

    /// Whether no element is NaN or infinite. Checked a block at a time without branches
    /// inside a block, so that it vectorises (25 M weights of ResNet-50 are checked at load;
    /// element by element through [`HostTensor::get`] that was ~6 % of an `icam predict`).
    pub fn all_finite(&self) -> bool {
        fn finite<T: Copy>(v: &[T], is_finite: impl Fn(T) -> bool) -> bool {
            v.chunks(4096)
                .all(|c| c.iter().fold(true, |ok, &x| ok & is_finite(x)))
        }
        match &self.data {
            HostData::F32(v) => finite(v, f32::is_finite),
            HostData::F64(v) => finite(v, f64::is_finite),
        }
    }

    /// Elements `range` as f64 (exact widening for float32).
    pub fn slice_f64(&self, range: std::ops::Range<usize>) -> Vec<f64> {
        match &self.data {
            HostData::F32(v) => v[range].iter().map(|&x| x as f64).collect(),
            HostData::F64(v) => v[range].to_vec(),
        }
    }

    /// All elements as f64.
    pub fn to_f64(&self) -> Vec<f64> {
        self.slice_f64(0..self.len())
    }

    /// Elements per index of the first dimension.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Sub-tensor `b` of the first dimension, as f64.
    pub fn sample_f64(&self, b: usize) -> Vec<f64> {
        let n = self.sample_len();
        self.slice_f64(b * n..(b + 1) * n)
    }

    /// Read a burn tensor back to the host (float32 stays float32, float64 stays float64,
    /// anything else becomes float32).
    pub fn from_burn<const D: usize>(t: Tensor<D>) -> Result<Self> {
        let shape = t.dims().to_vec();
        let data: TensorData = t
            .try_into_data()
            .map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let data = match data.dtype() {
            DType::F64 => HostData::F64(data.try_into_vec::<f64>().map_err(data_err)?),
            DType::F32 => HostData::F32(data.try_into_vec::<f32>().map_err(data_err)?),
            _ => HostData::F32(
                data.convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(data_err)?,
            ),
        };
        Ok(Self { shape, data })
    }

    /// Upload to `device` as a burn tensor of precision `precision` (converting if needed).
    pub fn to_burn<const D: usize>(
        &self,
        device: &Device,
        precision: Precision,
    ) -> Result<Tensor<D>> {
        if self.shape.len() != D {
            return Err(ModelError::Input(format!(
                "expected a rank-{D} tensor, got shape {:?}",
                self.shape
            )));
        }
        let data = match (&self.data, precision) {
            (HostData::F32(v), Precision::F32) => TensorData::new(v.clone(), self.shape.clone()),
            (HostData::F64(v), Precision::F64) => TensorData::new(v.clone(), self.shape.clone()),
            (HostData::F32(v), Precision::F64) => TensorData::new(
                v.iter().map(|&x| x as f64).collect::<Vec<_>>(),
                self.shape.clone(),
            ),
            (HostData::F64(v), Precision::F32) => TensorData::new(
                v.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                self.shape.clone(),
            ),
        };
        Ok(Tensor::from_data(data, (device, precision.dtype())))
    }
}

fn data_err(e: burn::tensor::DataError) -> ModelError {
    ModelError::Backend(format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN or an infinity anywhere (first block, last element of a later block) is found, in
    /// both precisions; finite and empty tensors pass.
    #[test]
    fn all_finite_finds_every_non_finite_value() {
        let n = 3 * 4096 + 5;
        let ramp: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 100.0).collect();
        assert!(HostTensor::f32(vec![n], ramp.clone()).all_finite());
        assert!(HostTensor::f32(vec![0], vec![]).all_finite());
        for (at, bad) in [
            (0, f32::NAN),
            (4096, f32::INFINITY),
            (n - 1, f32::NEG_INFINITY),
        ] {
            let mut v = ramp.clone();
            v[at] = bad;
            assert!(
                !HostTensor::f32(vec![n], v.clone()).all_finite(),
                "{bad} at {at}"
            );
            let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
            assert!(
                !HostTensor::f64(vec![n], v64).all_finite(),
                "f64 {bad} at {at}"
            );
        }
    }
}
