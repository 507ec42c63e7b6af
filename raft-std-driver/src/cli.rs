//! What the binaries share: one-line errors instead of backtraces, and log setup.

use std::process::ExitCode;

/// Parses the command line; on a bad flag prints one `error: ...` line and exits 2 (help and
/// version go to stdout with exit 0, as usual).
pub fn parse<T: clap::Parser>() -> Result<T, ExitCode> {
    match T::try_parse() {
        Ok(t) => Ok(t),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Err(ExitCode::SUCCESS);
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return Err(ExitCode::from(2));
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Err(fail(format!("{first} (see --help)")))
        }
    }
}

/// Prints `error: <msg>` on one line and returns exit code 1 (2 for usage errors is the
/// caller's choice via [`parse`]).
pub fn fail(msg: impl std::fmt::Display) -> ExitCode {
    let msg = msg.to_string().replace('\n', " ");
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

/// Logs to stderr through `tracing`, filtered by `RUST_LOG` (default `default`).
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
