//! Command-line definitions (clap derive) and dispatch. Each subcommand lives in its own module; the
//! commands only move data between files, the library and the terminal, the math is in the library.
pub mod bench;
#[cfg(feature = "live")]
pub mod devices;
pub mod enhance;
pub mod enhance_paths;
pub mod filter_args;
#[cfg(feature = "gui")]
pub mod gui;
#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "train")]
pub mod train;

use clap::{Args, Parser, Subcommand};

use dfn4::backend::registry::{self, BACKENDS};

/// dfn4: real-time speech denoiser (DeepFilterNet signal path with the Mamba-based DfNet4 network).
#[derive(Debug, Parser)]
#[command(name = "dfn4", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. `live`, `eval` and `devices` join here as they are built.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Denoise a WAV file, or every *.wav file of a directory.
    Enhance(enhance::EnhanceArgs),
    /// Measure latency, real-time factor, throughput and memory of the backends.
    Bench(bench::BenchArgs),
    /// Show the meter window over synthetic values (`--demo`; cargo feature `gui`).
    #[cfg(feature = "gui")]
    Gui(gui::GuiArgs),
    /// Train DfNet4 on a corpus of clean speech and noise mixed on the fly (cargo feature `train`).
    #[cfg(feature = "train")]
    Train(Box<train::TrainArgs>),
    /// Denoise an audio input device into an output device in real time (cargo feature `live`).
    #[cfg(feature = "live")]
    Live(live::LiveArgs),
    /// List audio hosts and their input and output devices with supported rates (cargo feature `live`).
    #[cfg(feature = "live")]
    Devices(devices::DevicesArgs),
    // The commands of features this build lacks: hidden, they say which feature to build with
    // instead of clap's "unrecognized subcommand".
    #[cfg(not(feature = "gui"))]
    #[command(hide = true)]
    Gui(MissingFeature),
    #[cfg(not(feature = "train"))]
    #[command(hide = true)]
    Train(MissingFeature),
    #[cfg(not(feature = "live"))]
    #[command(hide = true)]
    Live(MissingFeature),
    #[cfg(not(feature = "live"))]
    #[command(hide = true)]
    Devices(MissingFeature),
}

/// The arguments of a command whose feature is not compiled in: anything, ignored.
#[derive(Debug, Args)]
pub struct MissingFeature {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// The error of a command or option whose cargo feature this build lacks.
pub fn missing_feature(what: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} needs the cargo feature \"{feature}\", which this build lacks (rebuild with \
         `cargo install --path . --features {feature}`; see README, Install)"
    )
}

