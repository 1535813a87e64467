//! An explanation as files: `heatmap.npy`, `overlay.png`, `layers.png`, `report.json`, and
//! I-CAM's intermediates under the reference's names.

use std::path::{Path, PathBuf};

use anyhow::Result;
use icam::Map;

use super::Explanation;
use crate::error::invalid;
use crate::output::Outputs;

impl Explanation {
    /// Add the four files to `out`, in `dir`.
    pub fn stage(&self, out: &mut Outputs, dir: &Path) -> Result<()> {
        let px = &self.image.pixels;
        out.npy_f32(
            dir.join("heatmap.npy"),
            &[px.height, px.width],
            &self.heatmap().data,
        )?;
        out.png(dir.join("overlay.png"), &self.overlay())?;
        out.png(dir.join("layers.png"), &self.layer_grid())?;
        out.json(dir.join("report.json"), &self.report)
    }

    /// Write the four files into `dir`, all or none.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Outputs::default();
        self.stage(&mut out, dir)?;
        out.commit()
    }

    /// Add I-CAM's intermediates to `out`, in `dir`, as the reference's `--dump-intermediates`:
    /// logits, the input-gradient map, per layer the normalised φ maps, the layer map and its
    /// bias, and the fused map (float64 `.npy`).
    pub fn stage_intermediates(&self, out: &mut Outputs, dir: &Path) -> Result<()> {
        let Some(r) = self.icam() else {
            return Err(invalid!("--dump-intermediates is only for --method icam"));
        };
        let im = &r.intermediates;
        let classes = im.logits[0].len();
        out.npy_f64(
            dir.join("logits.npy"),
            &[im.logits.len(), classes],
            &im.logits.concat(),
        )?;
        let m = &im.input_grad_map;
        out.npy_f64(dir.join("input_grad_map.npy"), &[m.h, m.w], &m.data)?;
        for (li, l) in r.report.layer_names.iter().enumerate() {
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
        )
    }
}

/// Stage the files of several explanations of one image: in `dir` itself for one, in
/// `dir/class-<index>` for several; the same for the intermediates under `intermediates`.
/// Returns each explanation's folder.
pub fn stage_all(
    explanations: &[Explanation],
    out: &mut Outputs,
    dir: &Path,
    intermediates: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    let multi = explanations.len() > 1;
    let sub = |base: &Path, c: usize| {
        if multi {
            base.join(format!("class-{c}"))
        } else {
            base.to_path_buf()
        }
    };
    let mut dirs = Vec::with_capacity(explanations.len());
    for e in explanations {
        let d = sub(dir, e.class);
        e.stage(out, &d)?;
        if let Some(i) = intermediates {
            e.stage_intermediates(out, &sub(i, e.class))?;
        }
        dirs.push(d);
    }
    Ok(dirs)
}
