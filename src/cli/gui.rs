//! `dfn4 gui --demo`: opens the meter window over synthetic values (no audio device, no model), to try
//! the window and to take screenshots. A live run opens the same window with `dfn4 live --gui`.
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

use dfn4::denoiser::DenoiseParams;
use dfn4::gui::{self, demo};
use dfn4::stream::meters::LiveMeters;

/// Most backends the demo shows (the table and plot stay readable).
const MAX_BACKENDS: usize = 4;

/// Arguments of `dfn4 gui`.
#[derive(Debug, Args)]
pub struct GuiArgs {
    /// Show synthetic values: no audio and no model run.
    #[arg(long)]
    pub demo: bool,
    /// Backend names the demo shows, comma-separated; two or more enable the output-backend switch.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAME",
        default_value = "native,tch-cpu"
    )]
    pub backends: Vec<String>,
    /// Attenuation limit the demo starts with, in dB (0 = no attenuation, 100 or more = unlimited).
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub atten_lim_db: Option<f32>,
}

/// Runs `dfn4 gui`: the window stays open until it is closed or Stop is clicked.
pub fn run(args: &GuiArgs) -> Result<()> {
    if !args.demo {
        bail!("dfn4 gui needs --demo (synthetic values); a live run shows the meter with `dfn4 live --gui`");
    }
    let names: Vec<&str> = args.backends.iter().map(|s| s.trim()).collect();
    if names.is_empty() || names.len() > MAX_BACKENDS || names.iter().any(|n| n.is_empty()) {
        bail!("--backends takes 1 to {MAX_BACKENDS} non-empty names, got {names:?}");
    }
    // The library's check, so the flag means what it means everywhere.
    DenoiseParams {
        atten_lim_db: args.atten_lim_db,
        ..DenoiseParams::default()
    }
    .validate()?;
    let meters = Arc::new(LiveMeters::new(&names, args.atten_lim_db));
    let producer =
        demo::spawn(Arc::clone(&meters)).context("could not start the demo producer thread")?;
    let shown = gui::run_meter_with(
        Arc::clone(&meters),
        "dfn4 meter (demo)",
        Some("demo: synthetic values, no audio and no model"),
    );
    // run_meter_with has cleared `running`, so the producer ends within one hop.
    producer
        .join()
        .map_err(|_| anyhow!("the demo producer thread panicked"))?;
    shown.context("the meter window failed")
}
