//! The training loop: model + optimiser + losses ([`Trainer`]), batch prefetching by producer threads
//! ([`super::stream`]), logging, validation, checkpoints at a step interval and at the wall-clock
//! deadline, and the export.
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use tch::{nn, Device, Tensor};

use super::checkpoint::{self, TrainState};
use super::corpus::Corpus;
use super::ema::Ema;
use super::loss::{si_sdr_db, LossFn};
use super::mix::{make_examples, HostBatch, MixConfig, Split};
use super::optim::{lr_at, AdamW};
use super::stream::BatchStream;
use super::{train_bail, TrainConfig, TrainContext};
use crate::backend::tch::fused_scan::{self, set_training_scan, TrainingScan};
use crate::backend::tch::net::DfNet4;
use crate::backend::tch::{parse_device, register_cuda};
use crate::config::{ModelConfig, NB_DF, NB_ERB, SAMPLE_RATE_HZ};
use crate::dsp::erb::erb_widths;
use crate::model::Weights;

/// A batch from a producer thread: uploaded already, or still in host memory.
pub(super) enum Prepared {
    Device(DeviceBatch),
    Host(HostBatch),
}

impl Prepared {
    /// Examples in the batch.
    pub(super) fn batch(&self) -> usize {
        match self {
            Prepared::Device(db) => db.batch,
            Prepared::Host(hb) => hb.batch,
        }
    }
}

/// Starts the producers ([`BatchStream`]): the training batches of `steps`, mixed by `producers`
/// threads, each batch (with [`Upload::Producer`]) uploaded to `device` by the thread that mixed it.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn_producer(
    corpus: Arc<Corpus>,
    mix: MixConfig,
    seed: u64,
    batch: usize,
    steps: std::ops::Range<u64>,
    upload: Upload,
    device: Device,
    producers: usize,
) -> crate::Result<BatchStream<Prepared>> {
    BatchStream::spawn(
        corpus,
        mix,
        seed,
        batch,
        steps,
        producers,
        move |hb| match upload {
            Upload::Producer => Prepared::Device(DeviceBatch::upload(&hb, device)),
            Upload::Main => Prepared::Host(hb),
        },
    )
}

/// Salt of the dev set's seed, so dev mixtures never coincide with training ones.
const DEV_SALT: u64 = 0x0def_5e70_0000_0001;

/// Loss values and gradient norm of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    /// Weighted total loss.
    pub total: f64,
    /// Compressed magnitude term.
    pub mag: f64,
    /// Compressed complex term.
    pub cplx: f64,
    /// Multi-resolution STFT term.
    pub mrstft: f64,
    /// LSNR term (dB²).
    pub lsnr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
}

/// DfNet4 with its optimiser and loss on one device.
pub struct Trainer {
    device: Device,
    cfg: ModelConfig,
    _vs: nn::VarStore,
    net: DfNet4,
    vars: BTreeMap<String, Tensor>,
    opt: AdamW,
    loss: LossFn,
}

/// A batch on the device: the features and both waveforms, ready for a step. The producer thread that
/// mixed it uploads it ([`Upload::Producer`]), so the training thread only queues GPU work: on CUDA the
/// host copies go through pinned memory and the transfer is queued without waiting for it.
pub struct DeviceBatch {
    /// Examples.
    pub batch: usize,
    erb: Tensor,
    cplx: Tensor,
    noisy_wave: Tensor,
    clean_wave: Tensor,
    /// `[B]` each example's speech band in Hz (for the loss mask).
    band_hz: Tensor,
}

impl DeviceBatch {
    /// Copies `hb` to `device` (pinned, asynchronous on CUDA).
    pub fn upload(hb: &HostBatch, device: Device) -> Self {
        let (b, t) = (hb.batch as i64, hb.frames as i64);
        let put = |v: &[f32], shape: &[i64]| {
            let host = Tensor::from_slice(v).reshape(shape);
            if device.is_cuda() {
                // Pinned host memory lets the copy run as DMA, queued behind the work already on the
                // stream; the caching host allocator keeps the block alive until it has completed.
                host.pin_memory(device)
                    .to_device_(device, tch::Kind::Float, true, false)
            } else {
                host.to_device(device)
            }
        };
        Self {
            batch: hb.batch,
            erb: put(&hb.erb, &[b, t, NB_ERB as i64]),
            cplx: put(&hb.cplx, &[b, t, 2, NB_DF as i64]),
            noisy_wave: put(&hb.noisy, &[b, hb.samples as i64]),
            clean_wave: put(&hb.clean, &[b, hb.samples as i64]),
            band_hz: put(&hb.band_hz, &[b]),
        }
    }
}

