//! `icam explain`: heatmap.npy, overlay.png, layers.png and report.json for one image.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use icam_app::Outputs;
use icam_app::explanation::{self, Explainer};
use icam_app::options::{ExplainOptions, ModelArgs};

use crate::status::Status;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// Output folder (created if needed).
    #[arg(long, default_value = "icam-out")]
    pub out: PathBuf,
    /// Also write every intermediate (logits, input-gradient map, phi maps, layer maps,
    /// fused map) as .npy into this folder, as the reference's --dump-intermediates.
    #[arg(long, value_name = "DIR")]
    pub dump_intermediates: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub options: ExplainOptions,
}

pub fn run(a: &ExplainArgs) -> Result<()> {
    // Everything that can be checked is checked before the model is loaded.
    let req = a.options.request();
    req.validate()?;
    if a.dump_intermediates.is_some() {
        req.check_intermediates()?;
    }
    icam_app::model::check_image(&a.image)?;
    let started = Instant::now();
    let mut status = Status::new();
    status.message("loading the model");
    let loaded = a.model.load()?;
    let explainer = Explainer::new(&loaded, req)?;
    status.message("reading the image");
    let image = loaded.open_image(&a.image)?;
    if explainer.method().is_icam() {
        status.icam_images(a.options.icam.config().n + 2);
    }
    let explanations = explainer.explain(&image, &mut |e| status.event(e))?;
    let mut out = Outputs::default();
    let dirs = explanation::stage_all(
        &explanations,
        &mut out,
        &a.out,
        a.dump_intermediates.as_deref(),
    )?;
    status.message("writing");
    out.commit()?;
    status.finish();
    for (e, dir) in explanations.iter().zip(&dirs) {
        match e.icam() {
            Some(r) => println!(
                "{}: {} p={:.3}; selected {}/{} layers{}",
                dir.display(),
                e.class_label,
                e.prob,
                r.report.selected_layers.len(),
                explainer.layers().len(),
                if r.report.selection.degenerate {
                    " (degenerate: equal weights)"
                } else {
                    ""
                }
            ),
            None => println!("{}: {} p={:.3}", dir.display(), e.class_label, e.prob),
        }
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
