//! The `org-sync` function: run by an EventBridge schedule (every 15 minutes), it syncs every
//! registered AWS Organization (`shared::services::organizations`): new accounts appear, closed
//! ones are marked, moves between OUs follow, OU-scoped groups are worked out again, and live
//! sessions no grant covers any more are ended. Used by `main.rs` in Lambda and by the local
//! runner's timer.

use shared::App;
use shared::services::organizations::SyncReport;

/// What one run did: each organization's report, or why it failed.
#[derive(Debug)]
pub struct SyncRun {
    pub synced: Vec<SyncReport>,
    pub failed: Vec<(String, String)>,
}

/// Handles one scheduled event (its content is not needed). Fails (so the invocation counts
/// as an error, which the template alarms on) when any organization could not be synced.
pub async fn handle(app: &App, _event: serde_json::Value) -> Result<SyncRun, String> {
    let mut run = SyncRun {
        synced: Vec::new(),
        failed: Vec::new(),
    };
    for result in app.organizations.sync_all(&app.sessions).await {
        match result {
            Ok(report) => run.synced.push(report),
            Err((id, e)) => {
                tracing::error!(organization = %id, error = %e, "organization sync failed");
                run.failed.push((id, e.to_string()));
            }
        }
    }
    tracing::info!(
        synced = run.synced.len(),
        failed = run.failed.len(),
        "organization sync run"
    );
    if run.failed.is_empty() {
        Ok(run)
    } else {
        Err(format!(
            "{} organization(s) could not be synced: {}",
            run.failed.len(),
            run.failed
                .iter()
                .map(|(id, e)| format!("{id}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}
