//! Logging: JSON lines to stdout (CloudWatch in AWS), level from `RUST_LOG` (default info).
//! Nothing logs request bodies, headers or secrets; see `crate::http::handler`.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}
