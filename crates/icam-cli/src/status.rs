//! The status line of the one-image commands (`explain`, `compare`): a spinner with the
//! current stage, which becomes a progress bar while Score-CAM or Ablation-CAM run their
//! forward-only passes.

use std::time::Duration;

use icam::Stage;
use icam_app::explanation::Event;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Status {
    pb: ProgressBar,
    /// Whether the bar (not the spinner) is shown.
    passes: bool,
    /// Images of I-CAM's network pass (`--n` + 2), for the message.
    icam_images: Option<usize>,
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("valid template")
}

impl Status {
    pub fn new() -> Self {
        let pb = ProgressBar::new_spinner();
        pb.set_style(spinner_style());
        pb.enable_steady_tick(Duration::from_millis(120));
        Self {
            pb,
            passes: false,
            icam_images: None,
        }
    }

    /// I-CAM's network pass runs `n` images.
    pub fn icam_images(&mut self, n: usize) {
        self.icam_images = Some(n);
    }

    pub fn message(&mut self, msg: impl Into<String>) {
        if self.passes {
            self.pb.set_style(spinner_style());
            self.pb.set_length(0);
            self.passes = false;
        }
        self.pb.set_message(msg.into());
    }

    pub fn event(&mut self, e: Event) {
        match e {
            Event::Stage(s) => {
                let msg = match s {
                    Stage::Network => match self.icam_images {
                        Some(n) => format!("forward and backward pass ({n} images)"),
                        None => "network pass".into(),
                    },
                    Stage::Weights => "perturbation weights (Eqs. 5-10)".into(),
                    Stage::Scores => "layer scores (Eq. 3)".into(),
                    Stage::Maps => "layer maps and fusion (Eqs. 20-31)".into(),
                };
                self.message(msg);
            }
            Event::Warning(w) => self.pb.suspend(|| eprintln!("warning: {w}")),
            Event::Passes {
                layer,
                done,
                total,
                batch,
            } => {
                if !self.passes {
                    self.pb.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} passes  [{elapsed_precise} < {eta_precise}]  {msg}",
                        )
                        .expect("valid template"),
                    );
                    self.passes = true;
                }
                self.pb.set_length(total as u64);
                self.pb.set_position(done as u64);
                self.pb
                    .set_message(format!("forward passes at {layer}, batches of {batch}"));
            }
        }
    }

    pub fn finish(&self) {
        self.pb.finish_and_clear();
    }
}
