//! The `dfn4` command line: parses the arguments, runs the command, and reports any failure as one
//! `error: ...` line on stderr with exit status 1.
mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    #[cfg(feature = "formats")]
    {
        // A decoder's panic on a damaged file is caught and reported as that file's one-line error;
        // the default hook would print it first.
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !dfn4::audio_io::compressed::panic_is_caught_decoder_failure(info) {
                default_hook(info);
            }
        }));
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` joins the context chain with ": "; a cause that spans lines is folded onto one.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
