//! Operational metrics in CloudWatch Embedded Metric Format: one JSON object per line on
//! stdout, which CloudWatch Logs turns into metrics in the `CloudIamBroker` namespace (the
//! template's alarms watch them; README "When an alarm fires"). Each metric is published with
//! the dimension `Function` and with none, so alarms can watch the total.
//! Tests capture the lines instead of printing them (`capture`).

use std::io::Write as _;
use std::sync::Mutex;

pub const NAMESPACE: &str = "CloudIamBroker";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    SessionsRequested,
    SessionsStarted,
    SessionsRefused,
    SessionsEnded,
    SessionsExpired,
    RevocationsFailed,
    ExpirerErrors,
    /// Seconds: now minus the due time of the oldest session already due (0 when none).
    ExpirerLag,
    Api4xx,
    Api5xx,
    DigestsWritten,
    DigestFailures,
    LogsTampered,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::SessionsRequested => "SessionsRequested",
            Metric::SessionsStarted => "SessionsStarted",
            Metric::SessionsRefused => "SessionsRefused",
            Metric::SessionsEnded => "SessionsEnded",
            Metric::SessionsExpired => "SessionsExpired",
            Metric::RevocationsFailed => "RevocationsFailed",
            Metric::ExpirerErrors => "ExpirerErrors",
            Metric::ExpirerLag => "ExpirerLag",
            Metric::Api4xx => "Api4xx",
            Metric::Api5xx => "Api5xx",
            Metric::DigestsWritten => "DigestsWritten",
            Metric::DigestFailures => "DigestFailures",
            Metric::LogsTampered => "LogsTampered",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::ExpirerLag => "Seconds",
            _ => "Count",
        }
    }
}

/// Lines kept instead of printed, while a test captures them.
static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// Where lines go instead of stdout (the local runner's log file, beside its logs).
static SINK: Mutex<Option<Box<dyn std::io::Write + Send>>> = Mutex::new(None);

/// Sends the lines to `sink` instead of stdout (stdout is what CloudWatch reads in Lambda).
pub fn write_to(sink: impl std::io::Write + Send + 'static) {
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(sink));
}

/// From now on, keep the lines (for `captured`) instead of printing them.
pub fn capture() {
    let mut captured = CAPTURED.lock().unwrap_or_else(|p| p.into_inner());
    captured.get_or_insert_with(Vec::new);
}

/// The lines emitted since `capture`.
pub fn captured() -> Vec<String> {
    CAPTURED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

/// The function's name in Lambda (`AWS_LAMBDA_FUNCTION_NAME`), `local` elsewhere.
fn function() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into()))
}

/// The EMF line for `values`, stamped `at` (Unix milliseconds).
pub fn line(values: &[(Metric, f64)], at: i128) -> String {
    let definitions: Vec<_> = values
        .iter()
        .map(|(m, _)| serde_json::json!({ "Name": m.name(), "Unit": m.unit() }))
        .collect();
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": at,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"], []],
                "Metrics": definitions,
            }],
        },
        "Function": function(),
    });
    for (m, v) in values {
        doc[m.name()] = serde_json::json!(v);
    }
    doc.to_string()
}

/// Emits `values` as one EMF line (nothing when empty).
pub fn emit(values: &[(Metric, f64)]) {
    if values.is_empty() {
        return;
    }
    let at = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let line = line(values, at);
    let mut captured = CAPTURED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(lines) = captured.as_mut() {
        lines.push(line);
        return;
    }
    match SINK.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        Some(sink) => {
            let _ = writeln!(sink, "{line}");
        }
        None => println!("{line}"),
    }
}

/// Counts one occurrence of `metric`.
pub fn count(metric: Metric) {
    emit(&[(metric, 1.0)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_emf_document_naming_each_value() {
        let doc: serde_json::Value = serde_json::from_str(&line(
            &[(Metric::ExpirerLag, 42.0), (Metric::SessionsExpired, 3.0)],
            1_700_000_000_000,
        ))
        .unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"], []]));
        assert_eq!(
            directive["Metrics"][0],
            serde_json::json!({ "Name": "ExpirerLag", "Unit": "Seconds" })
        );
        assert_eq!(
            (doc["ExpirerLag"].as_f64(), doc["SessionsExpired"].as_f64()),
            (Some(42.0), Some(3.0))
        );
        assert!(
            doc["Function"].is_string(),
            "the dimension's value is a member of the document"
        );
    }
}