/// Where a batch is copied to the device: on the producer thread that mixed it (default: the copy
/// overlaps the training thread's work) or on the training thread before its step (the earlier
/// behaviour, for comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// Each producer thread uploads the batches it mixes.
    Producer,
    /// The training thread uploads each batch at the start of its step.
    Main,
}

impl Upload {
    /// `"producer"` or `"main"`.
    pub fn parse(name: &str) -> crate::Result<Self> {
        match name {
            "producer" => Ok(Self::Producer),
            "main" => Ok(Self::Main),
            other => Err(crate::Error::Config(format!(
                "unknown --upload {other:?} (producer or main)"
            ))),
        }
    }
}

impl Trainer {
    /// Weight of the LSNR head's term in the loss (default 0.01: about 3 % of the total at the shipped
    /// model's losses). A larger weight trains the head that libDF's gates would read.
    pub fn set_lsnr_weight(&mut self, weight: f64) {
        self.loss.w_lsnr = weight;
    }

    /// Leave each example's spectrum above its speech band out of the spectral losses
    /// ([`LossFn::mask_above_band`]).
    pub fn set_mask_above_band(&mut self, on: bool) {
        self.loss.mask_above_band = on;
    }

    /// Fresh model (seeded PyTorch-like initialisation) on `device`.
    pub fn new(
        cfg: &ModelConfig,
        seed: u64,
        device: Device,
        weight_decay: f64,
    ) -> crate::Result<Self> {
        let vs = nn::VarStore::new(device);
        let net = DfNet4::new(&vs.root(), &Weights::random(cfg, seed))?;
        let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
        let opt = AdamW::new(&vars, weight_decay);
        let loss = LossFn::new(
            &erb_widths(),
            cfg.nb_df,
            cfg.df_order,
            cfg.df_lookahead,
            device,
        );
        Ok(Self {
            device,
            cfg: cfg.clone(),
            _vs: vs,
            net,
            vars,
            opt,
            loss,
        })
    }

    /// One step on a batch from a producer thread, uploading it first if it is still on the host.
    pub(super) fn train_step_prepared(
        &mut self,
        p: &Prepared,
        lr: f64,
        clip_norm: f64,
    ) -> StepStats {
        match p {
            Prepared::Device(db) => self.train_step_device(db, lr, clip_norm),
            Prepared::Host(hb) => self.train_step(hb, lr, clip_norm),
        }
    }

    /// One optimiser step on `hb` (uploaded first).
    pub fn train_step(&mut self, hb: &HostBatch, lr: f64, clip_norm: f64) -> StepStats {
        self.train_step_marked(hb, lr, clip_norm, &mut |_| {})
    }

