//! Images: decoding (the `image` crate), torchvision's standard preprocessing (resize the
//! shorter side, centre-crop), normalisation to the model input, and the geometry that maps
//! model-input pixels back to the original image.

use std::path::Path;

use image::RgbImage;
use image::imageops::FilterType;

use crate::error::{ModelError, Result};
use crate::host::{HostData, HostTensor, Precision};

/// ImageNet channel means (torchvision).
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (torchvision).
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// How pixels in [0, 1] become the model input (A4, A26).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// `(x − mean)/std` with ImageNet statistics (subtract, then divide).
    ImageNet,
    /// EfficientNet-Lite: `((x·255) − 127)/128`, in that order.
    Lite,
    /// `x` itself.
    None,
}

impl Normalization {
    pub fn name(self) -> &'static str {
        match self {
            Self::ImageNet => "imagenet",
            Self::Lite => "lite",
            Self::None => "none",
        }
    }

    /// Model input of one pixel value of channel `c`, in float32 arithmetic (the reference
    /// computes the normalisation in the network dtype).
    pub fn apply_f32(self, x: f32, c: usize) -> f32 {
        match self {
            Self::ImageNet => (x - IMAGENET_MEAN[c] as f32) / IMAGENET_STD[c] as f32,
            Self::Lite => (x * 255.0 - 127.0) / 128.0,
            Self::None => x,
        }
    }

    /// The same in float64 arithmetic.
    pub fn apply_f64(self, x: f64, c: usize) -> f64 {
        match self {
            Self::ImageNet => (x - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
            Self::Lite => (x * 255.0 - 127.0) / 128.0,
            Self::None => x,
        }
    }

    /// Inverse, in float64: model input back to pixel space (`x_in·std + mean`; Lite:
    /// `(x_in·128 + 127)/255`), used for SSIM (A5, A26).
    pub fn invert_f64(self, x_in: f64, c: usize) -> f64 {
        match self {
            Self::ImageNet => x_in * IMAGENET_STD[c] + IMAGENET_MEAN[c],
            Self::Lite => (x_in * 128.0 + 127.0) / 255.0,
            Self::None => x_in,
        }
    }

    /// d(model input)/d(pixel) for channel `c` (the normalisation is affine per channel).
    pub fn scale(self, c: usize) -> f64 {
        match self {
            Self::ImageNet => 1.0 / IMAGENET_STD[c],
            Self::Lite => 255.0 / 128.0,
            Self::None => 1.0,
        }
    }

    /// Normalise a batch `[B, 3, H, W]` of pixel-space values, keeping its precision (float32
    /// arithmetic for float32 data, as the reference computes in the network dtype).
    pub fn apply_tensor(self, x: &HostTensor) -> HostTensor {
        let hw = x.shape[2] * x.shape[3];
        let data = match &x.data {
            HostData::F32(v) => HostData::F32(
                v.iter()
                    .enumerate()
                    .map(|(i, &p)| self.apply_f32(p, (i / hw) % 3))
                    .collect(),
            ),
            HostData::F64(v) => HostData::F64(
                v.iter()
                    .enumerate()
                    .map(|(i, &p)| self.apply_f64(p, (i / hw) % 3))
                    .collect(),
            ),
        };
        HostTensor {
            shape: x.shape.clone(),
            data,
        }
    }

    /// Chain rule through the normalisation: the gradient with respect to the pixel value
    /// from the gradient `g` with respect to the model input, for channel `c`.
    pub fn grad_to_pixel(self, g: f64, c: usize) -> f64 {
        match self {
            Self::ImageNet => g / IMAGENET_STD[c],
            Self::Lite => g / 128.0 * 255.0,
            Self::None => g,
        }
    }

    /// Model input `[1, 3, H, W]` for a pixel-space image, in the run precision.
    pub fn to_model_input(self, img: &PixelImage, precision: Precision) -> HostTensor {
        let hw = img.height * img.width;
        let shape = vec![1, 3, img.height, img.width];
        match precision {
            Precision::F32 => HostTensor::f32(
                shape,
                img.data
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| self.apply_f32(x, i / hw))
                    .collect(),
            ),
            Precision::F64 => HostTensor::f64(
                shape,
                img.data
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| self.apply_f64(x as f64, i / hw))
                    .collect(),
            ),
        }
    }
}

