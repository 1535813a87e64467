//! One error type for the core library.

/// Errors of the core library.
#[derive(Debug, thiserror::Error)]
pub enum IcamError {
    /// An option is out of range or inconsistent; found before any work starts.
    #[error("{0}")]
    Config(String),
    /// The model zoo failed (weights, layers, inputs, backend).
    #[error(transparent)]
    Model(#[from] icam_models::ModelError),
    /// The numbers went bad (NaN or all-zero gradients, ...).
    #[error("{0}")]
    Numeric(String),
}

/// Result with [`IcamError`].
pub type Result<T> = std::result::Result<T, IcamError>;
