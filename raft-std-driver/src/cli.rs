//! What the binaries share: exit codes, command-line parsing that keeps clap's usage errors
//! (exit 2, one line naming the argument), one-line errors instead of backtraces, and log setup.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`--help` and `--version` too) |
//! | 1 | an error, one `error:` line: a bad setting, config or key file, a refusal, a node that stops on a storage failure |
//! | 2 | a usage error, one `error:` line naming the argument: missing, unknown, or a value that does not parse |
//! | 3 | `raft-client cas`: not swapped (the current value is printed) |
//! | 4 | `raft-client get`: the key is absent (nothing on stdout, `(absent)` on stderr) |
//! | 5 | `raft-client`: not sent: no node took the request, so it was not applied; retrying is safe |
//! | 6 | `raft-client`: no reply: nothing came back from any node (down, or wrong addresses); a write may have been applied |
//! | 7 | `raft-client`: no authenticated reply: datagrams came back but none authenticated; check the key file and addresses |
//! | 8 | `raft-client`: outcome unknown: nodes answered, but not with this request's outcome; a write may have been applied |

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::client::{ClientError, Failure};

/// The exit codes beyond 0 (success), as `Exit::X as u8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// An error other than those below.
    Error = 1,
    /// A usage error.
    Usage = 2,
    /// `cas` did not swap.
    NotSwapped = 3,
    /// `get` found no value.
    Absent = 4,
    /// [`Failure::NotSent`].
    NotSent = 5,
    /// [`Failure::NoReply`].
    NoReply = 6,
    /// [`Failure::NoAuthenticatedReply`].
    NoAuthenticatedReply = 7,
    /// [`Failure::OutcomeUnknown`].
    OutcomeUnknown = 8,
}

/// The exit code for a client error: 5 to 8 for a request that got no final answer, else 1.
pub fn client_exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Failed { failure, .. } => match failure {
            Failure::NotSent => Exit::NotSent as u8,
            Failure::NoReply => Exit::NoReply as u8,
            Failure::NoAuthenticatedReply { .. } => Exit::NoAuthenticatedReply as u8,
            Failure::OutcomeUnknown => Exit::OutcomeUnknown as u8,
        },
        _ => Exit::Error as u8,
    }
}

/// Parses the command line (see [`parse_matches`]).
pub fn parse<T: CommandFactory + FromArgMatches>() -> Result<T, ExitCode> {
    parse_matches().map(|(t, _)| t)
}

/// Parses the command line into `T` and the matches it came from (which tell a value given
/// from a default: [`given`]). On a usage error prints one `error: ...` line naming the
/// argument and returns exit code 2; help and version go to stdout with exit 0.
pub fn parse_matches<T: CommandFactory + FromArgMatches>() -> Result<(T, ArgMatches), ExitCode> {
    let matches = T::command().try_get_matches().map_err(usage)?;
    let t = T::from_arg_matches(&matches).map_err(usage)?;
    Ok((t, matches))
}

/// Whether argument `id` was given, on the command line or in the environment, rather than
/// left at its default: a config file fills only what was not given.
pub fn given(matches: &ArgMatches, id: &str) -> bool {
    !matches!(
        matches.value_source(id),
        Some(ValueSource::DefaultValue) | None
    )
}

fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(Exit::Usage as u8)
        }
        _ => {
            // The first paragraph says what is wrong, the missing argument's name included
            // (on the lines after the first); the usage line and tips follow.
            let text = e.to_string();
            let what: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            let what = what.join(" ");
            usage_error(what.strip_prefix("error: ").unwrap_or(&what))
        }
    }
}

/// Prints `error: <msg> (see --help)` on one line and returns exit code 2: for usage errors
/// found after parsing (e.g. a setting that may come from a flag, the environment or a file).
pub fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {} (see --help)", one_line(msg));
    ExitCode::from(Exit::Usage as u8)
}

/// Prints `error: <msg>` on one line and returns exit code 1.
pub fn fail(msg: impl std::fmt::Display) -> ExitCode {
    fail_with(Exit::Error as u8, msg)
}

/// Prints `error: <msg>` on one line and returns exit code `code`.
pub fn fail_with(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {}", one_line(msg));
    ExitCode::from(code)
}

fn one_line(msg: impl std::fmt::Display) -> String {
    msg.to_string().replace('\n', " ")
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
