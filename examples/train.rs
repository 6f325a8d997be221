//! Runs the DfNet4 trainer (`dfn4::train::run`) standalone with the options of `dfn4 train` (the same
//! definition, `src/cli/train.rs`); the GPU scripts build this small binary instead of the whole CLI.
use clap::Parser;

#[path = "../src/cli/train.rs"]
mod train_args;

/// Command line of the standalone trainer.
#[derive(Parser)]
#[command(about = "Train DfNet4 on a mixed noisy/clean corpus")]
struct Cli {
    #[command(flatten)]
    args: train_args::TrainArgs,
}

fn main() -> anyhow::Result<()> {
    train_args::run(Cli::parse().args)
}
