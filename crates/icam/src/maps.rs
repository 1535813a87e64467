//! Two-dimensional float64 maps and the operations every method shares: bilinear/nearest
//! upsampling exactly as PyTorch's `F.interpolate` (A10), min-max normalisation (A11), ReLU.

/// A row-major `h × w` map in float64.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub h: usize,
    pub w: usize,
    pub data: Vec<f64>,
}

/// Interpolation used to bring a feature-resolution map to the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upsample {
    /// PyTorch `mode="bilinear", align_corners=False`, no antialias.
    Bilinear,
    /// PyTorch `mode="nearest"`.
    Nearest,
}

impl Map {
    pub fn new(h: usize, w: usize, data: Vec<f64>) -> Self {
        assert_eq!(h * w, data.len(), "map size");
        Self { h, w, data }
    }

    pub fn zeros(h: usize, w: usize) -> Self {
        Self::new(h, w, vec![0.0; h * w])
    }

    pub fn filled(h: usize, w: usize, v: f64) -> Self {
        Self::new(h, w, vec![v; h * w])
    }

    pub fn min(&self) -> f64 {
        self.data.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.data.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    pub fn sum(&self) -> f64 {
        self.data.iter().sum()
    }

    /// Element-wise `max(x, 0)`.
    pub fn relu(mut self) -> Self {
        for v in &mut self.data {
            *v = v.max(0.0);
        }
        self
    }

    /// `(x − min)/(max − min)`; a constant map becomes all zeros, no epsilon (A11).
    pub fn minmax(mut self) -> Self {
        let (mn, mx) = (self.min(), self.max());
        let range = mx - mn;
        if range > 0.0 {
            for v in &mut self.data {
                *v = (*v - mn) / range;
            }
        } else {
            self.data.iter_mut().for_each(|v| *v = 0.0);
        }
        self
    }

    /// `self += k · other` (same size).
    pub fn add_scaled(&mut self, k: f64, other: &Map) {
        assert_eq!((self.h, self.w), (other.h, other.w), "map sizes");
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a += k * b;
        }
    }

    /// Resize to `h × w` (A10). The same size returns a copy.
    pub fn upsample(&self, h: usize, w: usize, mode: Upsample) -> Map {
        if (h, w) == (self.h, self.w) {
            return self.clone();
        }
        match mode {
            Upsample::Bilinear => self.bilinear(h, w),
            Upsample::Nearest => self.nearest(h, w),
        }
    }

    /// PyTorch's bilinear interpolation with `align_corners=False`, per axis:
    /// `src = (dst + 0.5)·(in/out) − 0.5`, clamped below at 0; `i0 = ⌊src⌋`,
    /// `i1 = min(i0 + 1, in − 1)`, `λ = src − i0`.
    fn bilinear(&self, h: usize, w: usize) -> Map {
        let ys = axis_weights(self.h, h);
        let xs = axis_weights(self.w, w);
        let mut out = Vec::with_capacity(h * w);
        for &(y0, y1, ly) in &ys {
            let r0 = &self.data[y0 * self.w..(y0 + 1) * self.w];
            let r1 = &self.data[y1 * self.w..(y1 + 1) * self.w];
            for &(x0, x1, lx) in &xs {
                let top = (1.0 - lx) * r0[x0] + lx * r0[x1];
                let bottom = (1.0 - lx) * r1[x0] + lx * r1[x1];
                out.push((1.0 - ly) * top + ly * bottom);
            }
        }
        Map::new(h, w, out)
    }

    /// PyTorch's legacy `nearest`: `src = min(⌊dst·in/out⌋, in − 1)`.
    fn nearest(&self, h: usize, w: usize) -> Map {
        let sy = self.h as f32 / h as f32;
        let sx = self.w as f32 / w as f32;
        let mut out = Vec::with_capacity(h * w);
        for y in 0..h {
            let iy = ((y as f32 * sy).floor() as usize).min(self.h - 1);
            for x in 0..w {
                let ix = ((x as f32 * sx).floor() as usize).min(self.w - 1);
                out.push(self.data[iy * self.w + ix]);
            }
        }
        Map::new(h, w, out)
    }
}

/// Source indices and weight of each output position along one axis (A10).
fn axis_weights(input: usize, output: usize) -> Vec<(usize, usize, f64)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|d| {
            let src = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, src - i0 as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_matches_hand_computed_pytorch_values() {
        // F.interpolate(tensor([[0., 1.], [2., 3.]]), size=4, mode="bilinear",
        // align_corners=False) rows: [0, .25, .75, 1], [.5, .75, 1.25, 1.5],
        // [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3].
        let m = Map::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]);
        let up = m.upsample(4, 4, Upsample::Bilinear);
        let want = [
            0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0,
        ];
        for (a, b) in up.data.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{:?}", up.data);
        }
    }

    #[test]
    fn nearest_and_identity() {
        let m = Map::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]);
        let up = m.upsample(4, 4, Upsample::Nearest);
        assert_eq!(&up.data[..8], &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(m.upsample(2, 2, Upsample::Bilinear), m);
    }

    #[test]
    fn minmax_and_constant_maps() {
        let m = Map::new(1, 3, vec![2.0, 4.0, 3.0]).minmax();
        assert_eq!(m.data, vec![0.0, 1.0, 0.5]);
        let c = Map::filled(2, 2, 7.0).minmax();
        assert_eq!(c.data, vec![0.0; 4]);
        assert_eq!(Map::new(1, 2, vec![-1.0, 2.0]).relu().data, vec![0.0, 2.0]);
    }
}
