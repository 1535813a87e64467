//! Pictures of a heatmap: a perceptual colormap, the overlay on the original image (at its own
//! resolution, through the preprocessing geometry) and the per-layer grid of the paper's
//! Fig. 10. Images are returned in memory; writing them is the caller's business.

use icam_models::{Geometry, PixelImage};
use image::{Rgb, RgbImage};

use crate::maps::{Map, Upsample};

/// A colormap for heatmaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// Perceptually uniform, dark to bright (default).
    Inferno,
    Viridis,
    /// Improved rainbow (Google's Turbo), for users used to "jet".
    Turbo,
}

impl Colormap {
    fn gradient(self) -> colorous::Gradient {
        match self {
            Colormap::Inferno => colorous::INFERNO,
            Colormap::Viridis => colorous::VIRIDIS,
            Colormap::Turbo => colorous::TURBO,
        }
    }

    /// Colour of `t` ∈ [0, 1] (clamped; NaN is black).
    pub fn color(self, t: f64) -> [u8; 3] {
        if t.is_nan() {
            return [0, 0, 0];
        }
        let c = self.gradient().eval_continuous(t.clamp(0.0, 1.0));
        [c.r, c.g, c.b]
    }
}

/// Bilinear sample of `m` at continuous pixel-centre coordinates `(x, y)` (edges clamped);
/// `None` outside the map.
fn sample(m: &Map, x: f64, y: f64) -> Option<f64> {
    if x < -0.5 || y < -0.5 || x > m.w as f64 - 0.5 || y > m.h as f64 - 0.5 {
        return None;
    }
    let x = x.clamp(0.0, (m.w - 1) as f64);
    let y = y.clamp(0.0, (m.h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(m.w - 1), (y0 + 1).min(m.h - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let v = |xx: usize, yy: usize| m.data[yy * m.w + xx];
    Some(
        (1.0 - fy) * ((1.0 - fx) * v(x0, y0) + fx * v(x1, y0))
            + fy * ((1.0 - fx) * v(x0, y1) + fx * v(x1, y1)),
    )
}

fn blend(base: [u8; 3], color: [u8; 3], a: f64) -> Rgb<u8> {
    Rgb(std::array::from_fn(|c| {
        ((1.0 - a) * base[c] as f64 + a * color[c] as f64)
            .round()
            .clamp(0.0, 255.0) as u8
    }))
}

/// The heatmap (model-input resolution) blended on the original image at its own resolution:
/// each original pixel is mapped through `geometry` into the model input and the heat is
/// sampled bilinearly. Pixels outside the centre crop (never seen by the model) are dimmed.
pub fn overlay(
    original: &RgbImage,
    geometry: &Geometry,
    heat: &Map,
    cmap: Colormap,
    alpha: f64,
) -> RgbImage {
    let (w, h) = original.dimensions();
    let mut out = RgbImage::new(w, h);
    for (x, y, p) in original.enumerate_pixels() {
        let (mx, my) = geometry.original_to_model(x as f64 + 0.5, y as f64 + 0.5);
        let px = match sample(heat, mx - 0.5, my - 0.5) {
            Some(t) => blend(p.0, cmap.color(t), alpha),
            None => blend(p.0, [0, 0, 0], 0.6),
        };
        out.put_pixel(x, y, px);
    }
    out
}

/// The model input picture (what the network saw), 8-bit.
pub fn input_picture(img: &PixelImage) -> RgbImage {
    let hw = img.height * img.width;
    RgbImage::from_fn(img.width as u32, img.height as u32, |x, y| {
        let i = y as usize * img.width + x as usize;
        Rgb(std::array::from_fn(|c| {
            (img.data[c * hw + i] * 255.0).round().clamp(0.0, 255.0) as u8
        }))
    })
}

/// Draw `text` with the public-domain 8×8 bitmap font at `scale`, white on the image.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, color: [u8; 3]) {
    for (i, ch) in text.chars().enumerate() {
        let code = ch as usize;
        let glyph = if code < 128 {
            font8x8::legacy::BASIC_LEGACY[code]
        } else {
            font8x8::legacy::BASIC_LEGACY[b'?' as usize]
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + (i as u32 * 8 + col) * scale + dx;
                        let py = y + row as u32 * scale + dy;
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, Rgb(color));
                        }
                    }
                }
            }
        }
    }
}

