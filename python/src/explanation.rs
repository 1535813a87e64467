//! `icam.Explanation` and `icam.Layer`: one explanation of one image for one class, as numpy
//! arrays, a dict and pictures; shown in a notebook as its overlay.

use std::path::PathBuf;

use icam::Map;
use icam_app::Outputs;
use icam_app::explanation::{Explanation, LayerMap};
use icam_app::output::png_bytes;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::guarded;

/// A map as a float array of shape `(h, w)`.
fn map_array<'py>(py: Python<'py>, m: &Map, f32_: bool) -> PyResult<Bound<'py, PyAny>> {
    if f32_ {
        // As heatmap.npy: each value rounded to float32.
        let v: Vec<f32> = m.data.iter().map(|&x| x as f32).collect();
        Ok(PyArray1::from_vec(py, v).reshape([m.h, m.w])?.into_any())
    } else {
        Ok(PyArray1::from_vec(py, m.data.clone())
            .reshape([m.h, m.w])?
            .into_any())
    }
}

/// An RGB picture as a uint8 array of shape `(h, w, 3)`.
pub fn rgb_array<'py>(py: Python<'py>, img: &image::RgbImage) -> PyResult<Bound<'py, PyAny>> {
    let (w, h) = img.dimensions();
    Ok(PyArray1::from_slice(py, img.as_raw())
        .reshape([h as usize, w as usize, 3])?
        .into_any())
}

/// A JSON value as Python's `json.loads` reads it (so numbers are exactly report.json's).
pub fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let s = serde_json::to_string(v).map_err(|e| crate::errors::to_py(e.into()))?;
    py.import("json")?.call_method1("loads", (s,))
}

/// The explanation of one image for one class (`Model.explain`'s result).
///
/// `heatmap` (float32, model-input size, in [0, 1]), `overlay()` (uint8 RGB at the image's own
/// size), `layer_grid()`, `layers` (per-layer maps and, for I-CAM, score, rank, weight,
/// selection), `report` (the fields of report.json), `save(dir)` (the files of
/// `icam explain`). A notebook shows the overlay.
#[pyclass(frozen, name = "Explanation", module = "icam")]
pub struct PyExplanation {
    pub inner: Explanation,
}

#[pymethods]
impl PyExplanation {
    /// The method (`icam`, `gradcam`, ...).
    #[getter]
    fn method(&self) -> &str {
        &self.inner.method
    }

    /// The class explained (its index).
    #[getter]
    fn target(&self) -> usize {
        self.inner.class
    }

    /// The class as shown: `name (index)`, or the index for a model without class names.
    #[getter]
    fn label(&self) -> &str {
        &self.inner.class_label
    }

    /// The class name, for a model with ImageNet's classes.
    #[getter]
    fn class_name(&self) -> Option<String> {
        self.inner.report["class_name"].as_str().map(String::from)
    }

    /// The class's logit on the image.
    #[getter]
    fn logit(&self) -> f64 {
        self.inner.logit
    }

    /// The class's softmax probability on the image.
    #[getter]
    fn prob(&self) -> f64 {
        self.inner.prob
    }

    /// The image's name (its path as given, or `<array WxH>`).
    #[getter]
    fn image(&self) -> &str {
        &self.inner.image.name
    }

