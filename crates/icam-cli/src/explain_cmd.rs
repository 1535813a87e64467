//! `icam explain`: heatmap.npy, overlay.png, layers.png and report.json for one image.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use icam::Stage;
use icam_app::Outputs;
use icam_app::explanation::{self, Event, Explainer};
use icam_app::options::{ExplainOptions, ModelArgs};

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

fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("valid template"),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
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
    let pb = progress_bar(false);
    pb.set_message("loading the model");
    let loaded = a.model.load()?;
    let explainer = Explainer::new(&loaded, req)?;
    pb.set_message("reading the image");
    let image = loaded.open_image(&a.image)?;
    let n_images = a.options.icam.config().n + 2;
    let icam = explainer.method().is_icam();
    let explanations = explainer.explain(&image, &mut |e| match e {
        Event::Stage(s) => pb.set_message(match s {
            Stage::Network if icam => format!("forward and backward pass ({n_images} images)"),
            Stage::Network => "forward and backward pass".into(),
            Stage::Weights => "perturbation weights (Eqs. 5-10)".into(),
            Stage::Scores => "layer scores (Eq. 3)".into(),
            Stage::Maps => "layer maps and fusion (Eqs. 20-31)".into(),
        }),
        Event::Warning(w) => pb.suspend(|| eprintln!("warning: {w}")),
    })?;
    let mut out = Outputs::default();
    let dirs = explanation::stage_all(
        &explanations,
        &mut out,
        &a.out,
        a.dump_intermediates.as_deref(),
    )?;
    pb.set_message("writing");
    out.commit()?;
    pb.finish_and_clear();
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
