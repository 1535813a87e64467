//! One figure with the image and every method's map (the paper's Fig. 3) and I-CAM with
//! channel, spatial and no bias (Fig. 2), from one network pass per method (Score-CAM and
//! Ablation-CAM add their forward-only passes).

use std::path::{Path, PathBuf};

use anyhow::Result;
use icam::methods::icam::Bias;
use icam::render::{Colormap, Panel, input_picture, layer_grid};
use icam::{IcamConfig, Map, Perturbations, Stage, Target, explain_cam, finish_icam, prepare_icam};
use image::RgbImage;
use serde_json::{Value, json};

use crate::error::invalid;
use crate::explanation::{CamOptions, Event, Method, check_gradcampp_eps, method};
use crate::model::{InputImage, LoadedModel};
use crate::output::Outputs;

/// The methods compared by default: I-CAM (its three bias variants), Grad-CAM, Grad-CAM++,
/// LayerCAM (the paper's Figs. 2–3).
pub const DEFAULT_METHODS: [&str; 4] = ["icam", "gradcam", "gradcampp", "layercam"];

/// What to compare: the options of `icam compare`, as plain values.
#[derive(Clone, Debug)]
pub struct CompareRequest {
    /// In order: `icam` (its maps with channel, spatial and no bias, from one network pass)
    /// and methods of the CAM family.
    pub methods: Vec<String>,
    /// I-CAM's options (its bias is replaced by each of the three).
    pub config: IcamConfig,
    pub gradcampp_eps: f64,
    /// The CAM family's options.
    pub cam: CamOptions,
    pub colormap: Colormap,
}

impl Default for CompareRequest {
    fn default() -> Self {
        Self {
            methods: DEFAULT_METHODS.map(String::from).into(),
            config: IcamConfig::default(),
            gradcampp_eps: 0.0,
            cam: CamOptions::default(),
            colormap: Colormap::Inferno,
        }
    }
}

impl CompareRequest {
    /// The checks that need no model.
    pub fn validate(&self) -> Result<()> {
        if self.methods.is_empty() {
            return Err(invalid!("--methods names no method"));
        }
        for (i, m) in self.methods.iter().enumerate() {
            if self.methods[..i].contains(m) {
                return Err(invalid!("--methods names {m} twice"));
            }
        }
        let methods: Vec<&str> = self.methods.iter().map(String::as_str).collect();
        self.cam.check(&methods, self.gradcampp_eps)?;
        check_gradcampp_eps(self.gradcampp_eps)?;
        if methods.contains(&"icam") {
            self.config.validate()?;
        }
        Ok(())
    }
}

/// The comparison of one image.
pub struct Comparison {
    /// The class explained.
    pub class: usize,
    /// The figure: the input, then one panel per map.
    pub figure: RgbImage,
    /// Per map: its file name (`heatmap_<method>.npy`) and the map (model-input size).
    pub heatmaps: Vec<(String, Map)>,
    /// The content of `compare.json`.
    pub report: Value,
}

