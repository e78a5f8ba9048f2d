//! Keeping a registered organization in step with AWS: new accounts appear (and are enabled
//! where the organization says so), closed ones are marked, moves between OUs follow, the
//! groups scoped by OU are worked out again, and the live sessions of accounts that left a
//! grant's scope, or closed, are ended (see `sessions::out_of_scope` for why they end).

use time::OffsetDateTime;

use super::{OrganizationError, OrganizationService};
use crate::domain::organization::{Placement, changes, tree};
use crate::domain::{AccountId, SessionId};
use crate::ports::StoredOrganization;
use crate::services::sessions::SessionService;

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub organization_id: String,
    pub accounts: usize,
    pub units: usize,
    /// AWS account ids new since the last sync.
    pub discovered: Vec<String>,
    /// AWS account ids no longer active (closing, closed, suspended, or gone).
    pub closed: Vec<String>,
    /// AWS account ids under other OUs than at the last sync.
    pub moved: Vec<String>,
    /// Broker accounts enabled by this sync (`enable_new_accounts`).
    pub enabled: Vec<AccountId>,
    pub groups_updated: usize,
    pub sessions_ended: Vec<SessionId>,
    pub synced_at: OffsetDateTime,
}

impl OrganizationService {
    /// Syncs one organization now.
    pub async fn sync(&self, id: &str, sessions: &SessionService) -> Result<SyncReport, OrganizationError> {
        let before = self.get(id).await?;
        let found = self.discover(&before.organization).await?;
        let members = tree(&found, &before.members).map_err(|e| OrganizationError::Unavailable(e.to_string()))?;
        let changed = changes(&before.members, &members);
        let now_at = self.clock.now();
        let mut now = StoredOrganization {
            organization: before.organization.clone(),
            units: found.units,
            members,
            identity_center: before.identity_center.clone(),
        };
        now.organization.synced_at = now_at;
        let enabled = if now.organization.enable_new_accounts {
            self.enable_all_new(&mut now).await
        } else {
            Vec::new()
        };
        self.store.save_tree(&before, &now).await?;

        // Each enabled account's place, where it changed (or its member is gone: closed).
        let mut left: Vec<(AccountId, bool)> = Vec::new();
        for old in before.members.iter().filter(|m| m.account_id.is_some()) {
            let account = old.account_id.clone().expect("filtered");
            let current = now.members.iter().find(|m| m.aws_account_id == old.aws_account_id);
            let placement = Placement {
                organization: now.organization.id.clone(),
                ou_path: current.map(|m| m.ou_path.clone()).unwrap_or_default(),
                state: current.map_or(crate::domain::organization::MemberState::Closed, |m| m.state),
            };
            if current.is_some_and(|m| m.ou_path == old.ou_path && m.state == old.state) {
                continue;
            }
            self.store.place(&account, Some(&placement)).await?;
            left.push((account, !placement.state.is_active()));
        }
        let groups_updated = self.resolve_groups().await?;

        let mut sessions_ended = Vec::new();
        for (account, closed) in &left {
            match sessions.end_out_of_scope(account, *closed).await {
                Ok(ended) => sessions_ended.extend(ended),
                // Left for the next sync (the account's sessions are checked again then only
                // if it moves again, so say so loudly).
                Err(e) => {
                    tracing::error!(account = %account, error = %e, "ending the sessions no grant covers any more failed")
                }
            }
        }
        // Denies of ended Identity Center sessions that nothing can still need.
        match sessions.prune_identity_center(&now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(permission_sets = n, "expired Identity Center denies dropped"),
            Err(e) => {
                tracing::warn!(error = %e, "dropping expired Identity Center denies failed; the next sync tries again")
            }
        }
        let report = SyncReport {
            organization_id: now.organization.id.to_string(),
            accounts: now.members.len(),
            units: now.units.len(),
            discovered: changed.discovered.iter().map(ToString::to_string).collect(),
            closed: changed.closed.iter().map(ToString::to_string).collect(),
            moved: changed.moved.iter().map(ToString::to_string).collect(),
            enabled: enabled.into_iter().map(|a| a.id).collect(),
            groups_updated,
            sessions_ended,
            synced_at: now_at,
        };
        let detail = serde_json::json!({
            "organization_id": report.organization_id,
            "accounts": report.accounts,
            "units": report.units,
            "discovered": report.discovered,
            "closed": report.closed,
            "moved": report.moved,
            "enabled": report.enabled.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "groups_updated": report.groups_updated,
            "sessions_ended": report.sessions_ended.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        if let Err(e) = self.events.publish("organization.synced", &detail).await {
            tracing::warn!(error = %e, "the sync's event was not put on the bus");
        }
        tracing::info!(
            organization = %report.organization_id,
            accounts = report.accounts,
            discovered = report.discovered.len(),
            closed = report.closed.len(),
            moved = report.moved.len(),
            sessions_ended = report.sessions_ended.len(),
            "organization synced"
        );
        Ok(report)
    }

    /// Syncs every registered organization (the scheduled run). One organization's failure
    /// does not stop the others'.
    pub async fn sync_all(&self, sessions: &SessionService) -> Vec<Result<SyncReport, (String, OrganizationError)>> {
        let orgs = match self.list().await {
            Ok(orgs) => orgs,
            Err(e) => return vec![Err(("*".into(), e))],
        };
        let mut out = Vec::new();
        for org in orgs {
            let id = org.id.to_string();
            out.push(self.sync(&id, sessions).await.map_err(|e| (id, e)));
        }
        out
    }
}
