//! What kind of failure an error is, for front-ends that react differently (Python raises
//! `ValueError`, `FileNotFoundError` or its own error). The message is the same whatever the
//! kind: an error's `{:#}` rendering is one line.

use icam::IcamError;
use icam_models::ModelError;

/// An option out of range or inconsistent, or a name (class, layer, architecture, model,
/// method) that means nothing here; found before any work starts.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOption(pub String);

/// A file or folder the call needs does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// The kinds of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidOption,
    NotFound,
    /// Everything else: unreadable or hostile files, numerical failures, the backend.
    Failed,
}

/// The kind of `e`: the first cause in its chain that tells.
pub fn kind(e: &anyhow::Error) -> ErrorKind {
    // A context of these types (`.with_context(|| InvalidOption(..))`) is found here.
    if e.downcast_ref::<InvalidOption>().is_some() {
        return ErrorKind::InvalidOption;
    }
    if e.downcast_ref::<NotFound>().is_some() {
        return ErrorKind::NotFound;
    }
    for cause in e.chain() {
        if cause.is::<InvalidOption>() {
            return ErrorKind::InvalidOption;
        }
        if cause.is::<NotFound>() {
            return ErrorKind::NotFound;
        }
        if let Some(m) = cause.downcast_ref::<IcamError>() {
            match m {
                IcamError::Config(_) => return ErrorKind::InvalidOption,
                IcamError::Model(m) => return model_kind(m),
                IcamError::Numeric(_) => return ErrorKind::Failed,
            }
        }
        if let Some(m) = cause.downcast_ref::<ModelError>() {
            return model_kind(m);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::NotFound
        {
            return ErrorKind::NotFound;
        }
    }
    ErrorKind::Failed
}

fn model_kind(m: &ModelError) -> ErrorKind {
    match m {
        ModelError::Io { err, .. } if err.kind() == std::io::ErrorKind::NotFound => {
            ErrorKind::NotFound
        }
        ModelError::NotCached { .. } => ErrorKind::NotFound,
        ModelError::Arch(_) | ModelError::UnknownLayer { .. } | ModelError::UnknownModel { .. } => {
            ErrorKind::InvalidOption
        }
        _ => ErrorKind::Failed,
    }
}

/// `return Err(invalid!(...))`-style helper: an [`InvalidOption`] from a format string.
macro_rules! invalid {
    ($($t:tt)*) => { anyhow::Error::new($crate::error::InvalidOption(format!($($t)*))) };
}
pub(crate) use invalid;

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn kinds_through_context() {
        let e = anyhow::Error::new(InvalidOption("--high must lie in [0, 1]".into()))
            .context("checking");
        assert_eq!(kind(&e), ErrorKind::InvalidOption);
        assert_eq!(format!("{e:#}"), "checking: --high must lie in [0, 1]");
        let io: std::result::Result<(), _> = std::fs::read("/nonexistent/x").map(|_| ());
        let e = io.context("reading x").unwrap_err();
        assert_eq!(kind(&e), ErrorKind::NotFound);
        let e = anyhow::Error::new(IcamError::Config("--alpha must lie in (0, 1)".into()));
        assert_eq!(kind(&e), ErrorKind::InvalidOption);
        let e = anyhow::Error::new(ModelError::Arch("unknown architecture `x`".into()));
        assert_eq!(kind(&e), ErrorKind::InvalidOption);
        assert_eq!(kind(&anyhow::anyhow!("decoding failed")), ErrorKind::Failed);
        assert_eq!(kind(&invalid!("bad {}", 1)), ErrorKind::InvalidOption);
        assert_eq!(invalid!("bad {}", 1).to_string(), "bad 1");
        let e = "x"
            .parse::<usize>()
            .with_context(|| InvalidOption("--class `x`: give an index".into()))
            .unwrap_err();
        assert_eq!(kind(&e), ErrorKind::InvalidOption);
        assert_eq!(
            format!("{e:#}"),
            "--class `x`: give an index: invalid digit found in string"
        );
    }
}
