//! # icam — Integrative CAM and the Grad-CAM family
//!
//! The core library: perturbations (Eq. 4), perturbation weights (Eqs. 5–10), layer scores and
//! selection (Eqs. 3, 11–14), CAM methods (I-CAM, Eqs. 15–31, and the pytorch-grad-cam family:
//! Grad-CAM, Grad-CAM++, LayerCAM, HiResCAM, GradCAMElementWise, XGrad-CAM, EigenGrad-CAM,
//! FullGrad, Score-CAM, Ablation-CAM, Eigen-CAM, FEM, Finer-CAM targets; [`explain_cam`]) and
//! fusion (Eq. 21). It takes a network from `icam-models` and a decoded image; it knows
//! nothing about files or command-line flags. Spec items `A1`…`A29` refer to
//! `shared/spec/METHOD.md`.

pub mod cam;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod features;
pub mod fusion;
pub mod maps;
pub mod methods;
pub mod metrics;
pub mod pca;
pub mod perturb;
pub mod presets;
pub mod render;
pub mod scaling;
pub mod scoring;
pub mod similarity;

pub use config::{IcamConfig, ScoreTarget, Space};
pub use error::{IcamError, Result};
pub use explain::{
    BaselineResult, CamProgress, CamSpec, FinerReport, ICAM_CHUNK, IcamPrepared, IcamReport,
    IcamResult, Stage, Subject, Target, explain_baseline, explain_cam, explain_icam, finish_icam,
    prepare_icam, prepare_icam_chunked, rescore_icam,
};
pub use maps::{Map, Upsample};
pub use methods::finer::Finer;
pub use perturb::Perturbations;
pub use presets::Preset;
pub use scaling::Scaling;
