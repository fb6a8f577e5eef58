//! Logging setup: `tracing` to stderr, filtered by `ROSTER_LOG` (default `info`), as text
//! or as one JSON object per line (`log.format`). Each request's span adds its request id
//! to every line logged while serving it; `web::middleware::RequestSpan` writes the access
//! line (route pattern, status, latency, actor), never a path, since links carry tokens.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(default_filter: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("ROSTER_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // Ignore the error when a subscriber is already set (tests build many apps).
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // Event fields at the top level; the request span's (request_id, method) under
        // "span", so every line logged while serving a request names it.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
