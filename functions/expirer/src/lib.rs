//! The `expirer` function: run by an EventBridge schedule (every minute), it ends every
//! session whose time is up and retries ends that failed or were interrupted, then copies ended
//! sessions' activity from CloudTrail into their logs, then writes the session logs' signed
//! digests due (docs/evidence.md). Used by
//! `main.rs` in Lambda and by the local runner's timer.

use shared::App;
use shared::services::sessions::ExpiryReport;

/// Sessions handled per run at most; the rest wait for the next minute. Claims and finishes
/// run 16 at a time and revocations are one batch per role, so 1 000 fit the 120 s timeout.
pub const BATCH: u32 = 1_000;

/// Activity snapshots start no CloudTrail call after this long into a run, leaving the rest of
/// the 120 s timeout to the digests.
pub const SNAPSHOTS_UNTIL: std::time::Duration = std::time::Duration::from_secs(75);

/// Handles one scheduled event (its content is not needed: the time is the clock's).
pub async fn handle(app: &App, _event: serde_json::Value) -> Result<ExpiryReport, String> {
    let began = std::time::Instant::now();
    use shared::metrics::{Metric, emit};
    let report = match app.sessions.expire_due(BATCH).await {
        Ok(report) => report,
        Err(e) => {
            emit(&[(Metric::ExpirerErrors, 1.0)]);
            return Err(e.to_string());
        }
    };
    tracing::info!(
        items_read = report.items_read,
        expired = report.expired,
        retried = report.retried,
        failed = report.failed,
        skipped = report.skipped,
        undecodable = report.undecodable,
        lag_seconds = report.lag_seconds,
        "expirer run"
    );
    // After the ends, which must not wait: the activity of sessions ended long enough ago
    // for CloudTrail to have delivered it, into their logs (before the digests, which then
    // vouch for the copies within the hour).
    let activity = match app
        .sessions
        .snapshot_activity_due(shared::services::sessions::SNAPSHOTS_PER_RUN, began + SNAPSHOTS_UNTIL)
        .await
    {
        Ok(report) => report,
        Err(e) => {
            tracing::warn!(error = %e, "activity snapshots could not be read; they stay due");
            shared::services::sessions::SnapshotReport::default()
        }
    };
    tracing::info!(
        copied = activity.copied,
        retried = activity.retried,
        abandoned = activity.abandoned,
        "activity snapshots"
    );
    // After the ends, which must not wait: the digests of the hours gone by.
    let digests = app.evidence.write_due().await;
    tracing::info!(
        written = digests.written,
        failed = digests.failed,
        refused = digests.refused,
        "evidence digests"
    );
    // Every run reports its lag, 0 included: no figure at all means no run (an alarm).
    emit(&[
        (Metric::ExpirerLag, report.lag_seconds as f64),
        (Metric::ExpirerErrors, (report.failed + report.undecodable) as f64),
        (Metric::DigestsWritten, digests.written.into()),
        (Metric::DigestFailures, digests.failed.into()),
        (Metric::LogsTampered, digests.refused.into()),
    ]);
    Ok(report)
}
