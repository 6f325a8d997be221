//! Runs the DfNet4 trainer (`dfn4::train::run`) standalone; `dfn4 train` does the same from the CLI.
use clap::Parser;

/// Command line of the standalone trainer.
#[derive(Parser)]
#[command(about = "Train DfNet4 on a mixed noisy/clean corpus")]
struct Cli {
    #[command(flatten)]
    args: dfn4::train::TrainArgs,
}

fn main() -> anyhow::Result<()> {
    dfn4::train::run(Cli::parse().args)
}