/// Resampling filter of the resize step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeFilter {
    Bilinear,
    Bicubic,
}

/// Preprocessing of a model: resize the shorter side, centre-crop, normalise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preprocess {
    /// Target of the shorter side (torchvision `Resize(256)`), or none.
    pub resize_shorter: Option<u32>,
    /// Centre crop size `(height, width)`, or none.
    pub crop: Option<(u32, u32)>,
    pub filter: ResizeFilter,
    pub normalization: Normalization,
}

impl Preprocess {
    /// torchvision's ImageNet evaluation transform: Resize(256), CenterCrop(224), ImageNet
    /// mean/std.
    pub fn imagenet() -> Self {
        Self {
            resize_shorter: Some(256),
            crop: Some((224, 224)),
            filter: ResizeFilter::Bilinear,
            normalization: Normalization::ImageNet,
        }
    }

    /// The same without resize and crop (`--no-resize`): RGB/255, then normalisation.
    pub fn no_resize(self) -> Self {
        Self {
            resize_shorter: None,
            crop: None,
            ..self
        }
    }
}

/// Where the model input came from in the original image.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Geometry {
    /// Original image size (width, height).
    pub original: (u32, u32),
    /// Size after the resize step (width, height); equal to `original` without resize.
    pub resized: (u32, u32),
    /// Crop inside the resized image: (left, top, width, height).
    pub crop: (u32, u32, u32, u32),
}

impl Geometry {
    /// Horizontal and vertical scale from original to resized pixels.
    pub fn scale(&self) -> (f64, f64) {
        (
            self.resized.0 as f64 / self.original.0 as f64,
            self.resized.1 as f64 / self.original.1 as f64,
        )
    }

    /// Model-input coordinates of an original-image point (continuous pixel coordinates,
    /// edges at integers).
    pub fn original_to_model(&self, x: f64, y: f64) -> (f64, f64) {
        let (sx, sy) = self.scale();
        (x * sx - self.crop.0 as f64, y * sy - self.crop.1 as f64)
    }

    /// Original-image coordinates of a model-input point.
    pub fn model_to_original(&self, x: f64, y: f64) -> (f64, f64) {
        let (sx, sy) = self.scale();
        ((x + self.crop.0 as f64) / sx, (y + self.crop.1 as f64) / sy)
    }

    /// The crop as a rectangle of the original image: (x0, y0, x1, y1).
    pub fn crop_in_original(&self) -> (f64, f64, f64, f64) {
        let (x0, y0) = self.model_to_original(0.0, 0.0);
        let (x1, y1) = self.model_to_original(self.crop.2 as f64, self.crop.3 as f64);
        (x0, y0, x1, y1)
    }
}

/// A pixel-space image: float32 `(3, H, W)` RGB in [0, 1] (`u8 / 255`), plus its geometry.
#[derive(Clone, Debug)]
pub struct PixelImage {
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
    pub geometry: Geometry,
}

impl PixelImage {
    /// From an 8-bit RGB image, unchanged in size.
    pub fn from_rgb(img: &RgbImage) -> Self {
        let (w, h) = img.dimensions();
        let (wu, hu) = (w as usize, h as usize);
        let mut data = vec![0.0f32; 3 * wu * hu];
        for (x, y, p) in img.enumerate_pixels() {
            for c in 0..3 {
                data[c * wu * hu + y as usize * wu + x as usize] = p[c] as f32 / 255.0;
            }
        }
        Self {
            height: hu,
            width: wu,
            data,
            geometry: Geometry {
                original: (w, h),
                resized: (w, h),
                crop: (0, 0, w, h),
            },
        }
    }
}

/// Decode a PNG or JPEG into 8-bit RGB (with the `image` crate's allocation limits).
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let reader = image::ImageReader::open(path).map_err(|err| ModelError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| image_error(path, e.to_string()))?;
    decode(reader, path, None)
}

