//! Ending the live sessions that no grant covers any more, after an organization sync moved
//! or closed their account: the OU scope was the grant, and access that outlives its grant is
//! access nobody gave. Each end is an ordinary end (revoked, logged, on the bus) whose reason
//! says why, which is how admins are told.

use crate::domain::policy::offer;
use crate::domain::{AccountId, Session, SessionId, SessionStatus};
use crate::ports::{PageRequest, SessionFilter};

use super::{SessionError, SessionService};

/// Who the log names for these ends. The reasons are slugs (docs/events.md): `out-of-scope`,
/// the account left the units that granted the session; `account-closed`, it closed.
const BY: &str = "cloud-iam-broker (organization sync)";

impl SessionService {
    /// Ends every active session on `account` that its owner's groups no longer grant, or
    /// every one if `closed`. Returns the sessions ended.
    pub async fn end_out_of_scope(&self, account: &AccountId, closed: bool) -> Result<Vec<SessionId>, SessionError> {
        let filter = SessionFilter {
            account: Some(account.clone()),
            status: Some(SessionStatus::Active),
            ..SessionFilter::default()
        };
        let mut live: Vec<Session> = Vec::new();
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            let p = self
                .sessions
                .list(&filter, &page)
                .await?
                .ok_or(SessionError::BadCursor)?;
            live.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let mut ended = Vec::new();
        for session in live {
            let reason = if closed {
                "account-closed"
            } else {
                let groups = self.groups.groups_of(&session.user).await?;
                let granted = offer(
                    &groups,
                    account,
                    session.kind,
                    session.role.as_ref(),
                    session.identity_center.as_ref().map(|ic| &ic.permission_set),
                    u32::MAX,
                )
                .is_some();
                if granted {
                    continue;
                }
                "out-of-scope"
            };
            let id = session.id.clone();
            let status = match self.end_claimed(session, BY, reason, SessionStatus::Ended).await {
                Ok(done) => done.status,
                // A closed account refuses the broker too: the end stays claimed (`ending`),
                // the expirer retries it and the revocation alarm tells the admins; AWS
                // itself refuses the session's credentials in a closed account.
                Err(e) => {
                    tracing::error!(session = %id, account = %account, error = %e, "ending a session no grant covers any more failed; the expirer retries it");
                    self.sessions
                        .get(&id)
                        .await?
                        .map_or(SessionStatus::Active, |s| s.status)
                }
            };
            tracing::warn!(session = %id, account = %account, reason, ?status, "a session no grant covers any more was ended");
            if status != SessionStatus::Active {
                ended.push(id);
            }
        }
        Ok(ended)
    }
}
