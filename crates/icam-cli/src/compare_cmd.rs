//! `icam compare`: one figure with the image and every method's map (the paper's Fig. 3) and
//! I-CAM with channel, spatial and no bias (Fig. 2), from one network pass per method.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use icam::Target;

use icam_app::options::{ColormapArg, IcamArgs, ModelArgs};

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
    #[arg(long, value_enum, default_value = "inferno")]
    pub colormap: ColormapArg,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
}

pub fn run(a: &CompareArgs) -> Result<()> {
    let cfg = a.icam.config();
    cfg.validate()?;
    a.icam.validate_baseline()?;
    let loaded = a.model.load()?;
    let target = match &a.class {
        Some(c) => Target::Class(loaded.parse_class(c)?),
        None => Target::Predicted,
    };
    let image = loaded.open_image(&a.image)?;
    let c = icam_app::compare::compare(
        &loaded,
        &image,
        target,
        &cfg,
        a.icam.gradcampp_eps,
        a.colormap.into(),
    )?;
    c.save(&a.out)?;
    println!(
        "{}: {} — compare.png",
        a.out.display(),
        loaded.describe(c.class)
    );
    Ok(())
}
