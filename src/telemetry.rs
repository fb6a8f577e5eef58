//! Logging setup: `tracing` to stderr, filtered by `ROSTER_LOG` (default `info`). Each
//! request's span adds its request id to every line logged while serving it, and its close
//! event is the access log line.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_env("ROSTER_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Ignore the error when a subscriber is already set (tests build many apps).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
