//! CUDA graphs of the tch backend against eager tch and the native backend: steps with state carried over
//! 50 frames, resets, independent states, sequences. The GPU tests skip, saying why, where CUDA is
//! unavailable; the checks of the graph switches off CUDA run everywhere.
//!
//! `cargo test --features tch --test tch_cuda_graph -- --nocapture` also prints node counts and timings.
use std::time::Instant;

mod common;

use common::backend::{frame, max_abs_diff, random_features, run_steps_with, store};
use dfn4::backend::native::NativeBackend;
use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::tch::cuda_graph::{availability, CudaGraph};
use dfn4::backend::tch::{register_cuda, CudaGraphs, TchBackend, TchState};
use dfn4::backend::{Backend, Features, ModelOutput, SeqModelOutput};
use dfn4::config::ModelConfig;
use dfn4::model::Weights;
use tch::Device;

/// Graph, eager and native outputs must agree this closely (LSNR relative to its 50 dB range).
const TOL: f32 = 1e-4;

/// CUDA device 0, or None after printing why the test is skipped.
fn cuda(test: &str) -> Option<Device> {
    register_cuda();
    if tch::Cuda::is_available() {
        Some(Device::Cuda(0))
    } else {
        println!("{test}: skipped, CUDA is not available on this machine");
        None
    }
}

fn backends(device: Device, seed: u64) -> (Weights<'static>, TchBackend, TchBackend) {
    let w = Weights::random(&ModelConfig::default(), seed);
    let graph = TchBackend::with_cuda_graphs(&w, device, CudaGraphs::StepAndSequence).unwrap();
    let eager = TchBackend::with_cuda_graphs(&w, device, CudaGraphs::Off).unwrap();
    assert_eq!((graph.name(), eager.name()), ("tch-cuda", "tch-cuda-eager"));
    (w, graph, eager)
}

fn assert_close(what: &str, a: &SeqModelOutput, b: &SeqModelOutput) {
    common::backend::assert_close(what, a, b, TOL);
    assert!(a.gains.iter().chain(&a.coefs).all(|x| x.is_finite()));
}

#[test]
fn graphs_are_off_and_refused_off_cuda() {
    let w = Weights::random(&ModelConfig::default(), 1);
    let cpu = TchBackend::new(&w, Device::Cpu).unwrap();
    assert_eq!(cpu.cuda_graphs(), (CudaGraphs::Off, None));
    assert_eq!(cpu.name(), "tch-cpu");
    let err = TchBackend::with_cuda_graphs(&w, Device::Cpu, CudaGraphs::Step)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("CUDA graphs need a CUDA device"), "{err}");
    let mut state = cpu.new_state(1).unwrap();
    let cfg = cpu.config().clone();
    cpu.step(
        &Features::zeros(&cfg, 1),
        &mut state,
        &mut ModelOutput::zeros(&cfg, 1),
    )
    .unwrap();
    assert_eq!(state.graph_nodes(), None);
    match registry::create("tch-cuda-eager", ModelSource::Weights(&w)) {
        Ok(b) => assert_eq!(b.name(), "tch-cuda-eager"),
        Err(e) => assert!(
            e.to_string()
                .contains("tch-cuda-eager: CUDA is not available on this machine"),
            "{e}"
        ),
    }
}

/// Loading the shim needs libtorch's CUDA libraries; where they cannot load this must be a one-line
/// error, not a crash. (Kept out of the library's unit tests: the attempted load of libtorch_cuda maps
/// and unmaps hundreds of MiB, which disturbs the RSS test running beside them.)
#[test]
fn shim_loads_with_cuda_or_says_why_not() {
    register_cuda();
    if tch::Cuda::is_available() {
        availability().unwrap();
        assert!(CudaGraph::new(0).is_ok());
        return;
    }
    let reason = availability().unwrap_err();
    println!("CUDA graphs unavailable here: {reason}");
    assert!(!reason.is_empty() && !reason.contains('\n'), "{reason}");
    let err = CudaGraph::new(0).err().unwrap().to_string();
    assert!(err.contains(&reason), "{err}");
}

#[test]
fn graph_steps_match_eager_and_native() {
    let Some(device) = cuda("graph_steps_match_eager_and_native") else {
        return;
    };
    let (w, graph, eager) = backends(device, 7);
    let native = NativeBackend::new(&w).unwrap();
    let cfg = w.config().clone();
    for batch in [1usize, 3] {
        let feats = random_features(&cfg, batch, 50, 30 + batch as u64);
        let mut gs: TchState = graph.new_state(batch).unwrap();
        let g = run_steps_with(&graph, &mut gs, &feats);
        let mut es = eager.new_state(batch).unwrap();
        let e = run_steps_with(&eager, &mut es, &feats);
        let n = run_steps_with(&native, &mut native.new_state(batch).unwrap(), &feats);
        assert_close(&format!("batch {batch}: graph vs eager"), &g, &e);
        assert_close(&format!("batch {batch}: graph vs native"), &g, &n);
        assert_close(&format!("batch {batch}: eager vs native"), &e, &n);
        let nodes = gs
            .graph_nodes()
            .expect("the graph backend captured a graph");
        assert!(nodes > 10, "{nodes} nodes");
        assert_eq!(es.graph_nodes(), None);
        println!("batch {batch}: one step is a graph of {nodes} nodes");
        // The state really carries over: late frames differ from a fresh start on the same input.
        let late = frame(&cfg, &feats, 49);
        let mut fresh = ModelOutput::zeros(&cfg, batch);
        graph
            .step(&late, &mut graph.new_state(batch).unwrap(), &mut fresh)
            .unwrap();
        // Batch element 0 only: frame 49 of element 0 sits at row 49 of the sequence layout.
        assert!(
            max_abs_diff(
                &fresh.gains[..cfg.nb_erb],
                &g.gains[49 * cfg.nb_erb..][..cfg.nb_erb]
            ) > 0.0
        );
    }
}

