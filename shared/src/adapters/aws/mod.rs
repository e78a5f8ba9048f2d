//! AWS implementations of the ports: DynamoDB (storage), STS (credential checks), KMS
//! (sealing secrets), SSM parameters (secrets read at cold start). Only this module and
//! `crate::config` touch AWS SDK types.

pub mod cloudtrail;
pub mod dynamodb;
pub mod eventbridge;
pub mod federation;
pub mod iam;
pub mod identity_center;
pub mod kms;
pub mod organizations;
pub mod parameters;
pub mod s3_archive;
pub mod s3_log;
pub mod shell;
pub mod sqs;
pub mod sts;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// An SDK client created on first use. A process's first client initialises the SDK's endpoint
/// partitions (a JSON parse and regex compiles), which was a third of a function's cold init;
/// a Lambda that never touches a service never pays for its client.
pub struct LazyClient<C> {
    cell: std::sync::OnceLock<C>,
    make: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> LazyClient<C> {
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        LazyClient {
            cell: std::sync::OnceLock::new(),
            make: Box::new(make),
        }
    }

    /// A client that already exists (tests and benchmarks pass their own).
    pub fn ready(client: C) -> Self {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(client);
        LazyClient {
            cell,
            make: Box::new(|| unreachable!("the client was set at construction")),
        }
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.cell.get_or_init(|| (self.make)())
    }
}

/// The SDK's defaults with the one HTTPS client every binary here uses (`https_client`), for
/// the local runner, the tests and the tools; a Lambda builds its `SdkConfig` by hand
/// (`Config::sdk_config`). Every `SdkConfig` must carry `https_client`.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// The one HTTPS client (hyper 1, rustls, ring). The SDK crates are built without their default
/// client so that aws-lc-rs and the legacy hyper 0.14 stack stay out of the bootstraps.
///
/// The client is created on the first AWS call, not at start: building it reads and parses the
/// system's root certificates, which was most of a function's cold init (docs/benchmarks.md).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient, http_client_fn};
    static HTTPS: std::sync::OnceLock<SharedHttpClient> = std::sync::OnceLock::new();
    http_client_fn(|settings, components| {
        HTTPS
            .get_or_init(|| {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build_https()
            })
            .http_connector(settings, components)
    })
}

/// Describes an SDK failure for logs and problem details. Service errors carry AWS's code and
/// message (which never contain request secrets); transport failures say what broke.
pub(crate) fn describe<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String {
    match err {
        SdkError::ServiceError(e) => match e.err().code() {
            Some(code) => format!("{code}: {}", e.err().message().unwrap_or("no message")),
            None => {
                let (code, message) = raw_error(e.raw());
                format!(
                    "{}: {}",
                    code.unwrap_or_else(|| format!("HTTP {}", e.raw().status().as_u16())),
                    message.unwrap_or_else(|| "no message".into())
                )
            }
        },
        SdkError::TimeoutError(_) => "AWS did not answer in time".to_string(),
        SdkError::DispatchFailure(_) => "AWS could not be reached".to_string(),
        other => format!("unexpected response from AWS ({})", short_kind(other)),
    }
}

/// Some AWS-compatible endpoints (moto among them) wrap query-protocol errors in an extra
/// `<Errors>` element the SDK does not parse; read `<Code>` and `<Message>` from the body.
fn raw_error(raw: &aws_smithy_runtime_api::http::Response) -> (Option<String>, Option<String>) {
    let body = raw.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_string())
    };
    (tag("Code"), tag("Message"))
}

fn short_kind<E, R>(err: &SdkError<E, R>) -> &'static str {
    match err {
        SdkError::ConstructionFailure(_) => "request construction failed",
        SdkError::ResponseError(_) => "unreadable response",
        _ => "other",
    }
}

/// The error code of a service error, if AWS answered at all.
pub(crate) fn service_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<String> {
    match err {
        SdkError::ServiceError(e) => e.err().code().map(str::to_string).or_else(|| raw_error(e.raw()).0),
        _ => None,
    }
}
