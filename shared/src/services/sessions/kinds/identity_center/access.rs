//! Reaching an organization's IAM Identity Center for an Identity Center session: the
//! connection through the broker's role (with the organization's ExternalId), the user's other
//! sessions of the same access, the requests and the waits for them, and access the user has
//! outside the broker.

use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::identity_center::{IcAccess, IdentityCenterSettings};
use crate::domain::{Account, Email, Secret, Session, SessionStatus};
use crate::ports::{
    CloudError, IcPrincipal, IdentityCenterAdmin, Operation, PageRequest, Progress, SealContext, SessionFilter,
};
use crate::services::sessions::SessionService;

/// How long an asynchronous Identity Center request is waited for, in steps (about 20 s, inside
/// the API's 29 s with the rest of a start): assignments and provisioning take seconds.
const WAITS: [Duration; 9] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(3),
    Duration::from_secs(4),
    Duration::from_secs(5),
];

pub(super) fn cloud_err(step: &str) -> impl Fn(CloudError) -> (String, CloudError) + '_ {
    move |e| (step.to_string(), e)
}

impl SessionService {
    /// The Identity Center of `account`'s organization, and a connection to it.
    pub(super) async fn identity_center_of(
        &self,
        account: &Account,
    ) -> Result<Option<(IdentityCenterSettings, Box<dyn IdentityCenterAdmin>)>, (String, CloudError)> {
        let Some(placement) = &account.organization else {
            return Ok(None);
        };
        let step = "reach IAM Identity Center";
        let org = self
            .organizations
            .get(&placement.organization)
            .await
            .map_err(|e| (step.to_string(), CloudError::Unavailable(e.to_string())))?;
        match org {
            Some(org) => self.identity_center_in(&org).await,
            None => Ok(None),
        }
    }

    /// `org`'s Identity Center, and a connection to it (`None`: not set up).
    pub(super) async fn identity_center_in(
        &self,
        org: &crate::ports::StoredOrganization,
    ) -> Result<Option<(IdentityCenterSettings, Box<dyn IdentityCenterAdmin>)>, (String, CloudError)> {
        let step = "reach IAM Identity Center";
        let Some(settings) = org.identity_center.clone() else {
            return Ok(None);
        };
        let external_id: Secret = self
            .sealer
            .open(
                &org.organization.sealed_external_id,
                &SealContext::organization(&org.organization.id),
            )
            .await
            .map_err(|e| (step.to_string(), CloudError::Unavailable(e.to_string())))?;
        let admin = self
            .identity_center
            .connect(&settings, &self.identity_center_role, &external_id)
            .await
            .map_err(cloud_err(step))?;
        Ok(Some((settings, admin)))
    }