#[test]
fn graph_survives_reset_and_states_are_independent() {
    let Some(device) = cuda("graph_survives_reset_and_states_are_independent") else {
        return;
    };
    let (w, graph, eager) = backends(device, 8);
    let cfg = w.config().clone();
    let (fa, fb) = (
        random_features(&cfg, 1, 20, 1),
        random_features(&cfg, 1, 20, 2),
    );
    let (mut sa, mut sb) = (graph.new_state(1).unwrap(), graph.new_state(1).unwrap());
    let mut ga = SeqModelOutput::zeros(&cfg, 1, 20);
    let mut gb = SeqModelOutput::zeros(&cfg, 1, 20);
    let mut out = ModelOutput::zeros(&cfg, 1);
    for t in 0..20 {
        graph.step(&frame(&cfg, &fa, t), &mut sa, &mut out).unwrap();
        store(&cfg, &out, &mut ga, t);
        graph.step(&frame(&cfg, &fb, t), &mut sb, &mut out).unwrap();
        store(&cfg, &out, &mut gb, t);
    }
    let ea = run_steps_with(&eager, &mut eager.new_state(1).unwrap(), &fa);
    let eb = run_steps_with(&eager, &mut eager.new_state(1).unwrap(), &fb);
    assert_close("interleaved state A", &ga, &ea);
    assert_close("interleaved state B", &gb, &eb);
    graph.reset_state(&mut sa);
    let again = run_steps_with(&graph, &mut sa, &fa);
    assert_close("after reset", &again, &ea);
}

#[test]
fn graph_sequences_match_eager_and_native() {
    let Some(device) = cuda("graph_sequences_match_eager_and_native") else {
        return;
    };
    let (w, graph, eager) = backends(device, 9);
    let native = NativeBackend::new(&w).unwrap();
    let cfg = w.config().clone();
    // (4, 100) moves more than the staged-transfer limit, (2, 37) less.
    for (b, t) in [(2usize, 37usize), (4, 100)] {
        let feats = random_features(&cfg, b, t, 40 + t as u64);
        let mut e = SeqModelOutput::zeros(&cfg, b, t);
        eager.run_sequence(&feats, &mut e).unwrap();
        let mut n = SeqModelOutput::zeros(&cfg, b, t);
        native.run_sequence(&feats, &mut n).unwrap();
        assert_close(&format!("{b}x{t}: eager vs native"), &e, &n);
        for call in 0..3 {
            let mut g = SeqModelOutput::zeros(&cfg, b, t);
            graph.run_sequence(&feats, &mut g).unwrap();
            assert_close(&format!("{b}x{t} call {call}: graph vs eager"), &g, &e);
            let captured = graph.sequence_graphs().iter().any(|(s, _)| *s == (b, t));
            // First use runs eagerly; the second captures.
            assert_eq!(captured, call > 0, "{b}x{t} call {call}");
        }
    }
    for ((b, t), nodes) in graph.sequence_graphs() {
        println!("sequence {b}x{t}: a graph of {nodes} nodes");
    }
}

/// Median wall time of `f` over `runs` calls, in ms, after `runs / 5` untimed calls.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..runs / 5 {
        f();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// Not a speed test (nothing is asserted about time): prints what graphs change, for the record.
#[test]
fn prints_eager_and_graph_timings() {
    let Some(device) = cuda("prints_eager_and_graph_timings") else {
        return;
    };
    let (w, graph, eager) = backends(device, 10);
    let cfg = w.config().clone();
    let feats = random_features(&cfg, 1, 1, 3);
    let input = frame(&cfg, &feats, 0);
    let mut out = ModelOutput::zeros(&cfg, 1);
    for (name, be) in [("eager", &eager), ("graph", &graph)] {
        let mut state = be.new_state(1).unwrap();
        let ms = median_ms(300, || be.step(&input, &mut state, &mut out).unwrap());
        println!("step, batch 1, {name}: median {ms:.3} ms");
    }
    let seq = random_features(&cfg, 16, 100, 4);
    let mut out = SeqModelOutput::zeros(&cfg, 16, 100);
    for (name, be) in [("eager", &eager), ("graph", &graph)] {
        let ms = median_ms(20, || be.run_sequence(&seq, &mut out).unwrap());
        println!("run_sequence 16x100, {name}: median {ms:.3} ms");
    }
    assert!(out.gains.iter().all(|x| x.is_finite()));
}
