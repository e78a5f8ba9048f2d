//! A recording wrapper around the SDK's HTTP client: which AWS operations were called and how
//! long each took. The overhead benchmark uses it to show that its direct baseline makes the
//! same backend calls as the API; tests may use it to assert what was (not) called.

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
    pub elapsed: Duration,
    pub request_bytes: usize,
    pub dynamodb_body: Option<serde_json::Value>,
}

/// Collects calls while switched on; off by default, so it costs nothing in ordinary runs.
#[derive(Debug, Default)]
pub struct CallRecorder {
    on: AtomicBool,
    calls: Mutex<Vec<BackendCall>>,
}

impl CallRecorder {
    /// Starts recording, forgetting earlier calls.
    pub fn start(&self) {
        self.calls.lock().unwrap().clear();
        self.on.store(true, Ordering::SeqCst);
    }

    /// Stops recording and returns the calls since `start`.
    pub fn stop(&self) -> Vec<BackendCall> {
        self.on.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.calls.lock().unwrap())
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
        let call = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            let result = call.await;
            let elapsed = started.elapsed();
            recorder.calls.lock().unwrap().push(BackendCall {
                operation,
                elapsed,
                request_bytes,
                dynamodb_body,
            });
            result
        })
    }
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
