//! Headless UI tests of the meter window (egui_kittest): the labels are there, each control writes its
//! atomic in `LiveMeters`, and an image snapshot of the window over the deterministic demo values.
//! Run with `cargo test --features gui-test --test gui_meter`; `UPDATE_SNAPSHOTS=1` rewrites the image.
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use dfn4::gui::{
    demo::DemoProducer, MeterApp, BYPASS_LABEL, LIMIT_LABEL, LIMIT_SLIDER_LABEL, REPAINT_INTERVAL,
    STOP_LABEL,
};
use dfn4::stream::meters::LiveMeters;
use eframe::egui::accesskit::{Role, Toggled};
use eframe::egui::{ViewportCommand, ViewportId};
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;

/// Window size of the tests, in points (one pixel per point).
const SIZE: [f32; 2] = [880.0, 480.0];

fn harness(meters: &Arc<LiveMeters>) -> Harness<'static, MeterApp> {
    Harness::builder()
        .with_size(SIZE)
        .with_pixels_per_point(1.0)
        .build_ui_state(
            |ui, app: &mut MeterApp| app.show(ui),
            MeterApp::new(Arc::clone(meters)),
        )
}

fn two_backends() -> Arc<LiveMeters> {
    Arc::new(LiveMeters::new(&["native", "tch-cpu"], None))
}

#[test]
fn shows_every_section_and_counter() {
    let meters = two_backends();
    meters.workers[0].frame_ms_p99.store(0.4321);
    meters.host_xruns.store(7, Relaxed);
    let mut harness = harness(&meters);
    harness.run();
    for label in [
        "dfn4 meter",
        "running",
        "Compute per 10 ms hop",
        "output",
        "median",
        "p99",
        "RTF",
        "LSNR dB",
        "Levels",
        "in",
        "out",
        "Latency",
        "algorithmic",
        "measured",
        "Xruns",
        "input overruns",
        "output underruns",
        "host xruns",
        "worker overruns",
        "total",
        BYPASS_LABEL,
        LIMIT_LABEL,
        STOP_LABEL,
        "0.43",
    ] {
        harness.get_by_label(label);
    }
    // Host xruns and the total.
    assert_eq!(harness.get_all_by_label("7").count(), 2);
    // The window asks for its next repaint after a fixed interval, not at once: a bounded rate.
    let root = &harness.output().viewport_output[&ViewportId::ROOT];
    assert_eq!(root.repaint_delay, REPAINT_INTERVAL);
    // Two workers: the backend names are the output switch.
    assert_eq!(
        harness.get_by_label("tch-cpu").accesskit_node().role(),
        Role::RadioButton
    );
}

#[test]
fn one_backend_has_no_switch() {
    let meters = Arc::new(LiveMeters::new(&["native"], None));
    let mut harness = harness(&meters);
    harness.run();
    harness.get_by_label("backend");
    assert_eq!(
        harness.get_by_label("native").accesskit_node().role(),
        Role::Label
    );
}

#[test]
fn bypass_checkbox_flips_the_atomic() {
    let meters = two_backends();
    let mut harness = harness(&meters);
    harness.run();
    harness.get_by_label(BYPASS_LABEL).click();
    harness.run();
    assert!(meters.bypass.load(Relaxed));
    let checkbox = harness.get_by_label(BYPASS_LABEL);
    assert_eq!(checkbox.accesskit_node().toggled(), Some(Toggled::True));
    harness.get_by_label("running, bypassed");

    // A change made by the pipeline side shows on the next repaint.
    meters.bypass.store(false, Relaxed);
    harness.run();
    let checkbox = harness.get_by_label(BYPASS_LABEL);
    assert_eq!(checkbox.accesskit_node().toggled(), Some(Toggled::False));
}

#[test]
fn backend_switch_writes_the_active_worker() {
    let meters = two_backends();
    let mut harness = harness(&meters);
    harness.run();
    harness.get_by_label("tch-cpu").click();
    harness.run();
    assert_eq!(meters.active_worker.load(Relaxed), 1);
    harness.get_by_label("native").click();
    harness.run();
    assert_eq!(meters.active_worker.load(Relaxed), 0);
}

#[test]
fn attenuation_limit_controls_write_the_atomic() {
    let meters = two_backends();
    let mut harness = harness(&meters);
    harness.run();
    harness.get_by_label(LIMIT_LABEL).click();
    harness.run();
    assert_eq!(meters.atten_lim_db.load(), 12.0);

    // The slider comes with a number field of the same name; set the value through the slider.
    harness
        .get_by_role_and_label(Role::Slider, LIMIT_SLIDER_LABEL)
        .set_value_accesskit(24.0);
    harness.run();
    assert!((meters.atten_lim_db.load() - 24.0).abs() < 1e-3);

    // Off writes the library's "no limit" (100 dB); on again restores the last limit.
    harness.get_by_label(LIMIT_LABEL).click();
    harness.run();
    assert_eq!(meters.atten_lim_db.load(), 100.0);
    harness.get_by_label(LIMIT_LABEL).click();
    harness.run();
    assert!((meters.atten_lim_db.load() - 24.0).abs() < 1e-3);
}

#[test]
fn stop_clears_running() {
    let meters = two_backends();
    let mut harness = harness(&meters);
    harness.run();
    harness.get_by_label(STOP_LABEL).click();
    harness.step();
    assert!(!meters.running.load(Relaxed));
    let root = &harness.output().viewport_output[&ViewportId::ROOT];
    assert!(root.commands.contains(&ViewportCommand::Close));
    harness.run();
    harness.get_by_label("stopped");
}

#[test]
fn snapshot_over_demo_values() {
    let meters = two_backends();
    let mut producer = DemoProducer::new(meters.workers.len());
    let mut harness = Harness::builder()
        .with_size(SIZE)
        .with_pixels_per_point(1.0)
        .with_step_dt(0.05)
        .build_ui_state(
            |ui, app: &mut MeterApp| app.show(ui),
            MeterApp::new(Arc::clone(&meters)).with_banner("demo: synthetic values"),
        );
    // Ten seconds of UI time, five 10 ms hops per 50 ms step: the plot fills its whole window.
    for _ in 0..200 {
        for _ in 0..5 {
            producer.step(&meters);
        }
        harness.step();
    }
    harness.run();
    assert!(harness.state().history(0).is_some_and(|h| h.len() > 150));
    harness.snapshot("meter_demo");
}
