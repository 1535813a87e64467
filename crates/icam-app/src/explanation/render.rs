//! The pictures of an explanation: the overlay on the original image and the per-layer grid
//! (the paper's Fig. 10).

use icam::render::{Panel, input_picture, layer_grid, overlay};
use image::RgbImage;

use super::Explanation;

/// Frame colours of the layer grid.
const SELECTED: [u8; 3] = [40, 170, 70];
const PLAIN: [u8; 3] = [90, 90, 90];
const FUSED: [u8; 3] = [230, 200, 40];

impl Explanation {
    /// The heatmap blended on the original image at its own size (the part outside the
    /// model's centre crop dimmed).
    pub fn overlay(&self) -> RgbImage {
        overlay(
            &self.image.rgb,
            &self.image.pixels.geometry,
            self.heatmap(),
            self.colormap,
            0.5,
        )
    }

    /// One panel per layer (I-CAM: with its score S, rank, weight W and selection) and one
    /// for the final map, six per row.
    pub fn layer_grid(&self) -> RgbImage {
        let mut panels: Vec<Panel> = self
            .layers
            .iter()
            .map(|l| match l.facts {
                Some(f) => Panel {
                    map: l.map.clone(),
                    lines: vec![
                        l.name.clone(),
                        format!("S={:.4} #{}", f.score, f.rank),
                        format!(
                            "W={:.3} {}",
                            f.weight,
                            if f.selected { "selected" } else { "-" }
                        ),
                    ],
                    frame: if f.selected { SELECTED } else { PLAIN },
                },
                None => Panel {
                    map: l.map.clone(),
                    lines: vec![l.name.clone()],
                    frame: PLAIN,
                },
            })
            .collect();
        let title = if self.method == "icam" {
            "I-CAM (fused)".to_string()
        } else {
            self.method.clone()
        };
        panels.push(Panel {
            map: self.heatmap().clone(),
            lines: vec![
                title,
                self.class_label.clone(),
                format!("p={:.3}", self.prob),
            ],
            frame: FUSED,
        });
        layer_grid(
            &input_picture(&self.image.pixels),
            &panels,
            6,
            self.colormap,
        )
    }
}
