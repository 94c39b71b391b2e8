//! The `reservnod` command: parse arguments, run, and print any error as one line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A bug must still end in one readable line, not a backtrace across a nurse's screen.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("fel: internt fel i reservnod ({info}); rapportera det till IT");
    }));
    let cli = reservnod::cli::Cli::parse();
    match reservnod::cli::run(cli) {
        Ok(code) => code,
        // The reader went away (`reservnod inbox | head`): nothing to tell anyone.
        Err(e)
            if e.chain().any(|c| {
                let kind = c
                    .downcast_ref::<std::io::Error>()
                    .map(std::io::Error::kind)
                    .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind());
                kind == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fel: {e:#}");
            ExitCode::from(2)
        }
    }
}