/// Decode PNG or JPEG bytes (an upload) into 8-bit RGB; `name` stands for them in messages,
/// which are [`load_rgb`]'s for a file of that name. An image of more than `max_pixels`
/// pixels is refused from its header, before anything is decoded.
pub fn decode_rgb(bytes: &[u8], name: &Path, max_pixels: u64) -> Result<RgbImage> {
    // As `ImageReader::open` reads a file: the name's extension gives the format unless the
    // content tells another; an unknown extension and content is its error.
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes));
    let ext = name.extension().filter(|e| !e.is_empty());
    if let Some(f) = ext.and_then(image::ImageFormat::from_extension) {
        reader.set_format(f);
    }
    let reader = reader
        .with_guessed_format()
        .map_err(|e| image_error(name, e.to_string()))?;
    if let (None, Some(ext)) = (reader.format(), ext) {
        let e = image::ImageError::Unsupported(
            image::error::ImageFormatHint::PathExtension(ext.into()).into(),
        );
        return Err(image_error(name, e.to_string()));
    }
    decode(reader, name, Some(max_pixels))
}

fn image_error(path: &Path, msg: String) -> ModelError {
    ModelError::Image {
        path: path.to_path_buf(),
        msg,
    }
}

/// Decode with the reader's format (the image's header checked first).
fn decode<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
    path: &Path,
    max_pixels: Option<u64>,
) -> Result<RgbImage> {
    use image::ImageDecoder as _;
    let err = |msg: String| image_error(path, msg);
    let decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(err("the image is empty".into()));
    }
    if let Some(max) = max_pixels
        && w as u64 * h as u64 > max
    {
        let mp = |px: u64| {
            let s = format!("{:.3}", px as f64 / 1e6);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        return Err(err(format!(
            "the image is {w}×{h} ({} megapixels); at most {} megapixels are accepted",
            mp(w as u64 * h as u64),
            mp(max)
        )));
    }
    // `ImageReader::decode`'s own check: the decoded buffer within the default allocation
    // limit.
    image::Limits::default()
        .reserve(decoder.total_bytes())
        .map_err(|e| err(e.to_string()))?;
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    Ok(img.to_rgb8())
}

/// Python's `round` (half to even), as torchvision's centre crop uses it.
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

/// The largest model input icam accepts, in pixels (64 megapixels: a float32 activation map
/// of a 64-channel stem at this size is already 4 GiB).
pub const MAX_INPUT_PIXELS: u64 = 1 << 26;

