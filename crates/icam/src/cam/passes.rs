//! Forward-only network passes for the gradient-free methods ([`Passes`]): batched on the
//! plain device (no autodiff graph), with progress, shared between the target classes of one
//! layer.

use std::collections::HashMap;

use icam_models::{HostTensor, ModelError, Network, logits_from, logits_replacing};

use super::target::ClassTarget;
use crate::error::{IcamError, Result};
use crate::explain::to_precision;
use crate::methods::Passes;

/// Progress of the forward-only passes of Score-CAM and Ablation-CAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CamProgress {
    /// The layer the passes are for, as the request names it (as in the report).
    pub layer: String,
    /// Passes done and in all (network evaluations of one sample).
    pub done: usize,
    pub total: usize,
    /// Samples per batch of these passes (`--batch-size`, or chosen from the memory).
    pub batch: usize,
}

/// Logits of the passes already run, per (layer, kind): the inputs a method makes depend only
/// on the layer's activations, so every target class reads the same passes.
pub(crate) type PassCache = HashMap<(usize, u8), Vec<Vec<f64>>>;

/// The [`Passes`] of one layer of one image for one target.
pub(crate) struct NetPasses<'a> {
    pub net: &'a dyn Network,
    /// `[1, 3, H, W]`, the explained model input.
    pub input: &'a HostTensor,
    pub input_f64: &'a [f64],
    pub hw: (usize, usize),
    /// Index of the layer in the request, its name there (for progress) and its canonical
    /// name (for the network).
    pub layer_index: usize,
    pub layer_name: &'a str,
    pub layer: &'a str,
    /// The layer's activation `(K, h, w)` and its shape.
    pub acts: &'a [f64],
    pub act_shape: [usize; 3],
    /// Logits of the explained input.
    pub logits: &'a [f64],
    pub target: &'a ClassTarget,
    /// Samples per batch; `None`: from the available memory ([`default_batch`]).
    pub batch: Option<usize>,
    pub cache: &'a mut PassCache,
    pub progress: &'a mut dyn FnMut(CamProgress),
}

const INPUT_PASSES: u8 = 0;
const LAYER_PASSES: u8 = 1;

impl NetPasses<'_> {
    fn run(
        &mut self,
        kind: u8,
        count: usize,
        per_sample: usize,
        allowance: usize,
        fill: &(dyn Fn(usize, &mut [f64]) + Sync),
        forward: &dyn Fn(&HostTensor, usize) -> Result<HostTensor>,
    ) -> Result<Vec<f64>> {
        let key = (self.layer_index, kind);
        if self.cache.get(&key).is_none_or(|v| v.len() != count) {
            let batch = self
                .batch
                .unwrap_or_else(|| default_batch(per_sample * allowance))
                .max(1);
            let prec = self.net.precision();
            let mut rows = Vec::with_capacity(count);
            let mut start = 0;
            let at = self.progress_at(0, count, batch);
            (self.progress)(at);
            while start < count {
                let n = batch.min(count - start);
                let mut buf = vec![0.0; n * per_sample];
                for (j, chunk) in buf.chunks_mut(per_sample).enumerate() {
                    fill(start + j, chunk);
                }
                let shape = self.shape(kind, n);
                let logits = forward(&to_precision(shape, buf, prec), n)?;
                for b in 0..n {
                    rows.push(logits.sample_f64(b));
                }
                start += n;
                let at = self.progress_at(start, count, batch);
                (self.progress)(at);
            }
            self.cache.insert(key, rows);
        }
        Ok(self.cache[&key]
            .iter()
            .map(|l| self.target.value(l))
            .collect())
    }

    fn shape(&self, kind: u8, n: usize) -> Vec<usize> {
        if kind == INPUT_PASSES {
            vec![n, 3, self.hw.0, self.hw.1]
        } else {
            let [k, h, w] = self.act_shape;
            vec![n, k, h, w]
        }
    }

    fn progress_at(&self, done: usize, total: usize, batch: usize) -> CamProgress {
        CamProgress {
            layer: self.layer_name.to_string(),
            done,
            total,
            batch,
        }
    }
}

impl Passes for NetPasses<'_> {
    fn input(&self) -> (&[f64], usize, usize) {
        (self.input_f64, self.hw.0, self.hw.1)
    }

    fn score(&mut self) -> Result<f64> {
        Ok(self.target.value(self.logits))
    }

    fn input_scores(
        &mut self,
        count: usize,
        make: &(dyn Fn(usize, &mut [f64]) + Sync),
    ) -> Result<Vec<f64>> {
        let x = self.input_f64;
        let fill = |i: usize, buf: &mut [f64]| {
            buf.copy_from_slice(x);
            make(i, buf);
        };
        let net = self.net;
        let forward = |t: &HostTensor, _: usize| Ok(icam_models::logits(net, t)?);
        // A forward pass holds several activations larger than the input: 64 float32
        // inputs' worth per sample.
        self.run(INPUT_PASSES, count, x.len(), 64 * 4, &fill, &forward)
    }

    fn layer_scores(
        &mut self,
        count: usize,
        edit: &(dyn Fn(usize, &mut [f64]) + Sync),
    ) -> Result<Vec<f64>> {
        let a = self.acts;
        let fill = |i: usize, buf: &mut [f64]| {
            buf.copy_from_slice(a);
            edit(i, buf);
        };
        let (net, layer, input) = (self.net, self.layer, self.input);
        // From the layer on where the network can (the part after the edited layer is all
        // that changes); otherwise the whole network with the layer's output replaced.
        let forward = |t: &HostTensor, n: usize| match logits_from(net, layer, t) {
            Err(ModelError::Unsupported(_)) => {
                let x = input.to_f64();
                let mut rep = Vec::with_capacity(n * x.len());
                for _ in 0..n {
                    rep.extend_from_slice(&x);
                }
                let mut shape = input.shape.clone();
                shape[0] = n;
                let batch = to_precision(shape, rep, net.precision());
                Ok(logits_replacing(net, &batch, layer, t)?)
            }
            r => Ok(r?),
        };
        self.run(LAYER_PASSES, count, a.len(), 16 * 4, &fill, &forward)
    }
}

/// `--batch-size`, checked: at least 1 when given.
pub fn check_batch_size(batch: Option<usize>) -> Result<()> {
    if batch == Some(0) {
        return Err(IcamError::Config("--batch-size must be at least 1".into()));
    }
    Ok(())
}

/// Samples per batch when none is given: a quarter of the available memory
/// (`/proc/meminfo` `MemAvailable`, 2 GiB when unknown) over `per_sample_bytes`, within
/// 1…64. `per_sample_bytes` is a rough allowance for one sample's working set.
pub fn default_batch(per_sample_bytes: usize) -> usize {
    let avail = mem_available().unwrap_or(2 << 30);
    (avail / 4 / per_sample_bytes.max(1)).clamp(1, 64)
}

fn mem_available() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