    /// Warnings about this explanation (also issued as `icam.IcamWarning`).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// The heatmap: float32, shape `(H, W)` of the model input, values in [0, 1] (equal to
    /// `icam explain`'s heatmap.npy).
    #[getter]
    fn heatmap<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        map_array(py, self.inner.heatmap(), true)
    }

    /// The fields of report.json, as a dict.
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.report)
    }

    /// Every explained layer, in order: its map and, for I-CAM, its score, rank, weight and
    /// whether it was selected.
    #[getter]
    fn layers(&self) -> Vec<PyLayer> {
        self.inner
            .layers
            .iter()
            .map(|l| PyLayer { inner: l.clone() })
            .collect()
    }

    /// The heatmap blended on the original image at its own size: uint8 RGB, shape
    /// `(height, width, 3)` (overlay.png).
    fn overlay<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let img = py.detach(|| self.inner.overlay());
        rgb_array(py, &img)
    }

    /// One panel per layer and one for the final map (layers.png): uint8 RGB.
    fn layer_grid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let img = py.detach(|| self.inner.layer_grid());
        rgb_array(py, &img)
    }

    /// Write heatmap.npy, overlay.png, layers.png and report.json into `out` (created if
    /// needed; all files or none), and with `dump_intermediates` I-CAM's intermediates as
    /// `.npy` into that folder. Returns the paths written.
    #[pyo3(signature = (out, *, dump_intermediates = None))]
    fn save(
        &self,
        py: Python<'_>,
        out: PathBuf,
        dump_intermediates: Option<PathBuf>,
    ) -> PyResult<Vec<PathBuf>> {
        py.detach(|| {
            guarded(|| {
                let mut files = Outputs::default();
                self.inner.stage(&mut files, &out)?;
                if let Some(d) = &dump_intermediates {
                    self.inner.stage_intermediates(&mut files, d)?;
                }
                files.commit()
            })
        })
    }

    /// The overlay as PNG bytes (what a notebook displays; the bytes of overlay.png).
    fn _repr_png_<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| guarded(|| png_bytes(&self.inner.overlay())))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn __repr__(&self) -> String {
        let e = &self.inner;
        let px = &e.image.pixels;
        let layers = match e.icam() {
            Some(r) => format!(
                "{} of {} layers selected{}",
                r.report.selected_layers.len(),
                e.layers.len(),
                if r.report.selection.degenerate {
                    " (degenerate: equal weights)"
                } else {
                    ""
                }
            ),
            None => format!(
                "{} layer{}",
                e.layers.len(),
                if e.layers.len() == 1 { "" } else { "s" }
            ),
        };
        format!(
            "<icam.Explanation {} of {} p={:.3} on {} ({}x{}): {}>",
            e.method, e.class_label, e.prob, e.image.name, px.width, px.height, layers
        )
    }
}

/// One explained layer: its map (float64 at the layer's resolution; I-CAM: the weighted sum
/// of activations plus its bias, Eq. 20; the others: the raw CAM before ReLU) and, for I-CAM,
/// its score S (Eq. 3), rank, weight W (Eq. 14) and selection (Eqs. 11-13); `None` for the
/// other methods.
#[pyclass(frozen, name = "Layer", module = "icam")]
pub struct PyLayer {
    inner: LayerMap,
}

#[pymethods]
impl PyLayer {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// The layer's map, float64 of shape `(h, w)`.
    #[getter]
    fn map<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        map_array(py, &self.inner.map, false)
    }

    #[getter]
    fn score(&self) -> Option<f64> {
        self.inner.facts.map(|f| f.score)
    }

    #[getter]
    fn rank(&self) -> Option<usize> {
        self.inner.facts.map(|f| f.rank)
    }

    #[getter]
    fn weight(&self) -> Option<f64> {
        self.inner.facts.map(|f| f.weight)
    }

    #[getter]
    fn selected(&self) -> Option<bool> {
        self.inner.facts.map(|f| f.selected)
    }

    /// The layer as a dict (name, map, score, rank, weight, selected), e.g. for a DataFrame.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("name", self.name())?;
        d.set_item("map", self.map(py)?)?;
        d.set_item("score", self.score())?;
        d.set_item("rank", self.rank())?;
        d.set_item("weight", self.weight())?;
        d.set_item("selected", self.selected())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let l = &self.inner;
        let size = format!("{}x{}", l.map.w, l.map.h);
        match l.facts {
            Some(f) => format!(
                "<icam.Layer {} {size} S={:.4} #{} W={:.3}{}>",
                l.name,
                f.score,
                f.rank,
                f.weight,
                if f.selected { " selected" } else { "" }
            ),
            None => format!("<icam.Layer {} {size}>", l.name),
        }
    }
}
