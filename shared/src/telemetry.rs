//! Logging: JSON lines to stdout (CloudWatch in AWS), level from `RUST_LOG` (default info).
//! Nothing logs request bodies, headers or secrets; see `crate::http::handler`.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT: &str = "info,aws_config=warn,aws_smithy_runtime=warn";

/// `RUST_LOG` takes `level` and `target=level` directives (`Targets` syntax). Not `EnvFilter`,
/// which would bring a regex engine into every bootstrap for span filters nobody sets.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .finish()
        .with(filter())
        .try_init();
}

/// The same JSON lines, appended to `file` (the local runner keeps its terminal for people).
pub fn init_to_file(file: std::fs::File) {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::sync::Mutex::new(file))
        .finish()
        .with(filter())
        .try_init();
}

fn filter() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| DEFAULT.parse().unwrap_or_default())
}
