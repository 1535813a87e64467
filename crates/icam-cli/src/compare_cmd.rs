//! `icam compare`: one figure with the image and every chosen method's map (the paper's
//! Fig. 3), I-CAM with channel, spatial and no bias (Fig. 2), from one network pass per method.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use icam::Target;
use icam_app::compare::CompareRequest;
use icam_app::options::{CamArgs, ColormapArg, IcamArgs, MethodArg, ModelArgs};

use crate::status::Status;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// Output folder: compare.png, compare.json and one heatmap per method.
    #[arg(long, default_value = "icam-compare")]
    pub out: PathBuf,
    /// Class to explain: index, WordNet id or name (default: the predicted class).
    #[arg(long = "class", allow_hyphen_values = true)]
    pub class: Option<String>,
    /// Methods to compare, in order (icam: its maps with channel, spatial and no bias).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "icam,gradcam,gradcampp,layercam"
    )]
    pub methods: Vec<MethodArg>,
    #[arg(long, value_enum, default_value = "inferno")]
    pub colormap: ColormapArg,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
    #[command(flatten)]
    pub cam: CamArgs,
}

impl CompareArgs {
    fn request(&self) -> CompareRequest {
        CompareRequest {
            methods: self.methods.iter().map(|m| m.name().to_string()).collect(),
            config: self.icam.config(),
            gradcampp_eps: self.icam.gradcampp_eps,
            cam: self.cam.options(),
            colormap: self.colormap.into(),
        }
    }
}

pub fn run(a: &CompareArgs) -> Result<()> {
    let req = a.request();
    req.validate()?;
    let mut status = Status::new();
    status.message("loading the model");
    let loaded = a.model.load()?;
    let target = match &a.class {
        Some(c) => Target::Class(loaded.parse_class(c)?),
        None => Target::Predicted,
    };
    status.message("reading the image");
    let image = loaded.open_image(&a.image)?;
    if req.methods.iter().any(|m| m == "icam") {
        status.icam_images(a.icam.config().n + 2);
    }
    let c = icam_app::compare::compare(&loaded, &image, target, &req, &mut |e| status.event(e))?;
    status.message("writing");
    c.save(&a.out)?;
    status.finish();
    println!(
        "{}: {} — compare.png",
        a.out.display(),
        loaded.describe(c.class)
    );
    Ok(())
}
