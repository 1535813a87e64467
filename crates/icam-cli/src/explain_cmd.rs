//! `icam explain`: heatmap.npy, overlay.png, layers.png and report.json for one image.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use icam::config::{IcamConfig, ScoreTarget, Space};
use icam::fusion::LayerPost;
use icam::methods::icam::{Bias, BiasPool, BiasSc, ChannelBiasForm, SmoothFn};
use icam::render::{Colormap, Panel, input_picture, layer_grid, overlay};
use icam::scoring::{ScoreMode, ScoreNormalize};
use icam::{
    Map, Perturbations, Stage, Subject, Target, Upsample, explain_baseline, explain_icam, methods,
};
use serde_json::{Value, json};

use crate::model_args::ModelArgs;
use icam_app::output::{Outputs, read_npy};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Icam,
    Gradcam,
    Gradcampp,
    Layercam,
}

impl MethodArg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Icam => "icam",
            Self::Gradcam => "gradcam",
            Self::Gradcampp => "gradcampp",
            Self::Layercam => "layercam",
        }
    }
}

/// The options of I-CAM, under the reference implementation's names and defaults.
#[derive(Args, Clone, Debug)]
pub struct IcamArgs {
    /// Number of perturbations n (Eq. 3-4).
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// Perturbation strength alpha in (0, 1) (Eq. 4).
    #[arg(long, default_value_t = 0.4, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Seed of the perturbations (recorded in report.json).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Layer-selection threshold T in (0, 1] (Eqs. 12-13).
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    pub threshold: f64,
    /// Bias of Eq. 20: channel (Eq. 27), spatial (Eq. 28) or none.
    #[arg(long, value_enum, default_value = "channel")]
    pub bias: BiasArg,
    /// Eq. 27 read as (sum w)(sum A) or sum(w A) (A14).
    #[arg(long, value_enum, default_value = "product")]
    pub channel_bias_form: FormArg,
    /// Perturb and differentiate the model input or the [0,1] pixel image (A3).
    #[arg(long, value_enum, default_value = "input")]
    pub space: SpaceArg,
    /// Smooth function f of Eq. 25: softmax (Eq. 29) or exp (Grad-CAM++'s).
    #[arg(long, value_enum, default_value = "softmax")]
    pub smooth: SmoothArg,
    /// Sigma of SVIM (Eq. 6, A6).
    #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
    pub svim_sigma: f64,
    /// O of Eq. 3: softmax probability or logit of the target class (A9).
    #[arg(long, value_enum, default_value = "prob")]
    pub score_target: TargetArg,
    /// Upsampling of the phi maps in Eq. 3 (A10).
    #[arg(long, value_enum, default_value = "bilinear")]
    pub score_upsample: UpsampleArg,
    /// Normalisation of both maps of Eq. 3 (A11).
    #[arg(long, value_enum, default_value = "minmax")]
    pub score_normalize: NormArg,
    /// Keep negative MDS (A7): weights become NaN.
    #[arg(long)]
    pub no_clamp_mds: bool,
    /// Per-layer post-processing before fusion (A17).
    #[arg(long, value_enum, default_value = "none")]
    pub layer_post: PostArg,
    /// Sigma_ij of Eqs. 27-28: sum (literal) or mean (GAP reading) (A27).
    #[arg(long, value_enum, default_value = "sum")]
    pub bias_pool: PoolArg,
    /// Eq. 3 term: distance (literal) or sqrt(HW) - distance (A28).
    #[arg(long, value_enum, default_value = "distance")]
    pub score_mode: ModeArg,
    /// S^c in Eqs. 27-28: full, or S^c/K per channel (A29).
    #[arg(long, value_enum, default_value = "full")]
    pub bias_sc: ScArg,
    /// Noise N_i as .npy float32 (n,3,H,W), e.g. from the reference (replaces the seeded draws).
    #[arg(long, value_name = "NPY", requires = "mask")]
    pub noise: Option<PathBuf>,
    /// Masks M_i as .npy (n,1,H,W) of 0/1.
    #[arg(long, value_name = "NPY", requires = "noise")]
    pub mask: Option<PathBuf>,
    /// Epsilon in Grad-CAM++'s alpha denominator (0 as the paper; 1e-6 as pytorch-grad-cam).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub gradcampp_eps: f64,
}

