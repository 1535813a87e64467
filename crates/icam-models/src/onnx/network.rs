//! [`OnnxNetwork`]: an imported ONNX graph as a [`Network`] of the zoo.

use std::collections::HashSet;
use std::sync::Mutex;

use burn::tensor::{Device, Tensor};

use super::layers::{LayerSet, layer_set};
use super::program::Program;
use crate::error::{ModelError, Result};
use crate::host::Precision;
use crate::tap::{CandidateRule, LayerInfo, Network, Tapper, check_rgb_batch};

/// An ONNX classifier evaluated with burn ops.
#[derive(Debug)]
pub struct OnnxNetwork {
    arch: String,
    program: Program,
    layers: LayerSet,
    num_classes: usize,
    device: Device,
    precision: Precision,
    /// Input shapes already checked by shape inference.
    checked: Mutex<HashSet<Vec<usize>>>,
}

impl OnnxNetwork {
    pub fn new(
        arch: String,
        mut program: Program,
        device: Device,
        precision: Precision,
    ) -> Result<Self> {
        let layers = layer_set(&program).map_err(ModelError::Arch)?;
        for l in &layers.layers {
            program.instrs[l.slot - 1].tap = Some(l.name.clone());
        }
        let num_classes = program.metas[program.output].shape()[1];
        let checked = Mutex::new(HashSet::from([program.probe.clone()]));
        Ok(Self {
            arch,
            program,
            layers,
            num_classes,
            device,
            precision,
            checked,
        })
    }

    /// The input shape shapes were inferred for at load.
    pub fn probe_shape(&self) -> &[usize] {
        &self.program.probe
    }

    /// The graph's input dimensions (`None` = dynamic).
    pub fn input_dims(&self) -> &[Option<usize>] {
        &self.program.graph.input.dims
    }
}

impl Network for OnnxNetwork {
    fn arch(&self) -> &str {
        &self.arch
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn layer_names(&self) -> Vec<String> {
        self.layers.layers.iter().map(|l| l.name.clone()).collect()
    }

    fn aliases(&self) -> Vec<(String, String)> {
        self.layers.aliases.clone()
    }

    fn candidate_layers(&self) -> Vec<String> {
        self.layers.candidates.clone()
    }

    fn candidates(&self, rule: CandidateRule) -> Vec<String> {
        match rule {
            CandidateRule::BlockOutputs => self.layers.candidates.clone(),
            CandidateRule::BlockActivations => self.layers.activation_candidates.clone(),
        }
    }

    fn baseline_layer(&self) -> String {
        self.layers.baseline.clone()
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn layer_info(&self) -> Vec<LayerInfo> {
        self.layers
            .layers
            .iter()
            .map(|l| LayerInfo {
                name: l.name.clone(),
                op: l.op.clone(),
                shape: Some(l.shape.to_vec()),
            })
            .collect()
    }

    fn validate_input(&self, shape: &[usize]) -> Result<()> {
        check_rgb_batch(self, shape)?;
        let dims = &self.program.graph.input.dims;
        for (i, (d, s)) in dims.iter().zip(shape).enumerate().skip(1) {
            if let Some(d) = d
                && d != s
            {
                let what = ["batch", "channels", "height", "width"][i];
                return Err(ModelError::Input(format!(
                    "the model takes inputs of {what} {d} (its input `{}` is {}), got {shape:?}; resize the image to the model's size",
                    self.program.graph.input.name,
                    dims.iter()
                        .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
                        .collect::<Vec<_>>()
                        .join("×")
                )));
            }
        }
        if self
            .checked
            .lock()
            .map(|c| c.contains(shape))
            .unwrap_or(false)
        {
            return Ok(());
        }
        self.program.infer(shape).map_err(|e| {
            ModelError::Input(format!(
                "input of shape {shape:?} does not fit the model: {e}"
            ))
        })?;
        if let Ok(mut c) = self.checked.lock() {
            c.insert(shape.to_vec());
        }
        Ok(())
    }

    fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<2> {
        self.program.run(x, tapper)
    }
}
