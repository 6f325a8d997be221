//! The fused selective scan (csrc/selective_scan.cpp) against the tensor form it replaces in training:
//! outputs and gradients of all five inputs on seeded random inputs, then a whole DfNet4 forward and
//! backward with each scan. On a machine with CUDA the same checks run on the GPU kernels too (they are
//! skipped elsewhere; the CPU loops carry the same arithmetic and run everywhere).
use dfn4::backend::tch::fused_scan::{self, set_training_scan, TrainingScan};
use dfn4::backend::tch::net::DfNet4;
use dfn4::config::ModelConfig;
use dfn4::model::Weights;
use tch::{nn, Device, Kind, Tensor};

fn loaded() -> bool {
    match fused_scan::availability() {
        Ok(()) => true,
        Err(e) => {
            // Only a build without the shim may skip: CI builds it (the tch job installs its headers).
            assert!(
                e.contains("this build has no fused selective scan"),
                "the fused scan was built but does not load: {e}"
            );
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn cuda() -> Option<Device> {
    tch::Cuda::is_available().then_some(Device::Cuda(0))
}

#[test]
fn fused_scan_equals_the_tensor_form_in_float64() {
    if !loaded() {
        return;
    }
    // Frame counts across the tensor form's chunking (1, one chunk, padded chunks); d not a multiple
    // of 16 (the CPU loops take any).
    for (i, (b, t, d)) in [(1, 1, 16), (2, 5, 24), (3, 37, 32), (2, 300, 48)]
        .into_iter()
        .enumerate()
    {
        let err = fused_scan::max_relative_error(Device::Cpu, Kind::Double, b, t, d, 10 + i as i64)
            .unwrap();
        assert!(err < 1e-11, "[{b}, {t}, {d}]: relative error {err:e}");
    }
}

#[test]
fn fused_scan_equals_the_tensor_form_in_float32() {
    if !loaded() {
        return;
    }
    let err = fused_scan::max_relative_error(Device::Cpu, Kind::Float, 4, 300, 64, 3).unwrap();
    assert!(err < 1e-4, "relative error {err:e}");
}

#[test]
fn fused_scan_equals_the_tensor_form_on_cuda() {
    let Some(dev) = cuda() else {
        eprintln!("skipped: no CUDA device");
        return;
    };
    assert!(loaded());
    for (i, (b, t, d)) in [(1, 1, 16), (3, 37, 32), (8, 300, 512)]
        .into_iter()
        .enumerate()
    {
        let err = fused_scan::max_relative_error(dev, Kind::Float, b, t, d, 20 + i as i64).unwrap();
        assert!(
            err < 1e-4,
            "[{b}, {t}, {d}] on CUDA: relative error {err:e}"
        );
    }
}

#[test]
fn bad_inputs_are_errors_not_crashes() {
    if !loaded() {
        return;
    }
    let x = Tensor::randn([2, 5, 8], (Kind::Float, Device::Cpu));
    let a = Tensor::randn([8, 4], (Kind::Float, Device::Cpu));
    let bc = Tensor::randn([2, 5, 4], (Kind::Float, Device::Cpu));
    let wrong = Tensor::randn([2, 6, 4], (Kind::Float, Device::Cpu));
    let e = fused_scan::selective_scan(&x, &x, &a, &wrong, &bc).unwrap_err();
    assert!(e.to_string().contains("B and C must be [B, T, N]"), "{e}");
    let ints = x.to_kind(Kind::Int);
    let e = fused_scan::selective_scan(&ints, &ints, &a, &bc, &bc).unwrap_err();
    assert!(e.to_string().contains("one dtype"), "{e}");
}

/// Gradients of a fixed function of every output of a random DfNet4, by parameter name.
fn model_grads(device: Device, scan: TrainingScan) -> Vec<(String, Tensor)> {
    set_training_scan(scan);
    let cfg = ModelConfig::default();
    let vs = nn::VarStore::new(device);
    let net = DfNet4::new(&vs.root(), &Weights::random(&cfg, 5)).unwrap();
    tch::manual_seed(9);
    let (b, t) = (2, 40);
    let opts = (Kind::Float, device);
    let erb = Tensor::randn([b, t, cfg.nb_erb as i64], opts);
    let spec = Tensor::randn([b, t, 2, cfg.nb_df as i64], opts);
    let o = net.forward_seq(&erb, &spec);
    let loss = (o.gains * Tensor::randn([b, t, cfg.nb_erb as i64], opts)).sum(Kind::Float)
        + (o.coefs * Tensor::randn([b, t, cfg.nb_df as i64, cfg.df_order as i64, 2], opts))
            .sum(Kind::Float)
        + (o.lsnr_db * 0.01).sum(Kind::Float);
    let mut vars = vs.variables().into_iter().collect::<Vec<_>>();
    vars.sort_by(|x, y| x.0.cmp(&y.0));
    let tensors: Vec<&Tensor> = vars.iter().map(|(_, v)| v).collect();
    let grads = Tensor::run_backward(&[loss], &tensors, false, false);
    vars.iter().map(|(k, _)| k.clone()).zip(grads).collect()
}

#[test]
fn model_gradients_with_the_fused_scan_equal_the_tensor_form() {
    if !loaded() {
        return;
    }
    let mut devices = vec![Device::Cpu];
    devices.extend(cuda());
    for device in devices {
        let want = model_grads(device, TrainingScan::Tensor);
        let got = model_grads(device, TrainingScan::Fused);
        set_training_scan(TrainingScan::Tensor);
        assert_eq!(want.len(), got.len());
        let mut scan_grads = 0;
        // Another summation order: not bit-identical, which shows that the fused path ran at all.
        assert!(
            want.iter().zip(&got).any(|((_, w), (_, g))| w != g),
            "{device:?}: identical gradients; was the fused scan used?"
        );
        for ((name, w), (_, g)) in want.iter().zip(&got) {
            let scale = w.abs().max().double_value(&[]);
            let err = (g - w).abs().max().double_value(&[]) / scale.max(1e-30);
            assert!(err < 2e-4, "{device:?} {name}: relative error {err:e}");
            if name.contains("A_log") || name.contains("a_log") {
                assert!(scale > 0.0, "{name}: no gradient reaches the SSM rates");
                scan_grads += 1;
            }
        }
        assert_eq!(
            scan_grads,
            ModelConfig::default().n_layers,
            "one A_log per layer"
        );
    }
}
