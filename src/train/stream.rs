//! The trainer's batch producers: whole training batches mixed by several threads at once and handed
//! over in step order.
//!
//! One producer that mixed each batch on all cores (rayon) waited at the end of every batch for its
//! slowest example, and the cores waited while it uploaded the batch: at batch 32 on sixteen threads each
//! thread mixes two examples, whose costs differ several-fold (a room, hum, babble, a resampled voice),
//! so much of each batch's time had threads idle. Here each producer mixes whole batches on its own
//! thread ([`make_batch_serial`]), producer `p` of `n` taking steps `p, p + n, …`, and prepares them
//! (the trainer uploads them to the device); the consumer takes them from the producers in turn, so it
//! sees the steps in order and each batch is exactly [`super::mix::make_batch`]'s.
use std::ops::Range;
use std::sync::{mpsc, Arc};

use super::corpus::Corpus;
use super::mix::{make_batch_serial, HostBatch, MixConfig, Split};

/// Training batches of a range of steps, from producer threads.
pub struct BatchStream<T> {
    receivers: Vec<mpsc::Receiver<(u64, T)>>,
    next: usize,
}

impl<T: Send + 'static> BatchStream<T> {
    /// Starts `producers` threads (at least one) mixing the training batches of `steps` and passing
    /// each through `prepare`. Each producer holds one finished batch and mixes the next, so at most
    /// `2 · producers` batches are ahead of the consumer. The threads end when their steps are done or
    /// the stream is dropped.
    pub fn spawn<F>(
        corpus: Arc<Corpus>,
        mix: MixConfig,
        seed: u64,
        batch: usize,
        steps: Range<u64>,
        producers: usize,
        prepare: F,
    ) -> crate::Result<Self>
    where
        F: Fn(HostBatch) -> T + Send + Sync + 'static,
    {
        let producers = producers.max(1);
        let prepare = Arc::new(prepare);
        let mut receivers = Vec::with_capacity(producers);
        for p in 0..producers {
            let (tx, rx) = mpsc::sync_channel(1);
            let (corpus, mix, prepare) = (corpus.clone(), mix.clone(), prepare.clone());
            let mine = steps.clone().skip(p).step_by(producers);
            std::thread::Builder::new()
                .name(format!("dfn4-mix-{p}"))
                .spawn(move || {
                    for step in mine {
                        let hb = make_batch_serial(&corpus, Split::Train, &mix, seed, step, batch);
                        if tx.send((step, prepare(hb))).is_err() {
                            break;
                        }
                    }
                })?;
            receivers.push(rx);
        }
        Ok(Self { receivers, next: 0 })
    }
}

impl<T> BatchStream<T> {
    /// The next step and its batch; `None` once the steps are done or a producer has stopped (its
    /// thread panicked).
    pub fn recv(&mut self) -> Option<(u64, T)> {
        let rx = &self.receivers[self.next % self.receivers.len()];
        self.next += 1;
        rx.recv().ok()
    }
}

/// Producer threads for a machine: one per core but one, which the training thread keeps.
pub fn default_producers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::mix::{make_batch, tone_corpus};

    fn corpus() -> Arc<Corpus> {
        Arc::new(tone_corpus(1, 8_000.0))
    }

    #[test]
    fn batches_come_in_step_order_and_are_make_batch_s() {
        let corpus = corpus();
        let mix = MixConfig::new(0.5);
        for producers in [1, 3] {
            let mut stream =
                BatchStream::spawn(corpus.clone(), mix.clone(), 7, 3, 5..12, producers, |hb| hb)
                    .unwrap();
            for step in 5..12 {
                let (got, hb) = stream.recv().expect("a batch for every step");
                assert_eq!(got, step);
                let want = make_batch(&corpus, Split::Train, &mix, 7, step, 3);
                assert_eq!(
                    (hb.noisy, hb.clean, hb.erb),
                    (want.noisy, want.clean, want.erb)
                );
            }
            assert!(stream.recv().is_none(), "nothing after the last step");
        }
    }

    #[test]
    fn a_stream_dropped_early_lets_its_producers_go() {
        // Each producer holds `prepare`, and with it a handle on `alive`, until its thread ends.
        let alive = Arc::new(());
        let handle = alive.clone();
        let mut stream = BatchStream::spawn(
            corpus(),
            MixConfig::new(0.25),
            1,
            2,
            0..1_000_000,
            2,
            move |hb| {
                let _ = &handle;
                hb.batch
            },
        )
        .unwrap();
        assert_eq!(stream.recv(), Some((0, 2)));
        drop(stream);
        // Every producer ends at its next send instead of mixing a million batches.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while Arc::strong_count(&alive) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "producers still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