    /// [`train_step`](Self::train_step), calling `mark(phase)` after each phase has been queued:
    /// "to_device" (the upload), then the phases of [`Self::train_step_device_marked`] (a profiler
    /// synchronises the device there).
    pub fn train_step_marked(
        &mut self,
        hb: &HostBatch,
        lr: f64,
        clip_norm: f64,
        mark: &mut dyn FnMut(&'static str),
    ) -> StepStats {
        let db = DeviceBatch::upload(hb, self.device);
        mark("to_device");
        self.train_step_device_marked(&db, lr, clip_norm, mark)
    }

    /// One optimiser step on a batch already on the device.
    pub fn train_step_device(&mut self, db: &DeviceBatch, lr: f64, clip_norm: f64) -> StepStats {
        self.train_step_device_marked(db, lr, clip_norm, &mut |_| {})
    }

    /// [`train_step_device`](Self::train_step_device) with marks: "spectra" (both STFTs on the
    /// device), the forward's phases ([`DfNet4::forward_seq_marked`]), "loss", "backward", "optimizer".
    pub fn train_step_device_marked(
        &mut self,
        db: &DeviceBatch,
        lr: f64,
        clip_norm: f64,
        mark: &mut dyn FnMut(&'static str),
    ) -> StepStats {
        let noisy = self.loss.stft(&db.noisy_wave);
        let clean = self.loss.stft(&db.clean_wave);
        self.opt.zero_grad();
        mark("spectra");
        let out = self.net.forward_seq_marked(&db.erb, &db.cplx, mark);
        let (l, _) = self.loss.compute(&out, &noisy, &clean, &db.band_hz);
        mark("loss");
        l.total.backward();
        mark("backward");
        let grad_norm = self.opt.step(lr, clip_norm);
        mark("optimizer");
        let v = Tensor::stack(&[&l.total, &l.mag, &l.cplx, &l.mrstft, &l.lsnr], 0)
            .to_device(Device::Cpu);
        let g = |i: i64| v.double_value(&[i]);
        StepStats {
            total: g(0),
            mag: g(1),
            cplx: g(2),
            mrstft: g(3),
            lsnr: g(4),
            grad_norm,
        }
    }

    /// Mean losses and SI-SDR (enhanced, noisy, improvement) over the dev batches.
    pub fn validate(&self, dev: &[HostBatch]) -> BTreeMap<String, f64> {
        let mut acc: BTreeMap<String, f64> = BTreeMap::new();
        let mut n_ex = 0.0;
        tch::no_grad(|| {
            for hb in dev {
                let db = DeviceBatch::upload(hb, self.device);
                let (noisy, clean) = (
                    self.loss.stft(&db.noisy_wave),
                    self.loss.stft(&db.clean_wave),
                );
                let out = self.net.forward_seq(&db.erb, &db.cplx);
                let (l, enh) = self.loss.compute(&out, &noisy, &clean, &db.band_hz);
                let n = enh.size()[1];
                let y = self.loss.istft(&enh);
                let s = self.loss.istft(&clean.narrow(1, 0, n));
                let x = self.loss.istft(&noisy.narrow(1, 0, n));
                let sdr_y = si_sdr_db(&y, &s);
                let sdr_x = si_sdr_db(&x, &s);
                let b = hb.batch as f64;
                for (k, t) in [
                    ("loss", &l.total),
                    ("mag", &l.mag),
                    ("cplx", &l.cplx),
                    ("mrstft", &l.mrstft),
                    ("lsnr", &l.lsnr),
                ] {
                    *acc.entry(k.into()).or_default() += t.double_value(&[]) * b;
                }
                let sy = sdr_y.sum(tch::Kind::Double).double_value(&[]);
                let sx = sdr_x.sum(tch::Kind::Double).double_value(&[]);
                *acc.entry("si_sdr_enh_db".into()).or_default() += sy;
                *acc.entry("si_sdr_noisy_db".into()).or_default() += sx;
                *acc.entry("si_sdr_impr_db".into()).or_default() += sy - sx;
                n_ex += b;
            }
        });
        acc.values_mut().for_each(|v| *v /= n_ex.max(1.0));
        acc
    }

    /// The device the model is on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Parameters by name.
    pub fn vars(&self) -> &BTreeMap<String, Tensor> {
        &self.vars
    }

    /// The network's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
}

fn git_rev(args: &TrainConfig) -> String {
    args.git_rev.clone().unwrap_or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    })
}

