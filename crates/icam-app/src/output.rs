//! Writing results: everything is encoded in memory first, then each file is written to a
//! temporary name in the output folder and renamed into place, so a failure never leaves a
//! partial file behind.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use image::RgbImage;

/// A picture as PNG bytes (what [`Outputs::png`] writes).
pub fn png_bytes<P, C>(img: &image::ImageBuffer<P, C>) -> Result<Vec<u8>>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(buf.into_inner())
}

/// Files to write, by name, as bytes.
#[derive(Default)]
pub struct Outputs {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Outputs {
    pub fn add(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.files.push((path, bytes));
    }

    pub fn png(&mut self, path: PathBuf, img: &RgbImage) -> Result<()> {
        self.add(path, png_bytes(img)?);
        Ok(())
    }

    pub fn json(&mut self, path: PathBuf, value: &impl serde::Serialize) -> Result<()> {
        let mut s = serde_json::to_string_pretty(value).context("encoding JSON")?;
        s.push('\n');
        self.add(path, s.into_bytes());
        Ok(())
    }

    /// A float32 `.npy` of `shape`.
    pub fn npy_f32(&mut self, path: PathBuf, shape: &[usize], data: &[f64]) -> Result<()> {
        self.add(path, npy_bytes(shape, data.iter().map(|&v| v as f32))?);
        Ok(())
    }

    /// A float64 `.npy` of `shape`.
    pub fn npy_f64(&mut self, path: PathBuf, shape: &[usize], data: &[f64]) -> Result<()> {
        self.add(path, npy_bytes(shape, data.iter().copied())?);
        Ok(())
    }

    /// Write every file so that either all of them land or the output folder is left as it
    /// was: (1) every file is written under a temporary name beside its target; (2) each
    /// existing target is moved to a backup name and the temporary file renamed into place;
    /// (3) the backups are deleted. A failure in (1) or (2) removes the temporary files and
    /// new files, restores the backups and removes the folders this call created.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        let mut created_dirs: Vec<PathBuf> = Vec::new();
        let mut temps: Vec<PathBuf> = Vec::new();
        // (target, backup of what it replaced)
        let mut placed: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let result = (|| -> Result<()> {
            for (path, bytes) in &self.files {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    create_dirs(dir, &mut created_dirs)?;
                }
                let tmp = side_name(path, "tmp");
                std::fs::write(&tmp, bytes)
                    .with_context(|| format!("writing {}", tmp.display()))?;
                temps.push(tmp);
            }
            for ((path, _), tmp) in self.files.iter().zip(&temps) {
                if path.is_dir() {
                    anyhow::bail!("writing {}: it is a folder", path.display());
                }
                let backup = if path.exists() {
                    let b = side_name(path, "bak");
                    std::fs::rename(path, &b)
                        .with_context(|| format!("replacing {}", path.display()))?;
                    Some(b)
                } else {
                    None
                };
                let moved = std::fs::rename(tmp, path);
                placed.push((path.clone(), backup));
                moved.with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                for (_, b) in &placed {
                    if let Some(b) = b {
                        let _ = std::fs::remove_file(b);
                    }
                }
                Ok(placed.into_iter().map(|(p, _)| p).collect())
            }
            Err(e) => {
                for (path, backup) in placed.iter().rev() {
                    let _ = std::fs::remove_file(path);
                    if let Some(b) = backup {
                        let _ = std::fs::rename(b, path);
                    }
                }
                for t in &temps {
                    let _ = std::fs::remove_file(t);
                }
                for d in created_dirs.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                Err(e)
            }
        }
    }
}

fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dirs(parent, created)?;
    }
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    created.push(dir.to_path_buf());
    Ok(())
}

/// A hidden name beside `path`: `.NAME.<pid>.<kind>`.
fn side_name(path: &Path, kind: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{kind}", std::process::id()))
}

/// An `.npy` file in memory (C order, the element type's default dtype).
pub fn npy_bytes<T>(shape: &[usize], data: impl IntoIterator<Item = T>) -> Result<Vec<u8>>
where
    T: npyz::AutoSerialize + npyz::Serialize,
{
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(&shape.iter().map(|&d| d as u64).collect::<Vec<_>>())
        .writer(&mut buf)
        .begin_nd()?;
    w.extend(data)?;
    w.finish()?;
    Ok(buf)
}

/// Read a `.npy` as (shape, values in f64), for float32/float64/uint8/bool/int arrays.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let f = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
    let n: usize = shape.iter().product();
    let npyz::DType::Plain(t) = f.dtype() else {
        anyhow::bail!("{}: structured arrays are not supported", path.display());
    };
    let bad = || format!("{}: truncated or unreadable data", path.display());
    let data: Vec<f64> = match (t.type_char(), t.size_field()) {
        (npyz::TypeChar::Float, 8) => f.into_vec::<f64>().with_context(bad)?,
        (npyz::TypeChar::Float, 4) => f
            .into_vec::<f32>()
            .with_context(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (npyz::TypeChar::Uint, 1) | (npyz::TypeChar::Bool, 1) => f
            .into_vec::<u8>()
            .with_context(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (npyz::TypeChar::Int, 8) => f
            .into_vec::<i64>()
            .with_context(bad)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (c, s) => anyhow::bail!("{}: unsupported dtype {c:?}{s}", path.display()),
    };
    anyhow::ensure!(
        data.len() == n,
        "{}: holds {} values for shape {shape:?}",
        path.display(),
        data.len()
    );
    Ok((shape, data))
}
