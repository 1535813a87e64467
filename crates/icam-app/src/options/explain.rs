//! What `icam explain` explains: the method, the classes, the layers, the colormap and I-CAM's
//! options, as an [`ExplainRequest`].

use clap::{Args, ValueEnum};
use icam::render::Colormap;

use super::{CamArgs, IcamArgs, value_enum};
use crate::explanation::ExplainRequest;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Icam,
    Gradcam,
    Gradcampp,
    Layercam,
    Hirescam,
    GradcamElementwise,
    Xgradcam,
    Eigengradcam,
    Fullgrad,
    Scorecam,
    Ablationcam,
    Eigencam,
    Fem,
}

impl MethodArg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Icam => "icam",
            Self::Gradcam => "gradcam",
            Self::Gradcampp => "gradcampp",
            Self::Layercam => "layercam",
            Self::Hirescam => "hirescam",
            Self::GradcamElementwise => "gradcam-elementwise",
            Self::Xgradcam => "xgradcam",
            Self::Eigengradcam => "eigengradcam",
            Self::Fullgrad => "fullgrad",
            Self::Scorecam => "scorecam",
            Self::Ablationcam => "ablationcam",
            Self::Eigencam => "eigencam",
            Self::Fem => "fem",
        }
    }
}

value_enum!(ColormapArg => Colormap { Inferno => Colormap::Inferno, Viridis => Colormap::Viridis, Turbo => Colormap::Turbo });

/// The options of an explanation (the image, the output folder and the model are the
/// front-end's).
#[derive(Args, Clone, Debug)]
pub struct ExplainOptions {
    /// The method: icam, or one of the CAM family (see the README's method table).
    #[arg(long, value_enum, default_value = "icam")]
    pub method: MethodArg,
    /// Class(es) to explain: index, WordNet id or name; repeat or comma-separate for several
    /// (default: the predicted class).
    #[arg(long = "class", value_delimiter = ',', allow_hyphen_values = true)]
    pub classes: Vec<String>,
    /// Layers (comma-separated; default: the candidates of --candidates for I-CAM, the last
    /// feature layer for the baselines).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Colormap of the pictures.
    #[arg(long, value_enum, default_value = "inferno")]
    pub colormap: ColormapArg,
    #[command(flatten)]
    pub icam: IcamArgs,
    #[command(flatten)]
    pub cam: CamArgs,
}

impl ExplainOptions {
    /// The library's request for these options.
    pub fn request(&self) -> ExplainRequest {
        ExplainRequest {
            method: self.method.name().into(),
            classes: self.classes.clone(),
            layers: self.layers.clone(),
            config: self.icam.config(),
            gradcampp_eps: self.icam.gradcampp_eps,
            noise_mask: self.icam.noise_mask(),
            colormap: self.colormap.into(),
            cam: self.cam.options(),
        }
    }
}
