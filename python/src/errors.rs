//! Errors as Python exceptions: the library's error kinds ([`icam_app::error::kind`]) become
//! `ValueError`, `FileNotFoundError` or `icam.IcamError`, with the command line's one-line
//! message; warnings become `icam.IcamWarning`s.

use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};

use icam_app::error::{ErrorKind, kind};
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyUserWarning, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    icam,
    IcamError,
    PyException,
    "A failure of icam that is neither a bad option (ValueError) nor a missing file \
     (FileNotFoundError): an unreadable or hostile file, a numerical failure, the backend."
);

pyo3::create_exception!(
    icam,
    IcamWarning,
    PyUserWarning,
    "Something about a result the user should know (e.g. a degenerate layer selection); the \
     result is still returned."
);

/// The Python exception of a library error, with its one-line message.
pub fn to_py(e: anyhow::Error) -> PyErr {
    let msg = format!("{e:#}");
    match kind(&e) {
        ErrorKind::InvalidOption => PyValueError::new_err(msg),
        ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
        ErrorKind::Failed => IcamError::new_err(msg),
    }
}

/// `ValueError(msg)`.
pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// Run library work, turning its errors into Python's and a panic (a bug: bad input must
/// never panic) into an `IcamError` instead of aborting the interpreter's caller.
pub fn guarded<T>(f: impl FnOnce() -> anyhow::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(IcamError::new_err(format!(
                "internal error (please report it): {what}"
            )))
        }
    }
}

/// Issue `msg` as an `icam.IcamWarning`.
pub fn warn(py: Python<'_>, msg: &str) -> PyResult<()> {
    let msg = CString::new(msg.replace('\0', " ")).expect("no NUL left");
    PyErr::warn(py, &py.get_type::<IcamWarning>(), &msg, 2)
}