/// The backends, which are in this build, the default and why: the epilogue of `enhance --help` and
/// `bench --help`.
pub fn backend_help() -> String {
    let mut text = String::from("Backends (--backend NAME):\n");
    for b in BACKENDS {
        let note = match (b.compiled(), b.name == registry::default_backend()) {
            (true, true) => " [default here]".to_string(),
            (true, false) => String::new(),
            (false, _) => format!(
                " [not in this build: cargo feature \"{}\"]",
                b.feature.unwrap_or("?")
            ),
        };
        text.push_str(&format!("  {:<15} {}{note}\n", b.name, b.summary));
    }
    text.push_str(&format!(
        "{} Either needs nothing beyond this binary and is the fastest engine per streaming step on \
         one CPU core of its kind of machine, with the dev-set scores of native to 0.01 PESQ \
         (docs/native_i8.md). `dfn4 bench` measures them on this machine.",
        registry::default_backend_rule()
    ));
    text
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Enhance(args) => enhance::run(&args),
        Command::Bench(args) => bench::run(&args),
        #[cfg(feature = "gui")]
        Command::Gui(args) => gui::run(&args),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(*args),
        #[cfg(feature = "live")]
        Command::Live(args) => live::run(&args),
        #[cfg(feature = "live")]
        Command::Devices(args) => devices::run(&args),
        #[cfg(not(feature = "gui"))]
        Command::Gui(_) => Err(missing_feature("`dfn4 gui`", "gui")),
        #[cfg(not(feature = "train"))]
        Command::Train(_) => Err(missing_feature("`dfn4 train`", "train")),
        #[cfg(not(feature = "live"))]
        Command::Live(_) => Err(missing_feature("`dfn4 live`", "live")),
        #[cfg(not(feature = "live"))]
        Command::Devices(_) => Err(missing_feature("`dfn4 devices`", "live")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[cfg(feature = "train")]
    #[test]
    fn train_takes_the_trainer_options() {
        let cli = Cli::try_parse_from(["dfn4", "train", "--device", "cpu", "--steps", "7"])
            .expect("arguments parse");
        match cli.command {
            Command::Train(args) => {
                assert_eq!((args.device.as_str(), args.steps), ("cpu", 7));
                assert_eq!(args.batch, 32);
                // The command line's defaults are the library's: the mixtures do not change.
                let cfg = dfn4::train::TrainConfig::from(*args);
                let lib = dfn4::train::TrainConfig::default();
                assert_eq!(
                    (
                        cfg.music_prob,
                        cfg.reverb_prob,
                        cfg.clean_prob,
                        cfg.lsnr_weight
                    ),
                    (
                        lib.music_prob,
                        lib.reverb_prob,
                        lib.clean_prob,
                        lib.lsnr_weight
                    )
                );
                assert_eq!(cfg.speech_source_exponent, None);
            }
            other => panic!("expected train, parsed {other:?}"),
        }
    }

    #[cfg(not(feature = "train"))]
    #[test]
    fn train_needs_the_feature() {
        let cli = Cli::try_parse_from(["dfn4", "train", "--steps", "7"]).expect("parses");
        let err = run(cli).unwrap_err().to_string();
        assert!(err.contains("cargo feature \"train\""), "{err}");
    }

    #[cfg(feature = "gui")]
    #[test]
    fn gui_demo_defaults_to_two_backends() {
        let cli = Cli::try_parse_from(["dfn4", "gui", "--demo"]).expect("arguments parse");
        match cli.command {
            Command::Gui(args) => {
                assert!(args.demo);
                assert_eq!(args.backends, ["native", "tch-cpu"]);
                assert_eq!(args.atten_lim_db, None);
            }
            other => panic!("expected gui, parsed {other:?}"),
        }
        let cli = Cli::try_parse_from(["dfn4", "gui"]).expect("arguments parse");
        match cli.command {
            Command::Gui(args) => {
                let err = gui::run(&args).expect_err("no --demo");
                assert!(err.to_string().contains("--demo"), "{err}");
            }
            other => panic!("expected gui, parsed {other:?}"),
        }
    }

    #[cfg(not(feature = "gui"))]
    #[test]
    fn gui_needs_the_feature() {
        let cli = Cli::try_parse_from(["dfn4", "gui", "--demo"]).expect("parses");
        let err = run(cli).unwrap_err().to_string();
        assert!(err.contains("cargo feature \"gui\""), "{err}");
    }

    #[test]
    fn backend_help_lists_every_backend_and_the_default() {
        let help = backend_help();
        for b in BACKENDS {
            assert!(help.contains(b.name), "{help}");
        }
        let default_line = help
            .lines()
            .find(|l| l.contains("[default here]"))
            .expect("a default is marked");
        assert!(
            default_line
                .trim_start()
                .starts_with(registry::default_backend()),
            "{help}"
        );
        assert!(help.contains(&registry::default_backend_rule()), "{help}");
    }

    #[cfg(not(feature = "live"))]
    #[test]
    fn live_and_devices_need_the_feature() {
        for argv in [&["dfn4", "live", "--gui"][..], &["dfn4", "devices"]] {
            let cli = Cli::try_parse_from(argv).expect("parses");
            let err = run(cli).unwrap_err().to_string();
            assert!(err.contains("cargo feature \"live\""), "{err}");
        }
    }

    #[cfg(feature = "live")]
    fn live_args(argv: &[&str]) -> live::LiveArgs {
        let cli =
            Cli::try_parse_from(["dfn4", "live"].iter().chain(argv)).expect("arguments parse");
        match cli.command {
            Command::Live(args) => args,
            other => panic!("expected live, parsed {other:?}"),
        }
    }

    #[cfg(feature = "live")]
    #[test]
    fn live_defaults_and_flags() {
        let a = live_args(&[]);
        assert_eq!(a.backends(), [registry::default_backend()]);
        assert_eq!(a.buffer_frames, 240);
        assert!(!a.bypass && a.duration.is_none() && a.input.is_none());
        let p = a.filter.params().unwrap();
        // The same defaults as `dfn4 enhance`, so live output matches the offline one.
        let e = enhance_args(&[]).filter.params().unwrap();
        assert_eq!(p, e);

        let a = live_args(&[
            "--compare",
            "native,tch-cpu",
            "--input",
            "2",
            "--output",
            "dfn_out",
            "--duration",
            "1.5",
            "--atten-lim-db",
            "12",
            "--bypass",
            "--record-input",
            "in.wav",
        ]);
        assert_eq!(a.backends(), ["native", "tch-cpu"]);
        assert_eq!(
            (a.input.as_deref(), a.output.as_deref()),
            (Some("2"), Some("dfn_out"))
        );
        assert_eq!(a.duration, Some(1.5));
        assert!(a.bypass);
        assert_eq!(a.filter.params().unwrap().atten_lim_db, Some(12.0));
        // The one meaning of the limit: 0 is no attenuation, as in `enhance`; negative and NaN are refused.
        let a = live_args(&["--atten-lim-db", "0"]);
        assert_eq!(a.filter.params().unwrap().atten_lim_db, Some(0.0));
        for bad in ["-3", "nan"] {
            let a = live_args(&["--atten-lim-db", bad]);
            assert!(a.filter.params().is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from([
            "dfn4",
            "live",
            "--backend",
            "native",
            "--compare",
            "native"
        ])
        .is_err());
    }

    fn enhance_args(argv: &[&str]) -> enhance::EnhanceArgs {
        let cli = Cli::try_parse_from(["dfn4", "enhance", "in.wav", "out.wav"].iter().chain(argv))
            .expect("arguments parse");
        match cli.command {
            Command::Enhance(args) => args,
            other => panic!("expected enhance, parsed {other:?}"),
        }
    }

    #[test]
    fn enhance_defaults_and_flags() {
        let a = enhance_args(&[]);
        // The registry's default for this machine (native-i8 or native-f16 by the CPU's kernels).
        assert_eq!(a.backend, registry::default_backend());
        assert_eq!(a.model, None);
        assert_eq!(a.filter.atten_lim_db, None);
        assert!(!a.filter.post_filter);
        assert_eq!(a.out_format, None);
        let params = a.filter.params().unwrap();
        assert!(!params.post_filter);
        assert_eq!(params.atten_lim_db, None);

        let a = enhance_args(&[
            "--model",
            "m.safetensors",
            "--atten-lim-db",
            "12",
            "--post-filter",
            "--out-format",
            "i16",
        ]);
        assert_eq!(
            a.model.as_deref(),
            Some(std::path::Path::new("m.safetensors"))
        );
        assert_eq!(a.out_format, Some(enhance::OutFormat::I16));
        let params = a.filter.params().unwrap();
        assert!(params.post_filter);
        assert_eq!(params.atten_lim_db, Some(12.0));

        for bad in ["-1", "nan"] {
            let a = enhance_args(&["--atten-lim-db", bad]);
            assert!(a.filter.params().is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["dfn4", "enhance", "a", "b", "--out-format", "u8"]).is_err());
    }
}
