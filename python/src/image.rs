//! Images from Python: a path (`str` or `os.PathLike`) or an array (`H×W×3` uint8 RGB; also
//! `H×W` grey and `H×W×4` RGBA, converted as the image files of those kinds are), e.g. a
//! numpy array or a PIL image (anything `numpy.asarray` takes).

use std::path::PathBuf;

use icam_app::{InputImage, LoadedModel};
use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::value_error;

/// An image as given, read while Python's lock is held; decoded and preprocessed without it.
pub enum ImageArg {
    Path(PathBuf),
    Pixels(RgbImage),
}

impl ImageArg {
    pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
            return Ok(Self::Path(obj.extract()?));
        }
        let np = obj.py().import("numpy")?;
        let arr = np.call_method1("ascontiguousarray", (obj,))?;
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        let dtype = arr.getattr("dtype")?.str()?.to_string();
        let bad = || {
            value_error(format!(
                "an image array must be uint8 of shape (H, W, 3), (H, W) or (H, W, 4); got {dtype} of shape {shape:?}"
            ))
        };
        if dtype != "uint8" {
            return Err(bad());
        }
        let arr: PyReadonlyArrayDyn<'_, u8> = arr.extract().map_err(|_| bad())?;
        let data = arr.as_slice().map_err(|_| bad())?.to_vec();
        debug_assert_eq!(arr.len(), data.len());
        let (h, w) = match shape[..] {
            [h, w] | [h, w, _] => (h, w),
            _ => return Err(bad()),
        };
        if h == 0 || w == 0 {
            return Err(value_error(format!(
                "the image array is empty (shape {shape:?})"
            )));
        }
        let (h32, w32) = (
            u32::try_from(h).map_err(|_| bad())?,
            u32::try_from(w).map_err(|_| bad())?,
        );
        // The same conversions as decoding a grey or RGBA file (`DynamicImage::to_rgb8`).
        let img = match shape[..] {
            [_, _] => GrayImage::from_raw(w32, h32, data).map(DynamicImage::ImageLuma8),
            [_, _, 3] => RgbImage::from_raw(w32, h32, data).map(DynamicImage::ImageRgb8),
            [_, _, 4] => RgbaImage::from_raw(w32, h32, data).map(DynamicImage::ImageRgba8),
            _ => None,
        }
        .ok_or_else(bad)?;
        Ok(Self::Pixels(img.to_rgb8()))
    }

    /// Decode (a path) and preprocess for `model`. Runs without Python's lock.
    pub fn prepare(self, model: &LoadedModel) -> anyhow::Result<InputImage> {
        match self {
            Self::Path(p) => {
                icam_app::model::check_image(&p)?;
                model.open_image(&p)
            }
            Self::Pixels(rgb) => {
                let name = format!("<array {}x{}>", rgb.width(), rgb.height());
                model.prepare_image(name, rgb)
            }
        }
    }
}