/// Apply resize and centre crop as torchvision does, keeping the geometry.
pub fn prepare(img: &RgbImage, pre: &Preprocess) -> Result<PixelImage> {
    let (w, h) = img.dimensions();
    if let Some(s) = pre.resize_shorter {
        let (short, long) = (w.min(h) as u64, w.max(h) as u64);
        if (s as u64).saturating_mul(long) / short.max(1) * s as u64 > MAX_INPUT_PIXELS {
            return Err(ModelError::Input(format!(
                "the image is {w}×{h}: resizing its shorter side to {s} would make it too large (aspect ratio {:.0}:1)",
                long as f64 / short.max(1) as f64
            )));
        }
    }
    let (rw, rh) = match pre.resize_shorter {
        // torchvision: the shorter side becomes `size`, the longer int(size·long/short).
        Some(s) if w <= h => (s, ((s as u64 * h as u64) / w as u64) as u32),
        Some(s) => (((s as u64 * w as u64) / h as u64) as u32, s),
        None => (w, h),
    };
    let resized = if (rw, rh) == (w, h) {
        img.clone()
    } else {
        let filter = match pre.filter {
            ResizeFilter::Bilinear => FilterType::Triangle,
            ResizeFilter::Bicubic => FilterType::CatmullRom,
        };
        image::imageops::resize(img, rw, rh, filter)
    };
    let (cw, ch) = match pre.crop {
        Some((ch, cw)) => (cw, ch),
        None => (rw, rh),
    };
    if cw > rw || ch > rh {
        return Err(ModelError::Input(format!(
            "image is {rw}×{rh} after resizing, smaller than the {cw}×{ch} crop"
        )));
    }
    let left = round_half_even((rw - cw) as f64 / 2.0) as u32;
    let top = round_half_even((rh - ch) as f64 / 2.0) as u32;
    if cw as u64 * ch as u64 > MAX_INPUT_PIXELS {
        return Err(ModelError::Input(format!(
            "the model input would be {cw}×{ch} pixels, more than icam accepts ({MAX_INPUT_PIXELS}); resize the image or drop --no-resize"
        )));
    }
    let cropped = image::imageops::crop_imm(&resized, left, top, cw, ch).to_image();
    let mut px = PixelImage::from_rgb(&cropped);
    px.geometry = Geometry {
        original: (w, h),
        resized: (rw, rh),
        crop: (left, top, cw, ch),
    };
    Ok(px)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding() {
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(16.0), 16);
        assert_eq!(round_half_even(2.4), 2);
    }

    #[test]
    fn resize_and_crop_geometry_round_trips() {
        let img = RgbImage::from_pixel(640, 480, image::Rgb([10, 20, 30]));
        let px = prepare(&img, &Preprocess::imagenet()).unwrap();
        assert_eq!((px.width, px.height), (224, 224));
        // 480 -> 256, 640 -> int(256*640/480) = 341; crop left round(117/2)=58 (half-even), top 16
        assert_eq!(px.geometry.resized, (341, 256));
        assert_eq!(px.geometry.crop, (58, 16, 224, 224));
        let (x, y) = px.geometry.model_to_original(10.0, 20.0);
        let (mx, my) = px.geometry.original_to_model(x, y);
        assert!((mx - 10.0).abs() < 1e-9 && (my - 20.0).abs() < 1e-9);
        // uniform colour survives resizing exactly
        assert!((px.data[0] - 10.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn decoding_bytes_checks_format_and_pixels() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 7]));
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let png = png.into_inner();
        let name = Path::new("up.png");
        assert_eq!(decode_rgb(&png, name, 15).unwrap(), img);
        let big = RgbImage::new(2000, 1000);
        let mut big_png = std::io::Cursor::new(Vec::new());
        big.write_to(&mut big_png, image::ImageFormat::Png).unwrap();
        assert_eq!(
            decode_rgb(big_png.get_ref(), name, 1_500_000)
                .unwrap_err()
                .to_string(),
            "cannot decode image up.png: the image is 2000×1000 (2 megapixels); at most 1.5 megapixels are accepted"
        );
        assert!(decode_rgb(&png, name, 14).is_err());
        let e = decode_rgb(b"hello", name, 100).unwrap_err().to_string();
        assert!(e.starts_with("cannot decode image up.png: "), "{e}");
        // A truncated PNG fails while decoding, not with a panic.
        let e = decode_rgb(&png[..png.len() / 2], name, 100).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot decode image up.png: "),
            "{e}"
        );
        // The same messages as from a file of that name.
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("up.png", &b"hello"[..]),
            ("up.jpg", &png[..]),
            ("notes.txt", &b"hello"[..]),
            ("noext", &b"hello"[..]),
            ("empty.png", &b""[..]),
        ] {
            let f = dir.path().join(name);
            std::fs::write(&f, bytes).unwrap();
            let from_file = load_rgb(&f).map(|_| ()).map_err(|e| e.to_string());
            let from_bytes = decode_rgb(bytes, Path::new(name), 100)
                .map(|_| ())
                .map_err(|e| e.to_string());
            let path = f.display().to_string();
            assert_eq!(
                from_file.map_err(|e| e.replace(&path, name)),
                from_bytes,
                "{name}"
            );
        }
    }

    #[test]
    fn normalisation_inverts() {
        for n in [
            Normalization::ImageNet,
            Normalization::Lite,
            Normalization::None,
        ] {
            for c in 0..3 {
                let x = 0.3;
                let y = n.apply_f64(x, c);
                assert!((n.invert_f64(y, c) - x).abs() < 1e-15);
                let eps = 1e-6;
                let d = (n.apply_f64(x + eps, c) - y) / eps;
                assert!((d - n.scale(c)).abs() < 1e-6);
            }
        }
    }
}
