//! [`BenchHooks`] for the MLX backend: waiting for the device stream, and the `--train-step` workload
//! (forward + backward of the sequence model through MLX's autograd, [`MlxBackend::forward_backward`]).
use super::{BenchHooks, Workload};
use crate::backend::mlx::train::SeqArrays;
use crate::backend::mlx::MlxBackend;
use crate::backend::SeqFeatures;
use crate::Result;

impl BenchHooks for MlxBackend {
    /// Every MLX workload evaluates its outputs and reads them back, which already waits for the device;
    /// synchronising the stream as well makes that explicit for anything queued asynchronously.
    fn sync(&self) -> Result<()> {
        self.synchronize()
    }

    fn train_workload<'a>(
        &'a self,
        feats: &SeqFeatures,
    ) -> std::result::Result<Box<dyn Workload + 'a>, String> {
        // The batch is uploaded once: a training step is timed as forward + backward, not as the data
        // pipeline that feeds it.
        let x = self.seq_arrays(feats).map_err(|e| e.to_string())?;
        Ok(Box::new(TrainStep { backend: self, x }))
    }
}

/// Forward + backward over one uploaded batch.
struct TrainStep<'a> {
    backend: &'a MlxBackend,
    x: SeqArrays,
}

impl Workload for TrainStep<'_> {
    fn run(&mut self) -> Result<()> {
        // The loss is read back (as a trainer does to log it) and checked to be finite.
        self.backend.forward_backward(&self.x).map(|_| ())
    }
}
