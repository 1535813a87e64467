//! An explanation as one JSON document with its pictures embedded (base64 PNG): what a viewer
//! (`icam serve`, a notebook) shows without touching files. The pictures are the ones of
//! `overlay.png` and `layers.png`, taken apart so that a viewer can lay them out itself.

use anyhow::Result;
use base64::Engine as _;
use icam::Map;
use icam::render::{colorize, input_picture, overlay, panel_map};
use image::{GrayImage, Luma, RgbImage};
use serde_json::{Value, json};

use super::Explanation;
use crate::output::png_bytes;

/// A picture as a base64 PNG (no `data:` prefix).
pub fn png_base64<P, C>(img: &image::ImageBuffer<P, C>) -> Result<String>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    Ok(base64::engine::general_purpose::STANDARD.encode(png_bytes(img)?))
}

impl Explanation {
    /// The heatmap's colours on the original image's pixels, with nothing of the image inside
    /// the model's centre crop (the overlay at full opacity; outside the crop, the dimmed
    /// image). Laid over the original at opacity `a`, it gives the overlay of opacity `a`.
    pub fn heat_layer(&self) -> RgbImage {
        overlay(
            &self.image.rgb,
            &self.image.pixels.geometry,
            self.heatmap(),
            self.colormap,
            1.0,
        )
    }

    /// The heatmap as 8-bit grey levels (model-input size; `round(255·h)`).
    pub fn heatmap_gray(&self) -> GrayImage {
        let m = self.heatmap();
        GrayImage::from_fn(m.w as u32, m.h as u32, |x, y| {
            Luma([(m.data[y as usize * m.w + x as usize] * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8])
        })
    }

    /// Layer `i`'s map as its panel of the layer grid shows it, in colour, at the model-input
    /// size (without the input picture under it).
    pub fn layer_picture(&self, i: usize) -> RgbImage {
        let px = &self.image.pixels;
        colorize(
            &panel_map(&self.layers[i].map, px.height, px.width),
            self.colormap,
        )
    }

    /// The explanation as JSON: the class, its logit and probability; the pictures as base64
    /// PNG (`overlay_png`: overlay.png; `heat_png`: [`Self::heat_layer`]; `heatmap_png`: the
    /// heatmap in grey levels; `input_png`: what the network saw; `fused_png` and each layer's
    /// `png`: the panels of layers.png; `colorbar_png`: the colormap from 0 to 1); per layer
    /// its name, feature size and, for I-CAM, score, rank, weight and selection; the
    /// warnings; and `report`, the content of report.json.
    pub fn to_json(&self) -> Result<Value> {
        let px = &self.image.pixels;
        let (w, h) = self.image.rgb.dimensions();
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut v = json!({
                    "name": l.name,
                    "size": [l.map.w, l.map.h],
                    "png": png_base64(&self.layer_picture(i))?,
                });
                if let Some(f) = l.facts {
                    v["score"] = json!(f.score);
                    v["rank"] = json!(f.rank);
                    v["weight"] = json!(f.weight);
                    v["selected"] = json!(f.selected);
                }
                Ok(v)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(json!({
            "method": self.method,
            "class": self.class,
            "class_label": self.class_label,
            "class_name": self.report.get("class_name"),
            "logit": self.logit,
            "prob": self.prob,
            "size": [w, h],
            "input_size": [px.width, px.height],
            "overlay_png": png_base64(&self.overlay())?,
            "heat_png": png_base64(&self.heat_layer())?,
            "heatmap_png": png_base64(&self.heatmap_gray())?,
            "input_png": png_base64(&input_picture(px))?,
            "fused_png": png_base64(&colorize(
                &panel_map(self.heatmap(), px.height, px.width),
                self.colormap,
            ))?,
            "colorbar_png": png_base64(&colorize(
                &Map::new(1, 256, (0..256).map(|i| i as f64 / 255.0).collect()),
                self.colormap,
            ))?,
            "layers": layers,
            "warnings": self.warnings,
            "report": self.report,
        }))
    }
}