/// One panel of the layer grid.
pub struct Panel {
    /// The map to show (any resolution; shown relu'd and min-max normalised).
    pub map: Map,
    /// Caption lines under the picture.
    pub lines: Vec<String>,
    /// Frame colour (e.g. selected layers highlighted).
    pub frame: [u8; 3],
}

/// A map as a panel of the layer grid shows it: ReLU, bilinear upsampling to `h × w`,
/// min-max.
pub fn panel_map(map: &Map, h: usize, w: usize) -> Map {
    map.clone()
        .relu()
        .upsample(h, w, Upsample::Bilinear)
        .minmax()
}

/// A map of values in [0, 1] in the colours of `cmap`, one pixel per value.
pub fn colorize(map: &Map, cmap: Colormap) -> RgbImage {
    RgbImage::from_fn(map.w as u32, map.h as u32, |x, y| {
        Rgb(cmap.color(map.data[y as usize * map.w + x as usize]))
    })
}

/// The paper's Fig. 10: one panel per layer (map over the model input, caption with score,
/// rank, weight, selection), in a grid of `cols` columns.
pub fn layer_grid(input: &RgbImage, panels: &[Panel], cols: usize, cmap: Colormap) -> RgbImage {
    let (pw, ph) = (input.width(), input.height());
    let caption = 12 * 3 + 6;
    let pad = 6;
    let cols = cols.max(1).min(panels.len().max(1));
    let rows = panels.len().div_ceil(cols);
    let cw = pw + 2 * pad;
    let chh = ph + caption + 2 * pad;
    let mut out = RgbImage::from_pixel(cw * cols as u32, chh * rows as u32, Rgb([24, 24, 24]));
    for (i, p) in panels.iter().enumerate() {
        let (cx, cy) = ((i % cols) as u32 * cw, (i / cols) as u32 * chh);
        let m = panel_map(&p.map, ph as usize, pw as usize);
        for y in 0..ph {
            for x in 0..pw {
                let t = m.data[y as usize * pw as usize + x as usize];
                out.put_pixel(
                    cx + pad + x,
                    cy + pad + y,
                    blend(input.get_pixel(x, y).0, cmap.color(t), 0.55),
                );
            }
        }
        for t in 0..3 {
            for x in 0..cw {
                out.put_pixel(cx + x, cy + t, Rgb(p.frame));
                out.put_pixel(cx + x, cy + chh - 1 - t, Rgb(p.frame));
            }
            for y in 0..chh {
                out.put_pixel(cx + t, cy + y, Rgb(p.frame));
                out.put_pixel(cx + cw - 1 - t, cy + y, Rgb(p.frame));
            }
        }
        for (l, line) in p.lines.iter().enumerate().take(3) {
            let max_chars = ((cw - 2 * pad) / 8) as usize;
            let line: String = line.chars().take(max_chars).collect();
            draw_text(
                &mut out,
                cx + pad,
                cy + pad + ph + 4 + l as u32 * 12,
                &line,
                1,
                [235, 235, 235],
            );
        }
    }
    out
}

/// A labelled matrix plot (e.g. classes × layers of mean layer weight): one cell per value,
/// coloured by `value / max` (NaN cells grey), row labels left, column labels rotated as
/// short indices with a legend line under the plot.
pub fn matrix_plot(
    title: &str,
    rows: &[String],
    cols: &[String],
    values: &[Vec<f64>],
    cmap: Colormap,
) -> RgbImage {
    let cell = 22u32;
    let label_w = 8 * rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 28) as u32
        + 12;
    let top = 40u32;
    let legend_lines = cols.len().div_ceil(4) as u32;
    let width = (label_w + cell * cols.len() as u32 + 12).max(8 * title.len() as u32 + 20);
    let height = top + cell * rows.len() as u32 + 16 + 12 * legend_lines + 8;
    let mut img = RgbImage::from_pixel(width, height, Rgb([250, 250, 250]));
    let dark = [20, 20, 20];
    draw_text_on(&mut img, 6, 6, title, dark);
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    for (j, _) in cols.iter().enumerate() {
        draw_text_on(
            &mut img,
            label_w + j as u32 * cell + 3,
            top - 14,
            &format!("{j}"),
            dark,
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as u32 * cell;
        let label: String = r.chars().take(28).collect();
        draw_text_on(&mut img, 6, y + 7, &label, dark);
        for (j, v) in values[i].iter().enumerate() {
            let c = if v.is_finite() && max > 0.0 {
                cmap.color(v / max)
            } else {
                [200, 200, 200]
            };
            for dy in 1..cell - 1 {
                for dx in 1..cell - 1 {
                    img.put_pixel(label_w + j as u32 * cell + dx, y + dy, Rgb(c));
                }
            }
        }
    }
    let ly = top + cell * rows.len() as u32 + 10;
    for (k, chunk) in cols.chunks(4).enumerate() {
        let line: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(q, c)| format!("{}={c}", k * 4 + q))
            .collect();
        draw_text_on(&mut img, 6, ly + 12 * k as u32, &line.join("  "), dark);
    }
    img
}