macro_rules! value_enum {
    ($name:ident => $target:ty { $($v:ident => $t:expr),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
        pub enum $name { $($v),* }
        impl From<$name> for $target {
            fn from(v: $name) -> Self { match v { $($name::$v => $t),* } }
        }
    };
}

value_enum!(BiasArg => Bias { Channel => Bias::Channel, Spatial => Bias::Spatial, None => Bias::None });
value_enum!(FormArg => ChannelBiasForm { Product => ChannelBiasForm::Product, Dot => ChannelBiasForm::Dot });
value_enum!(SpaceArg => Space { Input => Space::Input, Pixel => Space::Pixel });
value_enum!(SmoothArg => SmoothFn { Softmax => SmoothFn::Softmax, Exp => SmoothFn::Exp });
value_enum!(TargetArg => ScoreTarget { Prob => ScoreTarget::Prob, Logit => ScoreTarget::Logit });
value_enum!(UpsampleArg => Upsample { Bilinear => Upsample::Bilinear, Nearest => Upsample::Nearest });
value_enum!(NormArg => ScoreNormalize { Minmax => ScoreNormalize::Minmax, None => ScoreNormalize::None });
value_enum!(PostArg => LayerPost { None => LayerPost::None, ReluMinmax => LayerPost::ReluMinmax });
value_enum!(PoolArg => BiasPool { Sum => BiasPool::Sum, Mean => BiasPool::Mean });
value_enum!(ModeArg => ScoreMode { Distance => ScoreMode::Distance, Similarity => ScoreMode::Similarity });
value_enum!(ScArg => BiasSc { Full => BiasSc::Full, Split => BiasSc::Split });
value_enum!(ColormapArg => Colormap { Inferno => Colormap::Inferno, Viridis => Colormap::Viridis, Turbo => Colormap::Turbo });

impl IcamArgs {
    /// Options of the Grad-CAM family, checked before any work.
    pub fn validate_baseline(&self) -> anyhow::Result<()> {
        let e = self.gradcampp_eps;
        if !(e.is_finite() && e >= 0.0) {
            anyhow::bail!("--gradcampp-eps must be finite and >= 0, got {e}");
        }
        Ok(())
    }

    pub fn config(&self) -> IcamConfig {
        IcamConfig {
            n: self.n,
            alpha: self.alpha,
            seed: self.seed,
            space: self.space.into(),
            threshold: self.threshold,
            bias: self.bias.into(),
            channel_bias_form: self.channel_bias_form.into(),
            smooth: self.smooth.into(),
            svim_sigma: self.svim_sigma,
            clamp_mds: !self.no_clamp_mds,
            score_target: self.score_target.into(),
            score_upsample: self.score_upsample.into(),
            score_normalize: self.score_normalize.into(),
            layer_post: self.layer_post.into(),
            bias_pool: self.bias_pool.into(),
            score_mode: self.score_mode.into(),
            bias_sc: self.bias_sc.into(),
            ..IcamConfig::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// Output folder (created if needed).
    #[arg(long, default_value = "icam-out")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "icam")]
    pub method: MethodArg,
    /// Class(es) to explain: index, WordNet id or name; repeat or comma-separate for several
    /// (default: the predicted class).
    #[arg(long = "class", value_delimiter = ',', allow_hyphen_values = true)]
    pub classes: Vec<String>,
    /// Layers (comma-separated; default: every block for I-CAM, the last feature layer for the
    /// baselines).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Colormap of the pictures.
    #[arg(long, value_enum, default_value = "inferno")]
    pub colormap: ColormapArg,
    /// Also write every intermediate (logits, input-gradient map, phi maps, layer maps,
    /// fused map) as .npy into this folder, as the reference's --dump-intermediates.
    #[arg(long, value_name = "DIR")]
    pub dump_intermediates: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
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
    let cfg = a.icam.config();
    if a.method == MethodArg::Icam {
        cfg.validate()?;
    } else {
        a.icam.validate_baseline()?;
        if a.dump_intermediates.is_some() {
            bail!("--dump-intermediates is only for --method icam");
        }
    }
    if !a.image.is_file() {
        bail!("image not found: {}", a.image.display());
    }
    let started = Instant::now();
    let pb = progress_bar(false);
    pb.set_message("loading the model");
    let loaded = a.model.load()?;
    let net = loaded.model.net.as_ref();
    let layers: Vec<String> = if !a.layers.is_empty() {
        a.layers.clone()
    } else if a.method == MethodArg::Icam {
        net.candidate_layers()
    } else {
        vec![net.baseline_layer()]
    };
    for l in &layers {
        net.resolve_layer(l)?;
    }
    let targets: Vec<Target> = if a.classes.is_empty() {
        vec![Target::Predicted]
    } else {
        a.classes
            .iter()
            .map(|c| loaded.parse_class(c).map(Target::Class))
            .collect::<Result<_>>()?
    };
    pb.set_message("reading the image");
    let img = loaded.open_image(&a.image)?;
    let (rgb, px) = (&*img.rgb, &*img.pixels);
    let subject = Subject {
        net,
        image: &px,
        normalization: loaded.normalization,
    };
    let cmap: Colormap = a.colormap.into();
    let pictures = Pictures {
        rgb: &rgb,
        px: &px,
        input: input_picture(&px),
        cmap,
    };
    let mut out = Outputs::default();
    let multi = targets.len() > 1;
    let mut summary = Vec::new();

    let common = |class: usize| {
        json!({
            "image": a.image.display().to_string(),
            "weights_file": loaded.weights.display().to_string(),
            "arch": net.arch(),
            "normalize": loaded.normalization.name(),
            "no_resize": a.model.no_resize,
            "geometry": px.geometry,
            "class_name": loaded.labels.as_ref().and_then(|l| l.name(class)),
            "wnid": loaded.labels.as_ref().and_then(|l| l.wnid(class)),
            "icam_version": env!("CARGO_PKG_VERSION"),
        })
    };

    if a.method == MethodArg::Icam {
        let pert = perturbations(&a.icam, &cfg, px.height, px.width)?;
        for &t in &targets {
            let mut on_stage = |s: Stage| {
                pb.set_message(match s {
                    Stage::Network => format!("forward and backward pass ({} images)", cfg.n + 2),
                    Stage::Weights => "perturbation weights (Eqs. 5-10)".into(),
                    Stage::Scores => "layer scores (Eq. 3)".into(),
                    Stage::Maps => "layer maps and fusion (Eqs. 20-31)".into(),
                })
            };
            let r = explain_icam(&subject, &layers, &cfg, t, &pert, &mut on_stage)?;
            let c = r.report.target_class;
            let dir = if multi {
                a.out.join(format!("class-{c}"))
            } else {
                a.out.clone()
            };
            let mut panels: Vec<Panel> = r
                .report
                .layers
                .iter()
                .zip(&r.layer_maps)
                .map(|(l, m)| Panel {
                    map: m.full(),
                    lines: vec![
                        l.name.clone(),
                        format!("S={:.4} #{}", l.score, l.rank),
                        format!(
                            "W={:.3} {}",
                            l.weight,
                            if l.selected { "selected" } else { "-" }
                        ),
                    ],
                    frame: if l.selected {
                        [40, 170, 70]
                    } else {
                        [90, 90, 90]
                    },
                })
                .collect();
            panels.push(Panel {
                map: r.heat.clone(),
                lines: vec![
                    "I-CAM (fused)".into(),
                    loaded.describe(c),
                    format!("p={:.3}", r.report.prob_c),
                ],
                frame: [230, 200, 40],
            });
            let mut report = serde_json::to_value(&r.report)?;
            merge(&mut report, common(c));
            pictures.write(&mut out, &dir, &r.heat, &panels, &report)?;
            if let Some(d) = &a.dump_intermediates {
                let d = if multi {
                    d.join(format!("class-{c}"))
                } else {
                    d.clone()
                };
                dump(&mut out, &d, &r, &layers)?;
            }
            for w in &r.report.warnings {
                pb.suspend(|| eprintln!("warning: {w}"));
            }
            summary.push(format!(
                "{}: {} p={:.3}; selected {}/{} layers{}",
                dir.display(),
                loaded.describe(c),
                r.report.prob_c,
                r.report.selected_layers.len(),
                layers.len(),
                if r.report.selection.degenerate {
                    " (degenerate: equal weights)"
                } else {
                    ""
                }
            ));
        }
    } else {
        pb.set_message("forward and backward pass");
        let m = methods::baseline(a.method.name(), a.icam.gradcampp_eps).expect("baseline method");
        let results = explain_baseline(
            &subject,
            m.as_ref(),
            &layers,
            &targets,
            a.icam.gradcampp_eps,
        )?;
        for r in results {
            let c = r.target_class;
            let dir = if multi {
                a.out.join(format!("class-{c}"))
            } else {
                a.out.clone()
            };
            let mut panels: Vec<Panel> = layers
                .iter()
                .zip(&r.layer_cams)
                .map(|(l, m)| Panel {
                    map: m.clone(),
                    lines: vec![l.clone()],
                    frame: [90, 90, 90],
                })
                .collect();
            panels.push(Panel {
                map: r.heat.clone(),
                lines: vec![
                    a.method.name().into(),
                    loaded.describe(c),
                    format!("p={:.3}", r.prob_c),
                ],
                frame: [230, 200, 40],
            });
            let mut report = serde_json::to_value(&r)?;
            merge(&mut report, common(c));
            pictures.write(&mut out, &dir, &r.heat, &panels, &report)?;
            summary.push(format!(
                "{}: {} p={:.3}",
                dir.display(),
                loaded.describe(c),
                r.prob_c
            ));
        }
    }
    pb.set_message("writing");
    out.commit()?;
    pb.finish_and_clear();
    for s in summary {
        println!("{s}");
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// What every explanation writes: heatmap.npy, overlay.png, layers.png, report.json.
struct Pictures<'a> {
    rgb: &'a image::RgbImage,
    px: &'a icam_models::PixelImage,
    input: image::RgbImage,
    cmap: Colormap,
}

impl Pictures<'_> {
    fn write(
        &self,
        out: &mut Outputs,
        dir: &Path,
        heat: &Map,
        panels: &[Panel],
        report: &Value,
    ) -> Result<()> {
        out.npy_f32(
            dir.join("heatmap.npy"),
            &[self.px.height, self.px.width],
            &heat.data,
        )?;
        out.png(
            dir.join("overlay.png"),
            &overlay(self.rgb, &self.px.geometry, heat, self.cmap, 0.5),
        )?;
        out.png(
            dir.join("layers.png"),
            &layer_grid(&self.input, panels, 6, self.cmap),
        )?;
        out.json(dir.join("report.json"), report)
    }
}

fn merge(report: &mut Value, extra: Value) {
    if let (Value::Object(r), Value::Object(e)) = (report, extra) {
        for (k, v) in e {
            r.insert(k, v);
        }
    }
}

fn perturbations(a: &IcamArgs, cfg: &IcamConfig, h: usize, w: usize) -> Result<Perturbations> {
    match (&a.noise, &a.mask) {
        (Some(n), Some(m)) => {
            let (ns, nv) = read_npy(n)?;
            let (ms, mv) = read_npy(m)?;
            let p = Perturbations::from_arrays(
                (&ns, nv.into_iter().map(|v| v as f32).collect()),
                (&ms, mv),
                icam::perturb::PerturbationSource {
                    noise: n.display().to_string(),
                    mask: m.display().to_string(),
                },
            )
            .with_context(|| format!("loading {} and {}", n.display(), m.display()))?;
            if (p.n, p.h, p.w) != (cfg.n, h, w) {
                bail!(
                    "the noise/mask files hold {} perturbations of {}×{}, but the run needs {} of {}×{} (--n, image size)",
                    p.n,
                    p.w,
                    p.h,
                    cfg.n,
                    w,
                    h
                );
            }
            Ok(p)
        }
        _ => Ok(Perturbations::generate(cfg.n, h, w, cfg.alpha, cfg.seed)),
    }
}

fn dump(out: &mut Outputs, dir: &Path, r: &icam::IcamResult, layers: &[String]) -> Result<()> {
    let im = &r.intermediates;
    let classes = im.logits[0].len();
    out.npy_f64(
        dir.join("logits.npy"),
        &[im.logits.len(), classes],
        &im.logits.concat(),
    )?;
    let m = &im.input_grad_map;
    out.npy_f64(dir.join("input_grad_map.npy"), &[m.h, m.w], &m.data)?;
    for (li, l) in layers.iter().enumerate() {
        let phis = &im.phi_norm[li];
        let (h, w) = (phis[0].h, phis[0].w);
        let flat: Vec<f64> = phis.iter().flat_map(|p| p.data.iter().copied()).collect();
        out.npy_f64(
            dir.join(format!("phi_norm_{l}.npy")),
            &[phis.len(), h, w],
            &flat,
        )?;
        let lm = &r.layer_maps[li];
        let full: Map = lm.full();
        out.npy_f64(
            dir.join(format!("cam_{l}.npy")),
            &[full.h, full.w],
            &full.data,
        )?;
        let b = lm.bias_full();
        out.npy_f64(dir.join(format!("bias_{l}.npy")), &[b.h, b.w], &b.data)?;
    }
    out.npy_f64(
        dir.join("fused.npy"),
        &[im.fused.h, im.fused.w],
        &im.fused.data,
    )?;
    Ok(())
}
