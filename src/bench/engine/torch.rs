//! [`BenchHooks`] for the libtorch backend: waiting for the CUDA stream, and the `--train-step` workload
//! (forward + backward of the sequence model, [`TchBackend::forward_backward`]).
use tch::{Device, Tensor};

use super::{BenchHooks, Workload};
use crate::backend::tch::TchBackend;
use crate::backend::SeqFeatures;
use crate::{Error, Result};

impl BenchHooks for TchBackend {
    /// CUDA kernels run asynchronously, so a timed iteration must wait for them. CPU work is done when
    /// the call returns; MPS has no synchronise call in tch, but every workload reads a result back to
    /// the host, which waits for the device.
    fn sync(&self) -> Result<()> {
        if let Device::Cuda(index) = self.device() {
            tch::Cuda::synchronize(index as i64);
        }
        Ok(())
    }

    fn train_workload<'a>(
        &'a self,
        feats: &SeqFeatures,
    ) -> std::result::Result<Box<dyn Workload + 'a>, String> {
        // The batch is uploaded once: a training step is timed as forward + backward, not as the data
        // pipeline that feeds it.
        let (erb, spec) = self.seq_tensors(feats).map_err(|e| e.to_string())?;
        Ok(Box::new(TrainStep {
            backend: self,
            erb,
            spec,
        }))
    }
}

/// Forward + backward over one uploaded batch.
struct TrainStep<'a> {
    backend: &'a TchBackend,
    erb: Tensor,
    spec: Tensor,
}

impl Workload for TrainStep<'_> {
    fn run(&mut self) -> Result<()> {
        let loss = self.backend.forward_backward(&self.erb, &self.spec);
        // Reading the loss back, as a trainer does to log it, also waits for the device on every backend.
        let value = f64::try_from(&loss).map_err(|e| Error::Backend(e.to_string()))?;
        if value.is_finite() {
            Ok(())
        } else {
            Err(Error::Backend(format!("training loss is {value}")))
        }
    }
}
