//! The cases as one self-contained HTML page: pictures inline as PNG data URIs, text escaped.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use base64::Engine as _;
use image::RgbImage;
use serde_json::Value;

use super::item::{Ctx, method_label};
use super::select::{Counts, Order};
use crate::explanation::CamOptions;

/// `w × h` scaled so that the longer side is at most `max`.
pub(super) fn thumb_size(w: u32, h: u32, max: u32) -> (u32, u32) {
    let s = (max as f64 / w.max(h) as f64).min(1.0);
    (
        ((w as f64 * s).round() as u32).max(1),
        ((h as f64 * s).round() as u32).max(1),
    )
}

pub(super) fn thumbnail(img: &RgbImage, max: u32) -> RgbImage {
    let (w, h) = thumb_size(img.width(), img.height(), max);
    if (w, h) == img.dimensions() {
        return img.clone();
    }
    image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
}

pub(super) fn data_uri(img: &RgbImage) -> Result<String> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
    ))
}

pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub(super) fn figure(uri: &str, caption: &str) -> String {
    format!("<figure><img src=\"{uri}\" alt=\"\"><figcaption>{caption}</figcaption></figure>")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}\
h1{margin-bottom:4px}h2{border-bottom:2px solid #ccc;padding-bottom:4px;margin-top:36px}\
h2 small,h4 small{font-weight:normal;color:#666;font-size:70%}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#eee}td:first-child,th:first-child{text-align:left}\
.meta{color:#444;font-size:90%}.item{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:14px 0}\
.item h3{margin:2px 0 6px}.tag{font-weight:normal;font-size:75%;color:#555;background:#eee;border-radius:4px;padding:1px 6px}\
.figs{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}figure img{display:block;border:1px solid #bbb}\
figcaption{font-size:80%;max-width:260px;margin-top:3px}.layers{font-size:85%;margin:6px 0}\
.warn{color:#a40;font-size:85%;margin:4px 0}.err{color:#b00}.none{color:#777;font-style:italic}\
.nb{margin-top:10px;border-top:1px dashed #ccc}.nb h4{margin:8px 0 6px;font-weight:normal}";

/// A CAM method and the options it runs with, in one line.
fn cam_summary(method: &str, cam: &CamOptions) -> String {
    let mut s = format!("{method}, scaling {}", cam.scaling.name());
    if cam.aug_smooth {
        s.push_str(", aug-smooth");
    }
    if cam.eigen_smooth {
        s.push_str(", eigen-smooth");
    }
    if let Some(f) = cam.finer {
        let _ = write!(s, ", Finer-CAM k={} α={}", f.k, f.alpha);
    }
    s
}

pub(super) fn page(ctx: &Ctx, counts: &Counts, report: &Value, sections: &str) -> String {
    let a = ctx.a;
    let net = ctx.loaded.net();
    let cfg = &a.config;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>icam cases: {}</title><style>{STYLE}</style></head><body>",
        esc(&a.data.display().to_string())
    );
    let method = if a.method == "icam" {
        format!(
            "I-CAM n={} α={} T={} bias {} · per-image seed = {} XOR FNV-1a(name)",
            cfg.n,
            cfg.alpha,
            cfg.threshold,
            format!("{:?}", cfg.bias).to_lowercase(),
            cfg.seed
        )
    } else {
        cam_summary(&a.method, &a.cam)
    };
    let _ = writeln!(
        h,
        "<h1>{} confidence cases</h1><p class=\"meta\">data <code>{}</code> · model {} (<code>{}</code>, {}, {}{}) · {}</p>",
        method_label(&a.method),
        esc(&a.data.display().to_string()),
        esc(net.arch()),
        esc(&ctx.loaded.weights.display().to_string()),
        ctx.loaded.normalization.name(),
        net.precision().name(),
        if ctx.loaded.no_resize {
            ", no resize"
        } else {
            ""
        },
        esc(&method)
    );
    let _ = writeln!(
        h,
        "<p>Confidence p = softmax probability of the predicted class. High: p ≥ {}; low: p &lt; {}{}. \
         Correct: the predicted class is one of the classes the label names. Shown: up to {} per case, {}.</p>",
        a.high,
        a.low,
        if a.low < a.high {
            format!(
                "; {} ≤ p &lt; {}: in neither case (counted, not shown)",
                a.low, a.high
            )
        } else {
            String::new()
        },
        a.per_case,
        match a.order {
            Order::Confidence =>
                "the most confident first in the high cases, the least confident first in the low cases",
            Order::Dataset => "the first in dataset order",
        }
    );
    let _ = writeln!(
        h,
        "<table><tr><th></th><th>correct</th><th>incorrect</th></tr>\
         <tr><td>high (p ≥ {})</td><td><a href=\"#correct_high\">{}</a></td><td><a href=\"#incorrect_high\">{}</a></td></tr>\
         <tr><td>low (p &lt; {})</td><td><a href=\"#correct_low\">{}</a></td><td><a href=\"#incorrect_low\">{}</a></td></tr></table>\n\
         <p class=\"meta\">{} images: {} predicted ({} correct), {} between the thresholds, {} unlabelled, {} unreadable.</p>",
        a.high,
        counts.correct_high,
        counts.incorrect_high,
        a.low,
        counts.correct_low,
        counts.incorrect_low,
        counts.images,
        counts.predicted,
        counts.correct,
        counts.between,
        counts.unlabelled,
        counts.failed
    );
    if let Some(n) = report.get("neighbours").filter(|n| !n.is_null()) {
        let _ = writeln!(
            h,
            "<p class=\"meta\">Training examples from <code>{}</code>: {} nearest per class by cosine similarity of pooled <code>{}</code> features ({}); {} embedded now, {} from the cache <code>{}</code>.</p>",
            esc(n["train"].as_str().unwrap_or_default()),
            a.neighbours,
            esc(ctx.layer),
            esc(n["pooling"].as_str().unwrap_or_default()),
            n["embedded"],
            n["from_cache"],
            esc(n["cache"].as_str().unwrap_or_default())
        );
    }
    h.push_str(sections);
    let _ = writeln!(
        h,
        "<p class=\"meta\">icam {} · {:.1} s</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        report["timing_s"]["total"].as_f64().unwrap_or_default()
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_and_escaping() {
        assert_eq!(thumb_size(1000, 500, 256), (256, 128));
        assert_eq!(thumb_size(100, 50, 256), (100, 50));
        assert_eq!(thumb_size(5000, 1, 256), (256, 1));
        assert_eq!(esc("<a&\"b\">'"), "&lt;a&amp;&quot;b&quot;&gt;&#39;");
        let img = RgbImage::from_pixel(4, 2, image::Rgb([255, 0, 0]));
        let uri = data_uri(&img).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(uri.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(back, img);
    }
}