fn provenance(
    args: &TrainConfig,
    mix: &MixConfig,
    corpus: &Corpus,
    state: &TrainState,
    device: Device,
) -> serde_json::Value {
    let h = corpus.hours();
    let sources: Vec<_> = corpus
        .sources()
        .into_iter()
        .map(|(s, n)| serde_json::json!({"source": s, "clips": n}))
        .collect();
    serde_json::json!({
        "data": {
            "corpus": args.corpus.display().to_string(),
            "sources": sources,
            "hours": {"speech_train": h[0], "speech_dev": h[1], "noise_train": h[2], "noise_dev": h[3], "music_train": h[4]},
            "rooms": corpus.rir_train.len(),
            "mixing": mix.describe(),
            "note": "targets are band-limited where the speech is (each clip's measured bandwidth, else half its rate)",
        },
        "training": {
            "steps": state.step, "batch_size": args.batch, "segment_seconds": args.seconds,
            "lr": args.lr, "warmup": args.warmup, "schedule_steps": args.steps,
            "schedule_start": args.schedule_start, "snr_db": [mix.snr_db.0, mix.snr_db.1], "scan": fused_scan::training_scan().name(),
            "min_lr_ratio": args.min_lr_ratio, "weight_decay": args.weight_decay,
            "clip_norm": args.clip_norm, "seed": state.seed, "device": format!("{device:?}"),
            "train_seconds": state.train_seconds, "examples_seen": state.examples_seen,
            "optimizer": "AdamW(0.9, 0.999, 1e-8)", "lsnr_weight": args.lsnr_weight,
            // When set, the exported weights are this moving average of the parameters, not the raw ones.
            "ema_decay": args.ema_decay,
            "loss_masked_above_band": args.mask_loss_above_band,
        },
        "losses": state.last_train,
        "validation": state.last_val,
        "best_validation_si_sdr_impr_db": state.best_val_si_sdr_impr_db,
        "dev_pairs": args.dev_pairs.as_ref().map(|d| serde_json::json!({
            "dir": d.display().to_string(),
            "latest": state.last_dev_pairs,
            "best_si_sdr_impr_db": state.best_dev_pairs_si_sdr_impr_db,
        })),
        "git_revision": git_rev(args),
    })
}

