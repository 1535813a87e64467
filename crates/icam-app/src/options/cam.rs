//! The CAM family's options (pytorch-grad-cam's): post-processing, smoothing, Finer-CAM and
//! the batch size of the forward-only passes, as [`CamOptions`].

use clap::Args;
use icam::{Finer, Scaling};

use super::value_enum;
use crate::explanation::CamOptions;

value_enum!(ScalingArg => Scaling { Icam => Scaling::Icam, GradCam => Scaling::GradCam });

/// The options of the CAM methods (not I-CAM's).
#[derive(Args, Clone, Debug)]
pub struct CamArgs {
    /// Post-processing of the CAM methods' maps: icam (A21: ReLU, bilinear upsampling, min-max)
    /// or grad-cam (pytorch-grad-cam's, exactly: min-max with 1e-7, OpenCV resize).
    #[arg(long, value_enum, default_value = "icam")]
    pub scaling: ScalingArg,
    /// Average the map over horizontal flips × input factors 0.9/1/1.1 (pytorch-grad-cam's
    /// aug_smooth; 6 times the passes).
    #[arg(long)]
    pub aug_smooth: bool,
    /// Project each layer's weighted activations on their first principal component
    /// (pytorch-grad-cam's eigen_smooth).
    #[arg(long)]
    pub eigen_smooth: bool,
    /// Finer-CAM: explain the class against the --finer-k classes with the closest logits
    /// (methods with a target class).
    #[arg(long)]
    pub finer: bool,
    /// Finer-CAM's number of comparison classes.
    #[arg(long, default_value_t = 3, requires = "finer")]
    pub finer_k: usize,
    /// Finer-CAM's weight of the comparison classes' scores.
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        requires = "finer"
    )]
    pub finer_alpha: f64,
    /// Samples per batch of Score-CAM's and Ablation-CAM's forward passes (default: from the
    /// available memory).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
}

impl CamArgs {
    /// The library's values of these options.
    pub fn options(&self) -> CamOptions {
        CamOptions {
            scaling: self.scaling.into(),
            aug_smooth: self.aug_smooth,
            eigen_smooth: self.eigen_smooth,
            finer: self.finer.then_some(Finer {
                k: self.finer_k,
                alpha: self.finer_alpha,
            }),
            batch_size: self.batch_size,
        }
    }
}