    /// The user's other Identity Center sessions in one of `statuses` that hold the same
    /// access as `session` through the broker's assignment (not access the user had outside it).
    pub(super) async fn same_access(
        &self,
        session: &Session,
        statuses: &[SessionStatus],
    ) -> Result<Vec<Session>, String> {
        let Some(ic) = &session.identity_center else {
            return Ok(Vec::new());
        };
        let filter = SessionFilter {
            owner: Some(session.user.clone()),
            account: Some(session.account_id.clone()),
            ..Default::default()
        };
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        let mut same = Vec::new();
        loop {
            let Some(found) = self.sessions.list(&filter, &page).await.map_err(|e| e.to_string())? else {
                break;
            };
            same.extend(found.items.into_iter().filter(|s| {
                s.id != session.id
                    && statuses.contains(&s.status)
                    && s.identity_center.as_ref().is_some_and(|o| {
                        o.outside.is_none() && o.permission_set == ic.permission_set && o.user_id == ic.user_id
                    })
            }));
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        // The listing is an index, read eventually: each candidate is read again, consistently,
        // so that two ends of one access claimed together (the expirer's batch) do not each
        // keep it for the other.
        let mut confirmed = Vec::new();
        for s in same {
            if let Some(now) = self.sessions.get(&s.id).await.map_err(|e| e.to_string())?
                && statuses.contains(&now.status)
            {
                confirmed.push(now);
            }
        }
        Ok(confirmed)
    }
}

/// Makes a request (`make`: create or delete an assignment, provision), asked again while
/// another request on the same permission set and account is in progress (ConflictException).
pub(super) async fn requested<F, Fut>(make: F) -> Result<String, CloudError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<String, CloudError>>,
{
    let mut waits = WAITS.iter();
    loop {
        match make().await {
            Err(CloudError::NotYetInEffect(why)) => match waits.next() {
                Some(wait) => tokio::time::sleep(*wait).await,
                None => return Err(CloudError::Unavailable(why)),
            },
            other => return other,
        }
    }
}

/// Waits for an asynchronous request to succeed.
pub(super) async fn settled(
    admin: &dyn IdentityCenterAdmin,
    settings: &IdentityCenterSettings,
    operation: Operation,
    id: &str,
    step: &str,
) -> Result<(), (String, CloudError)> {
    for wait in std::iter::once(Duration::ZERO).chain(WAITS) {
        tokio::time::sleep(wait).await;
        match admin
            .progress(&settings.instance_arn, operation, id)
            .await
            .map_err(cloud_err(step))?
        {
            Progress::Succeeded => return Ok(()),
            Progress::Failed(why) => return Err((step.to_string(), CloudError::Refused(why))),
            Progress::InProgress => {}
        }
    }
    Err((
        step.to_string(),
        CloudError::Unavailable(format!("IAM Identity Center had not finished request {id} after 20 s")),
    ))
}

/// Access to `ic`'s permission set in the account that the user has outside the broker: an
/// assignment to them the broker did not make (none of its live grants covers it), or one to
/// a group of theirs.
pub(super) async fn outside_access(
    admin: &dyn IdentityCenterAdmin,
    settings: &IdentityCenterSettings,
    account: &Account,
    ic: &IcAccess,
    own_live: bool,
) -> Result<Option<String>, CloudError> {
    let assigned = admin
        .assignments(&settings.instance_arn, &account.aws_account_id, &ic.permission_set)
        .await?;
    if !own_live && assigned.contains(&IcPrincipal::User(ic.user_id.clone())) {
        return Ok(Some(format!(
            "{} already has {} in account {} through an assignment the broker did not make; this session's end leaves it",
            ic.user_name, ic.permission_set_name, account.aws_account_id
        )));
    }
    let groups: Vec<&String> = assigned
        .iter()
        .filter_map(|p| match p {
            IcPrincipal::Group(g) => Some(g),
            IcPrincipal::User(_) => None,
        })
        .collect();
    if groups.is_empty() {
        return Ok(None);
    }
    let theirs = admin.groups_of(&settings.identity_store_id, &ic.user_id).await?;
    Ok(groups.into_iter().find(|g| theirs.contains(g)).map(|g| {
        format!(
            "{} already has {} in account {} through identity-store group {g}; this session's end leaves it",
            ic.user_name, ic.permission_set_name, account.aws_account_id
        )
    }))
}

impl Session {
    /// A stand-in for a session not recorded yet, to ask which live sessions grant the same
    /// access as it would.
    pub(super) fn probe(account: &Account, user: &Email, ic: &IcAccess) -> Session {
        Session {
            id: crate::domain::SessionId::generate(),
            account_id: account.id.clone(),
            aws_account_id: account.aws_account_id.clone(),
            kind: crate::domain::SessionKind::IdentityCenter,
            user: user.clone(),
            iam_user: None,
            identity_center: Some(ic.clone()),
            role: None,
            target: None,
            ssm_sessions: Vec::new(),
            duration_seconds: 0,
            reason: String::new(),
            requested_by: String::new(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            status: SessionStatus::Pending,
            ending: None,
            revocation_failures: 0,
            last_error: None,
            log_key: String::new(),
            log_head: String::new(),
            version: 0,
            credentials_expire_at: None,
            switch_roles: Vec::new(),
            request: None,
            pending_extension: None,
            extensions: Vec::new(),
            break_glass: false,
            reviewers: Vec::new(),
            review: None,
            activity_due_at: None,
            activity: None,
        }
    }
}