fn draw_text_on(img: &mut RgbImage, x: u32, y: u32, text: &str, color: [u8; 3]) {
    draw_text(img, x, y, text, 1, color);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_maps_the_crop_back_to_the_original() {
        // A 4×2 original resized to 4×2 (no resize) and cropped to its right half.
        let orig = RgbImage::from_pixel(4, 2, Rgb([100, 100, 100]));
        let g = Geometry {
            original: (4, 2),
            resized: (4, 2),
            crop: (2, 0, 2, 2),
        };
        let heat = Map::new(2, 2, vec![0.0, 1.0, 0.0, 1.0]);
        let o = overlay(&orig, &g, &heat, Colormap::Inferno, 1.0);
        // Left half: outside the crop, dimmed.
        assert_eq!(o.get_pixel(0, 0).0, [40, 40, 40]);
        // Right half: the colormap's ends.
        assert_eq!(o.get_pixel(2, 0).0, Colormap::Inferno.color(0.0));
        assert_eq!(o.get_pixel(3, 1).0, Colormap::Inferno.color(1.0));
    }

    #[test]
    fn panel_maps_are_relu_upsampled_minmax_in_colour() {
        // 1×2 map [-1, 3]: ReLU → [0, 3]; bilinear to 1×4 (half-pixel centres) → [0, 0.75,
        // 2.25, 3]; min-max → [0, 0.25, 0.75, 1].
        let m = panel_map(&Map::new(1, 2, vec![-1.0, 3.0]), 1, 4);
        assert_eq!((m.h, m.w), (1, 4));
        for (v, e) in m.data.iter().zip([0.0, 0.25, 0.75, 1.0]) {
            assert!((v - e).abs() < 1e-12, "{:?}", m.data);
        }
        let img = colorize(&m, Colormap::Turbo);
        assert_eq!(img.dimensions(), (4, 1));
        assert_eq!(img.get_pixel(0, 0).0, Colormap::Turbo.color(0.0));
        assert_eq!(img.get_pixel(2, 0).0, Colormap::Turbo.color(0.75));
    }

    #[test]
    fn matrix_plot_colours_cells_by_value() {
        let rows = vec!["all".to_string(), "cat".to_string()];
        let cols = vec!["l1".to_string(), "l2".to_string()];
        let img = matrix_plot(
            "t",
            &rows,
            &cols,
            &[vec![1.0, 0.5], vec![0.0, f64::NAN]],
            Colormap::Viridis,
        );
        // label width: max(4, 3) chars → 4·8 + 12 = 44; top 40; cells 22 px.
        let at = |i: u32, j: u32| img.get_pixel(44 + j * 22 + 10, 40 + i * 22 + 10).0;
        assert_eq!(at(0, 0), Colormap::Viridis.color(1.0));
        assert_eq!(at(0, 1), Colormap::Viridis.color(0.5));
        assert_eq!(at(1, 0), Colormap::Viridis.color(0.0));
        assert_eq!(at(1, 1), [200, 200, 200]);
    }

    #[test]
    fn text_and_grid_have_the_expected_size() {
        let mut img = RgbImage::new(20, 10);
        draw_text(&mut img, 0, 0, "I", 1, [255, 255, 255]);
        assert!(img.pixels().any(|p| p.0 == [255, 255, 255]));
        let input = RgbImage::new(16, 16);
        let panels: Vec<Panel> = (0..5)
            .map(|i| Panel {
                map: Map::filled(2, 2, i as f64),
                lines: vec![format!("p{i}")],
                frame: [0, 200, 0],
            })
            .collect();
        let g = layer_grid(&input, &panels, 4, Colormap::Viridis);
        assert_eq!(g.dimensions(), (4 * 28, 2 * (16 + 42 + 12)));
    }
}
