//! A recording wrapper around the SDK's HTTP client: which AWS operations were called and how
//! long each took. The overhead benchmark uses it to show that its direct baseline makes the
//! same backend calls as the API; tests use it to assert what was (not) called, and to inject
//! a fault at any one call (every AWS service the broker uses passes through here).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

/// One AWS call: `service:Operation` (S3, a REST API, is `s3:METHOD`), its round trip and the
/// size of its request body. DynamoDB's request body is kept too (it holds no secrets: those are
/// sealed before they are stored), so a benchmark can replay a read exactly.
#[derive(Debug, Clone)]
pub struct BackendCall {
    pub operation: String,
    /// When the call was sent: with `elapsed`, which calls overlapped (ran concurrently) and
    /// which waited for another, for the benchmark's critical path.
    pub started: Instant,
    pub elapsed: Duration,
    pub request_bytes: usize,
    pub dynamodb_body: Option<serde_json::Value>,
}

/// What an injected fault does to one AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFault {
    /// The call fails as it does once the SDK's retries are used up (not retried again, so
    /// tests need not wait out the back-off).
    Unavailable,
    /// AWS answers 403 AccessDenied, in the service's error format.
    Refused,
    /// The process dies before the call is sent.
    CrashBefore,
    /// The call reaches AWS, then the process dies before it sees the answer.
    CrashAfter,
}

/// Collects calls while switched on; off by default, so it costs nothing in ordinary runs.
#[derive(Debug, Default)]
pub struct CallRecorder {
    on: AtomicBool,
    calls: Mutex<Vec<BackendCall>>,
    /// Calls started since `start`, counting from 0.
    started: std::sync::atomic::AtomicUsize,
    /// The fault to inject, and at which call.
    armed: Mutex<Option<(Trigger, HttpFault)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    /// The call with this index.
    At(usize),
    /// Every call of this operation (`service:Operation`), until `stop`.
    Every(String),
}

impl CallRecorder {
    /// Starts recording, forgetting earlier calls (and any fault not yet injected).
    pub fn start(&self) {
        self.calls.lock().unwrap().clear();
        self.started.store(0, Ordering::SeqCst);
        *self.armed.lock().unwrap() = None;
        self.on.store(true, Ordering::SeqCst);
    }

    /// Stops recording and returns the calls since `start`, in the order they finished.
    pub fn stop(&self) -> Vec<BackendCall> {
        self.on.store(false, Ordering::SeqCst);
        *self.armed.lock().unwrap() = None;
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Starts recording, and injects `fault` at the call with index `at` (counted from 0 in the
    /// order calls start).
    pub fn start_with_fault(&self, at: usize, fault: HttpFault) {
        self.start();
        *self.armed.lock().unwrap() = Some((Trigger::At(at), fault));
    }

    /// Starts recording, and injects `fault` at every call of `operation` (as recorded:
    /// `kms:Sign`, `s3:PUT`...) until `stop`.
    pub fn fail_every(&self, operation: &str, fault: HttpFault) {
        self.start();
        *self.armed.lock().unwrap() = Some((Trigger::Every(operation.into()), fault));
    }

    /// The fault for the call of `operation` starting now, if any.
    fn fault_for(&self, operation: &str) -> Option<HttpFault> {
        let index = self.started.fetch_add(1, Ordering::SeqCst);
        let mut armed = self.armed.lock().unwrap();
        match &*armed {
            Some((Trigger::At(at), _)) if *at == index => armed.take().map(|(_, f)| f),
            Some((Trigger::Every(op), fault)) if op == operation => Some(*fault),
            _ => None,
        }
    }

    /// `inner`, with every call recorded here.
    pub fn wrap(recorder: std::sync::Arc<CallRecorder>, inner: SharedHttpClient) -> SharedHttpClient {
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(Recording {
                inner: inner.http_connector(settings, components),
                recorder: recorder.clone(),
            })
        })
    }
}

#[derive(Debug)]
struct Recording {
    inner: SharedHttpConnector,
    recorder: std::sync::Arc<CallRecorder>,
}

impl HttpConnector for Recording {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if !self.recorder.on.load(Ordering::SeqCst) {
            return self.inner.call(request);
        }
        let operation = operation_of(&request);
        let body = request.body().bytes().unwrap_or_default();
        let request_bytes = body.len();
        let dynamodb_body = operation
            .starts_with("dynamodb:")
            .then(|| serde_json::from_slice(body).ok())
            .flatten();
        let recorder = self.recorder.clone();
        let fault = recorder.fault_for(&operation);
        let refusal = (fault == Some(HttpFault::Refused)).then(|| refused(&request, &operation));
        let call = match fault {
            Some(HttpFault::CrashBefore) => panic!("injected crash before {operation}"),
            Some(HttpFault::Unavailable | HttpFault::Refused) => None,
            _ => Some(self.inner.call(request)),
        };
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            let result = match (call, refusal) {
                (Some(call), _) => call.await,
                (None, Some(response)) => Ok(response),
                // Not an I/O error, which the SDK would retry: the retries are taken as spent.
                (None, None) => Err(aws_smithy_runtime_api::client::result::ConnectorError::other(
                    format!("injected: {operation} unavailable").into(),
                    None,
                )),
            };
            if fault == Some(HttpFault::CrashAfter) {
                panic!("injected crash after {operation}");
            }
            let elapsed = started.elapsed();
            recorder.calls.lock().unwrap().push(BackendCall {
                operation,
                started,
                elapsed,
                request_bytes,
                dynamodb_body,
            });
            result
        })
    }
}

/// A 403 AccessDenied as the service would send it: JSON for the JSON protocols (DynamoDB,
/// KMS), S3's XML, or the query protocol's XML (IAM, STS).
fn refused(request: &HttpRequest, operation: &str) -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    let json = request.headers().get("x-amz-target").is_some();
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.0",
            r#"{"__type":"AccessDeniedException","message":"injected refusal"}"#,
        )
    } else if operation.starts_with("s3:") {
        (
            "application/xml",
            "<Error><Code>AccessDenied</Code><Message>injected refusal</Message></Error>",
        )
    } else {
        (
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>injected refusal</Message></Error><RequestId>injected</RequestId></ErrorResponse>",
        )
    };
    let mut response = aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("a status"),
        aws_sdk_s3::primitives::SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", content_type);
    response
}

/// The service comes from the signature's credential scope (every client may share one
/// endpoint locally); the operation from the JSON target header or the query `Action`.
fn operation_of(request: &HttpRequest) -> String {
    let header = |name: &str| request.headers().get(name).unwrap_or_default();
    let service = header("authorization")
        .split("Credential=")
        .nth(1)
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let target = header("x-amz-target");
    if let Some((_, op)) = target.split_once('.') {
        return format!("{service}:{op}");
    }
    let body = request.body().bytes().unwrap_or_default();
    if let Some(action) = form_urlencoded::parse(body).find(|(k, _)| k == "Action") {
        return format!("{service}:{}", action.1);
    }
    format!("{service}:{}", request.method())
}