/// Compare the methods of `req` on `image` for `target` (the first method resolves a
/// predicted target; the others explain the same class). `on_event` hears the stages and
/// Score-CAM's and Ablation-CAM's passes.
pub fn compare(
    model: &LoadedModel,
    image: &InputImage,
    target: Target,
    req: &CompareRequest,
    on_event: &mut dyn FnMut(Event),
) -> Result<Comparison> {
    req.validate()?;
    let cfg = &req.config;
    let net = model.net();
    let px = &*image.pixels;
    let s = model.subject(px);
    let pic = input_picture(px);
    let mut heatmaps = Vec::new();
    let mut panels = vec![Panel {
        map: Map::zeros(1, 1),
        lines: vec![
            "input".into(),
            Path::new(&image.name)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ],
        frame: [90, 90, 90],
    }];
    let mut rows = Vec::new();
    // The class and its probability, from the first method.
    let mut resolved: Option<(usize, f64)> = None;
    for m in &req.methods {
        let target = resolved.map_or(target, |(c, _)| Target::Class(c));
        let spec = match method(m, req.gradcampp_eps, &req.cam)? {
            Method::Cam(spec) => spec,
            Method::Icam => {
                let layers = cfg.candidate_layers(net);
                let pert = Perturbations::generate(cfg.n, px.height, px.width, cfg.alpha, cfg.seed);
                let prep = prepare_icam(&s, &layers, cfg, target, &pert, &mut |st| {
                    on_event(Event::Stage(st))
                })?;
                resolved.get_or_insert((
                    prep.class,
                    icam::explain::probability(&prep.logits[0], prep.class),
                ));
                on_event(Event::Stage(Stage::Maps));
                for (name, bias) in [
                    ("I-CAM channel", Bias::Channel),
                    ("I-CAM spatial", Bias::Spatial),
                    ("I-CAM no bias", Bias::None),
                ] {
                    let r = finish_icam(
                        &prep,
                        &IcamConfig {
                            bias,
                            ..cfg.clone()
                        },
                    )?;
                    let file = format!("heatmap_icam_{}.npy", format!("{bias:?}").to_lowercase());
                    panels.push(Panel {
                        map: r.heat.clone(),
                        lines: vec![
                            name.into(),
                            format!(
                                "{} layers{}",
                                r.report.selected_layers.len(),
                                if r.report.selection.degenerate {
                                    " (degenerate)"
                                } else {
                                    ""
                                }
                            ),
                        ],
                        frame: [230, 200, 40],
                    });
                    rows.push(json!({"method": name, "file": file, "selected_layers": r.report.selected_layers, "degenerate": r.report.selection.degenerate, "warnings": r.report.warnings}));
                    heatmaps.push((file, r.heat));
                }
                continue;
            }
        };
        let bl = vec![net.baseline_layer()];
        on_event(Event::Stage(Stage::Network));
        let r = explain_cam(&s, &spec, &bl, &[target], &mut |p| {
            on_event(Event::Passes {
                layer: &p.layer,
                done: p.done,
                total: p.total,
                batch: p.batch,
            })
        })?
        .remove(0);
        resolved.get_or_insert((r.target_class, r.prob_c));
        let file = format!("heatmap_{m}.npy");
        let where_ = if r.layers.is_empty() {
            "input + every bias".to_string()
        } else {
            r.layers.join(", ")
        };
        panels.push(Panel {
            map: r.heat.clone(),
            lines: vec![m.clone(), where_],
            frame: [90, 90, 90],
        });
        rows.push(json!({"method": m, "file": file, "layers": r.layers, "finer": r.finer, "batch_size": r.batch_size}));
        heatmaps.push((file, r.heat));
    }
    let (class, prob) = resolved.expect("at least one method");
    // The first panel shows the plain input.
    let mut figure = layer_grid(&pic, &panels, 4, req.colormap);
    let (pw, ph) = (pic.width(), pic.height());
    for y in 0..ph {
        for x in 0..pw {
            figure.put_pixel(6 + x, 6 + y, *pic.get_pixel(x, y));
        }
    }
    let report = json!({
        "image": image.name, "arch": net.arch(),
        "target_class": class, "class_name": model.class_name(class),
        "prob_c": prob,
        "config": cfg, "cam": req.cam, "methods": rows,
    });
    Ok(Comparison {
        class,
        figure,
        heatmaps,
        report,
    })
}

impl Comparison {
    /// Add `heatmap_<method>.npy` for every map, `compare.png` and `compare.json` to `out`.
    pub fn stage(&self, out: &mut Outputs, dir: &Path) -> Result<()> {
        for (file, heat) in &self.heatmaps {
            out.npy_f32(dir.join(file), &[heat.h, heat.w], &heat.data)?;
        }
        out.png(dir.join("compare.png"), &self.figure)?;
        out.json(dir.join("compare.json"), &self.report)
    }

    /// Write the files into `dir`, all or none.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Outputs::default();
        self.stage(&mut out, dir)?;
        out.commit()
    }
}