/// The whole `dfn4 train` run.
pub(super) fn run(args: TrainConfig) -> crate::Result<()> {
    let t_start = Instant::now();
    let cuda = register_cuda();
    let device = parse_device(&args.device)?;
    if let Some(n) = args.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    println!(
        "device {device:?} (libtorch_cuda loaded: {cuda}, cuda available: {})",
        tch::Cuda::is_available()
    );
    set_training_scan(choose_scan(&args.scan, device)?);
    let corpus = Arc::new(Corpus::load(&args.corpus)?);
    let h = corpus.hours();
    println!(
        "corpus {}: speech {:.2} h train / {:.2} h dev ({} / {} files), noise {:.2} h train / {:.2} h dev, music {:.2} h, {} rooms, loaded in {:.1} s",
        args.corpus.display(), h[0], h[1], corpus.speech_train.len(), corpus.speech_dev.len(), h[2], h[3], h[4],
        corpus.rir_train.len(),
        t_start.elapsed().as_secs_f64()
    );

    let cfg = ModelConfig::default();
    let mut trainer = Trainer::new(&cfg, args.seed, device, args.weight_decay)?;
    trainer.set_lsnr_weight(args.lsnr_weight);
    trainer.set_mask_above_band(args.mask_loss_above_band);
    if !args.bench_batches.is_empty() {
        return super::bench::run(&args, &corpus, &mut trainer);
    }
    let resume = args.resume.clone().or_else(|| {
        let p = args.ckpt_dir.join("latest");
        (args.auto_resume && p.join("state.json").exists()).then_some(p)
    });
    let mut state = match &resume {
        Some(dir) => {
            let s = checkpoint::load(dir, &trainer.vars, &mut trainer.opt)?;
            println!("resumed from {} at step {}", dir.display(), s.step);
            s
        }
        None => TrainState {
            seed: args.seed,
            model: Some(cfg.clone()),
            ..Default::default()
        },
    };
    let mut ema = args.ema_decay.map(|d| Ema::new(&trainer.vars, d));
    if let Some(e) = &ema {
        println!(
            "validating and exporting the weights' moving average (decay {} per step, started at step {})",
            e.decay(),
            state.step
        );
    }
    let seed = state.seed;
    // The dev mixtures keep the default recipe, so that validation compares across runs and recipes.
    let dev_mix = MixConfig::new(args.seconds);
    let mut mix = dev_mix.clone();
    mix.snr_db.1 = args.snr_max_db;
    mix.clean_prob = args.clean_prob;
    mix.music_prob = args.music_prob;
    mix.reverb_prob = args.reverb_prob;
    mix.speech_source_exponent = args.speech_source_exponent;
    mix.bursty_noise_prob = args.bursty_noise_prob;
    mix.speed_perturb_prob = args.speed_perturb_prob;
    mix.speed_perturb_max = args.speed_perturb_max;
    // Examples 0..dev_examples of step 0, cut into training-sized batches: the same mixtures at every
    // batch size (before 2026-12-06 batch i was step i, so a batch of 32 drew a different second half).
    let dev_batch = args.batch.max(1);
    let dev: Vec<HostBatch> = (0..args.dev_examples.div_ceil(dev_batch))
        .map(|i| {
            let first = (i * dev_batch) as u64;
            let end = args.dev_examples.min((i + 1) * dev_batch) as u64;
            make_examples(
                &corpus,
                Split::Dev,
                &dev_mix,
                seed ^ DEV_SALT,
                0,
                first..end,
            )
        })
        .collect();
    let dev_pairs = match &args.dev_pairs {
        Some(dir) => {
            let t0 = Instant::now();
            let b = super::dev_pairs::load(dir, dev_batch)?;
            println!(
                "dev pairs {}: {} pairs of {:.2} s, loaded in {:.1} s",
                dir.display(),
                b.iter().map(|b| b.batch).sum::<usize>(),
                b.first()
                    .map_or(0.0, |b| b.samples as f64 / SAMPLE_RATE_HZ as f64),
                t0.elapsed().as_secs_f64()
            );
            b
        }
        None => Vec::new(),
    };

    // Producer threads: batches for the coming steps, each mixed by one of them and (by default)
    // uploaded to the device by it, so that mixing and copies overlap the training thread's work.
    let upload = Upload::parse(&args.upload)?;
    let producers = args.producers();
    println!(
        "data: {producers} producer threads, each mixing whole batches of {}",
        args.batch
    );
    let mut rx = spawn_producer(
        corpus.clone(),
        mix.clone(),
        seed,
        args.batch,
        state.step..args.steps,
        upload,
        device,
        producers,
    )?;

    std::fs::create_dir_all(&args.ckpt_dir)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.ckpt_dir.join("train_log.jsonl"))?;
    let limit_s = args.max_minutes * 60.0;
    let mut window: Vec<StepStats> = Vec::new();
    let (mut win_time, mut win_wait) = (0.0f64, 0.0f64);
    let mut step_s_avg = 0.0f64;
    // Validation and the best-so-far export, on the weights the run exports (the average with
    // --ema-decay): every `val_every` steps and once at the end.
    let evaluate = |trainer: &Trainer,
                    ema: &mut Option<Ema>,
                    state: &mut TrainState,
                    log: &mut std::fs::File|
     -> crate::Result<()> {
        on_averaged(ema, || {
            validate(trainer, &dev, &dev_pairs, state, log)?;
            export_if_best(&args, trainer, &mix, &corpus, state, device)
        })
    };
    let run_start = Instant::now();
    let mut last_ckpt = state.step;
    let first_step = state.step;
    while state.step < args.steps {
        if args.run_steps > 0 && state.step - first_step >= args.run_steps {
            println!(
                "--run-steps {} reached at step {}",
                args.run_steps, state.step
            );
            break;
        }
        // Leave room for one more step, the checkpoint and the export before the deadline.
        if limit_s > 0.0 && t_start.elapsed().as_secs_f64() + 2.0 * step_s_avg + 20.0 > limit_s {
            println!("wall-clock limit reached at step {}", state.step);
            break;
        }
        let t0 = Instant::now();
        let (step, prepared) = rx.recv().ctx(|| "the data threads stopped".into())?;
        debug_assert_eq!(step, state.step);
        let wait = t0.elapsed().as_secs_f64();
        let start = args.schedule_start.min(args.steps);
        let lr = lr_at(
            state.step.saturating_sub(start),
            args.lr,
            args.warmup,
            args.steps - start,
            args.min_lr_ratio,
        );
        let clip = if args.clip_norm > 0.0 {
            args.clip_norm
        } else {
            state.grad_norm_ema.map_or(f64::INFINITY, |m| 2.0 * m)
        };
        let examples = prepared.batch();
        let st = trainer.train_step_prepared(&prepared, lr, clip);
        if let Some(e) = ema.as_mut() {
            e.update();
        }
        if st.grad_norm.is_finite() {
            let g = st.grad_norm.min(clip);
            state.grad_norm_ema = Some(state.grad_norm_ema.map_or(g, |m| 0.98 * m + 0.02 * g));
        }
        if !st.total.is_finite() {
            train_bail!("loss is {} at step {}", st.total, state.step);
        }
        let dt = t0.elapsed().as_secs_f64();
        step_s_avg = if step_s_avg == 0.0 {
            dt
        } else {
            0.9 * step_s_avg + 0.1 * dt
        };
        state.step += 1;
        state.examples_seen += examples as u64;
        state.train_seconds += dt;
        window.push(st);
        win_time += dt;
        win_wait += wait;
        if state.step % args.log_every == 0 || state.step == args.steps {
            let n = window.len() as f64;
            let mean = |f: fn(&StepStats) -> f64| window.iter().map(f).sum::<f64>() / n;
            let m = [
                mean(|s| s.total),
                mean(|s| s.mag),
                mean(|s| s.cplx),
                mean(|s| s.mrstft),
                mean(|s| s.lsnr),
                mean(|s| s.grad_norm),
            ];
            let ms = 1e3 * win_time / n;
            println!(
                "step {}/{} loss {:.4} (mag {:.3e} cplx {:.3e} mrstft {:.3e} lsnr {:.2}) gnorm {:.3} lr {:.2e} | {:.1} ms/step (data wait {:.1} ms) {:.1} samples/s",
                state.step, args.steps, m[0], m[1], m[2], m[3], m[4], m[5], lr, ms, 1e3 * win_wait / n,
                args.batch as f64 * n / win_time
            );
            state.last_train = ["loss", "mag", "cplx", "mrstft", "lsnr", "grad_norm"]
                .iter()
                .zip(m)
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let rec = serde_json::json!({"step": state.step, "train": state.last_train, "lr": lr, "ms_per_step": ms});
            writeln!(log, "{rec}")?;
            window.clear();
            win_time = 0.0;
            win_wait = 0.0;
        }
        if state.step % args.val_every == 0 {
            evaluate(&trainer, &mut ema, &mut state, &mut log)?;
        }
        if state.step % args.ckpt_every == 0 {
            let p = checkpoint::save(
                &args.ckpt_dir,
                &trainer.vars,
                &trainer.opt,
                &state,
                args.compact_ckpt,
            )?;
            println!("checkpoint {} (step {})", p.display(), state.step);
            last_ckpt = state.step;
        }
    }
    if state.last_val.is_empty() || state.step % args.val_every != 0 {
        evaluate(&trainer, &mut ema, &mut state, &mut log)?;
    }
    if last_ckpt != state.step || resume.is_none() {
        let p = checkpoint::save(
            &args.ckpt_dir,
            &trainer.vars,
            &trainer.opt,
            &state,
            args.compact_ckpt,
        )?;
        println!("checkpoint {} (step {})", p.display(), state.step);
    }
    let path = on_averaged(&mut ema, || {
        checkpoint::export(
            &args.export_dir,
            trainer.config(),
            &trainer.vars,
            provenance(&args, &mix, &corpus, &state, device),
        )
    })?;
    println!(
        "exported {} (step {}); this run: {:.1} s training, {:.1} s total",
        path.display(),
        state.step,
        run_start.elapsed().as_secs_f64(),
        t_start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `f` with the weights that are validated and exported in place: the moving average when the run
/// keeps one (the raw weights come back afterwards), else the raw weights.
fn on_averaged<R>(ema: &mut Option<Ema>, f: impl FnOnce() -> R) -> R {
    match ema {
        Some(e) => e.with_average(f),
        None => f(),
    }
}

/// Exports the model to `<ckpt-dir>/best` when the validation just run is the best of the whole run
/// (by SI-SDR improvement on the recorded dev pairs when given, else on the mixed dev examples), so that a
/// run keeps its best weights, not only its latest.
fn export_if_best(
    args: &TrainConfig,
    trainer: &Trainer,
    mix: &MixConfig,
    corpus: &Corpus,
    state: &TrainState,
    device: Device,
) -> crate::Result<()> {
    let best = if args.dev_pairs.is_some() {
        state.best_dev_pairs_si_sdr_impr_db
    } else {
        state.best_val_si_sdr_impr_db
    };
    if best.map(|(_, step)| step) != Some(state.step) {
        return Ok(());
    }
    let path = checkpoint::export(
        &args.ckpt_dir.join("best"),
        trainer.config(),
        &trainer.vars,
        provenance(args, mix, corpus, state, device),
    )?;
    println!("best so far: exported {}", path.display());
    Ok(())
}

fn validate(
    trainer: &Trainer,
    dev: &[HostBatch],
    dev_pairs: &[HostBatch],
    state: &mut TrainState,
    log: &mut std::fs::File,
) -> crate::Result<()> {
    let step = state.step;
    let (v, secs) = score(
        trainer,
        dev,
        "val",
        step,
        &mut state.best_val_si_sdr_impr_db,
        log,
    )?;
    println!(
        "validation at step {step}: loss {:.4} SI-SDR {:.2} dB (noisy {:.2} dB, improvement {:+.2} dB) [{secs:.1} s]",
        metric(&v, "loss"),
        metric(&v, "si_sdr_enh_db"),
        metric(&v, "si_sdr_noisy_db"),
        metric(&v, "si_sdr_impr_db"),
    );
    state.last_val = v;
    if !dev_pairs.is_empty() {
        let best = &mut state.best_dev_pairs_si_sdr_impr_db;
        let (p, secs) = score(trainer, dev_pairs, "dev_pairs", step, best, log)?;
        println!(
            "dev pairs at step {step}: SI-SDR {:.2} dB (noisy {:.2} dB, improvement {:+.2} dB), LSNR error {:.2} dB RMS [{secs:.1} s]",
            metric(&p, "si_sdr_enh_db"),
            metric(&p, "si_sdr_noisy_db"),
            metric(&p, "si_sdr_impr_db"),
            metric(&p, "lsnr").sqrt(),
        );
        state.last_dev_pairs = p;
    }
    Ok(())
}

/// Scores one dev set: [`Trainer::validate`], `best` raised to this step when its SI-SDR improvement is
/// the highest so far, and a `{"step", key: results}` line in the log. Returns the results and the
/// seconds the scoring took.
fn score(
    trainer: &Trainer,
    batches: &[HostBatch],
    key: &str,
    step: u64,
    best: &mut Option<(f64, u64)>,
    log: &mut std::fs::File,
) -> crate::Result<(BTreeMap<String, f64>, f64)> {
    let t0 = Instant::now();
    let v = trainer.validate(batches);
    let secs = t0.elapsed().as_secs_f64();
    let impr = metric(&v, "si_sdr_impr_db");
    if best.is_none_or(|(b, _)| impr > b) {
        *best = Some((impr, step));
    }
    writeln!(log, "{}", serde_json::json!({"step": step, key: v}))?;
    Ok((v, secs))
}

/// One value of [`Trainer::validate`]'s results (NaN when missing).
fn metric(v: &BTreeMap<String, f64>, name: &str) -> f64 {
    v.get(name).copied().unwrap_or(f64::NAN)
}

/// The scan asked for, or the tensor form when the fused one cannot load or does not match the tensor
/// form on this device (checked on seeded inputs, forward and gradients, before any training).
fn choose_scan(asked: &str, device: Device) -> crate::Result<TrainingScan> {
    let scan = TrainingScan::parse(asked)?;
    if scan == TrainingScan::Tensor {
        println!("scan: tensor (asked for)");
        return Ok(scan);
    }
    let checked = fused_scan::availability()
        .map_err(crate::Error::Backend)
        .and_then(|()| fused_scan::max_relative_error(device, tch::Kind::Float, 2, 37, 32, 7));
    match checked {
        Ok(err) if err < 1e-3 => {
            println!("scan: fused (max relative difference to the tensor form {err:.2e})");
            Ok(TrainingScan::Fused)
        }
        Ok(err) => {
            println!("scan: tensor; the fused scan differs from it by {err:.2e} here");
            Ok(TrainingScan::Tensor)
        }
        Err(e) => {
            println!("scan: tensor; the fused scan is unavailable: {e}");
            Ok(TrainingScan::Tensor)
        }
    }
}
