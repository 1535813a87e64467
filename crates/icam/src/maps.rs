//! Two-dimensional float64 maps and the operations every method shares: bilinear/nearest
//! upsampling exactly as PyTorch's `F.interpolate` (A10), min-max normalisation (A11), ReLU;
//! and, for `--scaling grad-cam`, pytorch-grad-cam's resizes: OpenCV's `INTER_LINEAR` and
//! `UpsamplingBilinear2d` (`align_corners=True`), and its min-max with `1e-7`.

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

    /// OpenCV's `cv2.resize(m, (w, h))` with `INTER_LINEAR` on a float map (what
    /// pytorch-grad-cam's `scale_cam_image` does), up or down: per axis half-pixel centres
    /// `src = (dst + 0.5)·(in/out) − 0.5`, `i0 = ⌊src⌋`, `λ = src − i0`; `src < 0` takes the
    /// first pixel and `i0 ≥ in − 1` the last, with weight 1; no antialiasing. (OpenCV turns an
    /// exact 2× reduction into `INTER_AREA`, which equals this on 2×2 blocks.) The same size
    /// returns a copy. Written here because no Rust crate reproduces OpenCV's rule exactly.
    pub fn resize_opencv_linear(&self, h: usize, w: usize) -> Map {
        if (h, w) == (self.h, self.w) {
            return self.clone();
        }
        self.separable(&opencv_axis(self.h, h), &opencv_axis(self.w, w))
    }

    /// PyTorch's `UpsamplingBilinear2d(size)` (`align_corners=True`), Score-CAM's mask
    /// upsampling: `src = dst·(in − 1)/(out − 1)`.
    pub fn upsample_align_corners(&self, h: usize, w: usize) -> Map {
        self.separable(&corner_axis(self.h, h), &corner_axis(self.w, w))
    }

    fn separable(&self, ys: &[(usize, usize, f64)], xs: &[(usize, usize, f64)]) -> Map {
        let mut out = Vec::with_capacity(ys.len() * xs.len());
        for &(y0, y1, ly) in ys {
            let r0 = &self.data[y0 * self.w..(y0 + 1) * self.w];
            let r1 = &self.data[y1 * self.w..(y1 + 1) * self.w];
            for &(x0, x1, lx) in xs {
                let top = (1.0 - lx) * r0[x0] + lx * r0[x1];
                let bottom = (1.0 - lx) * r1[x0] + lx * r1[x1];
                out.push((1.0 - ly) * top + ly * bottom);
            }
        }
        Map::new(ys.len(), xs.len(), out)
    }

    /// pytorch-grad-cam's `scale_cam_image` normalisation: `(x − min)/(1e-7 + max − min)`.
    pub fn minmax_eps(mut self) -> Self {
        let mn = self.min();
        let range = self.max() - mn;
        for v in &mut self.data {
            *v = (*v - mn) / (1e-7 + range);
        }
        self
    }

    /// Mirror left-right.
    pub fn flip_horizontal(mut self) -> Self {
        for row in self.data.chunks_mut(self.w) {
            row.reverse();
        }
        self
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

/// OpenCV `INTER_LINEAR` source indices and weight along one axis (`resize.cpp`).
fn opencv_axis(input: usize, output: usize) -> Vec<(usize, usize, f64)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let i = f.floor();
            if i < 0.0 {
                (0, 0, 0.0)
            } else if i as usize >= input - 1 {
                (input - 1, input - 1, 0.0)
            } else {
                (i as usize, i as usize + 1, f - i)
            }
        })
        .collect()
}

/// `align_corners=True` source indices and weight along one axis.
fn corner_axis(input: usize, output: usize) -> Vec<(usize, usize, f64)> {
    let scale = if output > 1 {
        (input - 1) as f64 / (output - 1) as f64
    } else {
        0.0
    };
    (0..output)
        .map(|d| {
            let src = d as f64 * scale;
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
    fn opencv_and_align_corners_resizes_by_hand() {
        // cv2.resize(np.float32([[0, 1], [2, 3]]), (4, 4)) = rows [0, .25, .75, 1],
        // [.5, .75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3] (as PyTorch's).
        let m = Map::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            m.resize_opencv_linear(4, 4),
            m.upsample(4, 4, Upsample::Bilinear)
        );
        // Downscale 4 → 2 (an exact 2×: the mean of each pair), and 6 → 2 (src = 1, 4: the
        // middle pixel of each triple, no antialias).
        let row = Map::new(1, 6, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(row.resize_opencv_linear(1, 2).data, vec![1.0, 4.0]);
        let row4 = Map::new(1, 4, vec![0.0, 2.0, 4.0, 8.0]);
        assert_eq!(row4.resize_opencv_linear(1, 2).data, vec![1.0, 6.0]);
        // align_corners: 2 → 3 gives the corners and their mean; 2 → 5 quarter steps.
        let c = Map::new(1, 2, vec![1.0, 3.0]).upsample_align_corners(1, 5);
        assert_eq!(c.data, vec![1.0, 1.5, 2.0, 2.5, 3.0]);
        let e = Map::new(1, 3, vec![2.0, 4.0, 3.0]).minmax_eps();
        assert!((e.data[1] - 2.0 / (2.0 + 1e-7)).abs() < 1e-15 && e.data[0] == 0.0);
        assert_eq!(
            Map::new(1, 3, vec![1.0, 2.0, 3.0]).flip_horizontal().data,
            vec![3.0, 2.0, 1.0]
        );
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
