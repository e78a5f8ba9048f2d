//! Logging: JSON lines to stdout (CloudWatch in AWS), level from `RUST_LOG` (default info).
//! Nothing logs request bodies, headers or secrets; see `crate::http::handler`.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT: &str = "info,aws_config=warn,aws_smithy_runtime=warn";

/// `RUST_LOG` takes `level` and `target=level` directives (`Targets` syntax). Not `EnvFilter`,
/// which would bring a regex engine into every bootstrap for span filters nobody sets.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| DEFAULT.parse().expect("the default directives parse"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .finish()
        .with(filter)
        .try_init();
}
