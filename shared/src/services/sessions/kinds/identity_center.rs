//! Identity Center sessions: a permission set on an account, assigned through IAM Identity
//! Center to the user's identity-store user for the duration. This room owns their checks
//! (the organization's Identity Center, the user in its store, the permission set, access the
//! user already has outside the broker), their grant (the account assignment, waited for until
//! provisioned; the answer is how to use it through the access portal, never a credential),
//! and their revocation: the assignment deleted, so that the portal hands out nothing new,
//! then a deny in the permission set for what it already handed out
//! (`domain::identity_center::revocation`), provisioned to the account and read back from the
//! role there (unless the role went with the last assignment). A second live
//! grant of the same access (user, account, permission set) keeps it: only access no live
//! grant still covers is ended.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Kind, KindChecked, Start};
use crate::domain::identity_center::revocation::{CutError, IcCut, holds, with_cuts};
use crate::domain::identity_center::{IcAccess, IdentityCenterSettings, PermissionSetArn};
use crate::domain::revocation::{CONSOLE_OUTLIVES_CREDENTIALS, CREDENTIALS_MARGIN, Cut};
use crate::domain::{Account, AwsAccountId, Email, RoleArn, Secret, Session, SessionStatus};
use crate::ports::{
    CloudError, IcPrincipal, IdentityCenterAdmin, Operation, PageRequest, Progress, SealContext, SessionFilter,
    TargetIam,
};
use crate::services::sessions::{Checked, Granted, IcUse, SessionService, StartError, refused};

pub(super) struct IdentityCenter;

/// The path Identity Center gives the roles it makes (User Guide, "IAM roles created by IAM
/// Identity Center"), and the name of the inline policy it provisions to them.
const RESERVED_PATH: &str = "/aws-reserved/sso.amazonaws.com/";
const INLINE_POLICY: &str = "AwsSSOInlinePolicy";

/// How far the broker's clock may be from AWS's, which stamps `aws:TokenIssueTime`: an end's
/// deny reaches this far past it. A new grant of the same access in those seconds has its
/// first credentials refused, and fetches again.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

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

/// A permission set's inline policy is written under a lease, taken in this many attempts,
/// half a second apart, and held this long at most (a write, its provisioning and read-back).
const LEASE_ATTEMPTS: usize = 20;
const INLINE_LEASE: Duration = Duration::from_secs(120);

/// The reads-back of an end's deny from the account's role, while IAM applies it.
const READ_BACKS: [Duration; 6] = [
    Duration::from_millis(0),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

fn cloud_err(step: &str) -> impl Fn(CloudError) -> (String, CloudError) + '_ {
    move |e| (step.to_string(), e)
}

impl SessionService {
    /// The Identity Center of `account`'s organization, and a connection to it.
    async fn identity_center_of(
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
        let Some((org, settings)) = org.and_then(|o| o.identity_center.clone().map(|s| (o, s))) else {
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
    async fn same_access(&self, session: &Session, statuses: &[SessionStatus]) -> Result<Vec<Session>, String> {
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
        Ok(same)
    }
}

/// Makes a request (`make`: create or delete an assignment, provision), asked again while
/// another request on the same permission set and account is in progress (ConflictException).
async fn requested<F, Fut>(make: F) -> Result<String, CloudError>
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
async fn settled(
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
async fn outside_access(
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

#[async_trait]
impl Kind for IdentityCenter {
    async fn check(&self, svc: &SessionService, start: &Start<'_>) -> Result<KindChecked, StartError> {
        let Start { account, req, user, .. } = *start;
        if req.role.is_some() || req.target.is_some() {
            return Err(refused(
                "permission-set-not-allowed",
                "Identity Center sessions name a permission_set_arn; omit role_arn and target",
            ));
        }
        let set = req.permission_set.as_ref().ok_or_else(|| {
            refused(
                "permission-set-not-allowed",
                "permission_set_arn is required for Identity Center sessions",
            )
        })?;
        let Some((settings, admin)) = svc
            .identity_center_of(account)
            .await
            .map_err(|(step, error)| StartError::Cloud { step, error })?
        else {
            return Err(refused(
                "identity-center-not-set-up",
                format!(
                    "account {} is in no organization whose IAM Identity Center the broker reaches (PUT /organizations/{{id}}/identity-center)",
                    account.id
                ),
            ));
        };
        if !set.of(&settings.instance_arn) {
            return Err(refused(
                "permission-set-not-allowed",
                format!("{set} is not a permission set of {}", settings.instance_arn),
            ));
        }
        let cloud = |step: &str| {
            let step = step.to_string();
            move |error| StartError::Cloud {
                step: step.clone(),
                error,
            }
        };
        let found = admin
            .find_user(&settings.identity_store_id, settings.user_attribute, user.as_str())
            .await
            .map_err(cloud("find the user in the identity store"))?
            .ok_or_else(|| {
                refused(
                    "identity-center-user-not-found",
                    format!(
                        "the identity store has no user whose {} is {user}",
                        settings.user_attribute.path()
                    ),
                )
            })?;
        let info = match admin.permission_set(&settings.instance_arn, set).await {
            Ok(info) => info,
            Err(CloudError::NotFound(_)) => {
                return Err(refused("permission-set-not-allowed", format!("{set} does not exist")));
            }
            Err(e) => return Err(cloud("read the permission set")(e)),
        };
        let mut ic = IcAccess {
            permission_set: set.clone(),
            permission_set_name: info.name,
            permission_set_seconds: info.session_seconds,
            user_id: found.user_id,
            user_name: found.user_name,
            outside: None,
        };
        let probe = Session::probe(account, user, &ic);
        // An assignment a session of the broker's still holds (live, or still ending) is the
        // broker's, not access from outside it.
        let own_live = !svc
            .same_access(&probe, &[SessionStatus::Active, SessionStatus::Ending])
            .await
            .map_err(StartError::Unavailable)?
            .is_empty();
        ic.outside = outside_access(&*admin, &settings, account, &ic, own_live)
            .await
            .map_err(cloud("read the account's assignments"))?;
        Ok(KindChecked {
            identity_center: Some(ic),
        })
    }

    async fn grant(
        &self,
        svc: &SessionService,
        account: &Account,
        session: &Session,
        _checked: &Checked,
        _secret: Option<Secret>,
        _link: bool,
    ) -> Result<Granted, (String, CloudError)> {
        let ic = session.identity_center.as_ref().ok_or_else(|| {
            (
                "assign the permission set".to_string(),
                CloudError::Unavailable("no access recorded".into()),
            )
        })?;
        let (settings, admin) = svc.identity_center_of(account).await?.ok_or_else(|| {
            (
                "reach IAM Identity Center".to_string(),
                CloudError::Unavailable("the organization's Identity Center is no longer set up".into()),
            )
        })?;
        if ic.outside.is_none() {
            // Made even when another live grant made it already: creating an existing
            // assignment is answered as a success, and this one then holds it too.
            let step = "assign the permission set";
            let id = requested(|| {
                admin.create_assignment(
                    &settings.instance_arn,
                    &account.aws_account_id,
                    &ic.permission_set,
                    &ic.user_id,
                )
            })
            .await
            .map_err(cloud_err(step))?;
            settled(&*admin, &settings, Operation::AssignmentCreation, &id, step).await?;
        }
        Ok(Granted::IdentityCenter(Box::new(IcUse {
            portal_url: settings.shortcut(&account.aws_account_id, &ic.permission_set_name),
            start_url: settings.start_url.clone(),
            sso_region: settings.region.to_string(),
            permission_set_name: ic.permission_set_name.clone(),
            cli_profile: settings.cli_profile(
                &account.aws_account_id,
                &ic.permission_set_name,
                &account.default_region,
            ),
            outside: ic.outside.clone(),
        })))
    }

    // The end that won took back what was assigned by then; an assignment this start made
    // after it is taken back here.
    async fn after_lost_start(&self, svc: &SessionService, account: &Account, session: &Session) {
        if let Err(e) = end_access(svc, account, session, svc.clock.now()).await {
            tracing::warn!(session = %session.id, error = %e, "taking back a lost start's assignment failed");
        }
    }

    async fn revoke(
        &self,
        svc: &SessionService,
        session: &Session,
        _iam: &dyn TargetIam,
        now: OffsetDateTime,
        _allowed_now: &mut BTreeMap<String, Vec<RoleArn>>,
    ) -> Result<Vec<(RoleArn, Cut)>, String> {
        let account = svc
            .accounts
            .get(&session.account_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("account {} is gone", session.account_id))?;
        end_access(svc, &account, session, now).await?;
        Ok(Vec::new())
    }
}

/// Ends `session`'s access unless a live grant still covers it. The assignment goes first, so
/// that the portal hands out nothing new; then what it handed out before is refused by a deny
/// on credentials issued until now (plus the clock skew allowed with AWS), provisioned to the
/// account and read back from the permission set's role there. When no assignment is left to
/// keep that role, Identity Center has deleted it, and its sessions with it: no deny is needed.
async fn end_access(
    svc: &SessionService,
    account: &Account,
    session: &Session,
    now: OffsetDateTime,
) -> Result<(), String> {
    let Some(ic) = &session.identity_center else {
        return Err("an Identity Center session without its access".into());
    };
    if ic.outside.is_some() {
        return Ok(());
    }
    // Only an active grant keeps it: two ends of the same access at once both take it back.
    let others = svc.same_access(session, &[SessionStatus::Active]).await?;
    if let Some(other) = others.first() {
        tracing::info!(session = %session.id, kept_for = %other.id, "the same access is still granted by another live session; kept");
        return Ok(());
    }
    let show = |(step, e): (String, CloudError)| format!("{step}: {e}");
    let (settings, admin) = svc
        .identity_center_of(account)
        .await
        .map_err(show)?
        .ok_or("the organization's Identity Center is no longer set up")?;
    let instance = &settings.instance_arn;
    let target = &account.aws_account_id;
    let assigned = admin
        .assignments(instance, target, &ic.permission_set)
        .await
        .map_err(|e| format!("read the account's assignments: {e}"))?;
    if assigned.contains(&IcPrincipal::User(ic.user_id.clone())) {
        let step = "delete the assignment";
        let id = requested(|| admin.delete_assignment(instance, target, &ic.permission_set, &ic.user_id))
            .await
            .map_err(|e| format!("{step}: {e}"))?;
        settled(&*admin, &settings, Operation::AssignmentDeletion, &id, step)
            .await
            .map_err(show)?;
    }
    let iam = svc
        .target
        .connect(account)
        .await
        .map_err(|(step, e)| format!("{step}: {e}"))?;
    let Some(role) = reserved_role(&*iam, &ic.permission_set_name).await? else {
        return Ok(());
    };
    // Credentials the portal issued, and consoles opened with them, last the permission set's
    // session duration at most (the longer of then and now).
    let info = admin
        .permission_set(instance, &ic.permission_set)
        .await
        .map_err(|e| format!("read the permission set: {e}"))?;
    let lasts = Duration::from_secs(info.session_seconds.max(ic.permission_set_seconds).into());
    let at = now.max(svc.clock.now()) + CLOCK_SKEW;
    let cut = IcCut {
        user_id: ic.user_id.clone(),
        account: target.clone(),
        at,
        // A console made from them (getSigninToken) outlives them, still carrying their
        // issue time.
        until: at + lasts + CREDENTIALS_MARGIN + CONSOLE_OUTLIVES_CREDENTIALS,
    };
    // One writer of a permission set's inline policy at a time: two ends writing at once
    // would each drop the other's deny.
    let lease = format!("identity-center#{}", ic.permission_set);
    let owner = session.id.to_string();
    let mut held = false;
    for _ in 0..LEASE_ATTEMPTS {
        let t = svc.clock.now();
        if svc
            .sessions
            .lease(&lease, &owner, t, t + INLINE_LEASE)
            .await
            .map_err(|e| e.to_string())?
        {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !held {
        return Err("another end is writing this permission set's denies; retrying later".into());
    }
    let written = write_deny(&*admin, &settings, &ic.permission_set, target, &cut, now).await;
    if let Err(e) = svc.sessions.release_lease(&lease, &owner).await {
        tracing::warn!(error = %e, "releasing a permission set's lease failed; it lapses by itself");
    }
    written?;
    read_back(&*iam, &role, &cut).await
}

/// Writes `cut` into the permission set's inline policy (pruning expired denies) and provisions
/// it to `target`, waiting until it is.
async fn write_deny(
    admin: &dyn IdentityCenterAdmin,
    settings: &IdentityCenterSettings,
    set: &PermissionSetArn,
    target: &AwsAccountId,
    cut: &IcCut,
    now: OffsetDateTime,
) -> Result<(), String> {
    let instance = &settings.instance_arn;
    let inline = admin
        .inline_policy(instance, set)
        .await
        .map_err(|e| format!("read the permission set's inline policy: {e}"))?;
    let written = with_cuts(&inline, std::slice::from_ref(cut), now).map_err(|e| {
        if matches!(e, CutError::OverQuota { .. }) {
            // An alarm: the template's metric filter matches the `alarm` field.
            tracing::error!(permission_set = %set, alarm = "revocation-capacity", "{e}");
        }
        e.to_string()
    })?;
    admin
        .put_inline_policy(instance, set, written.as_deref())
        .await
        .map_err(|e| format!("write the deny into the permission set: {e}"))?;
    let step = "provision the permission set";
    let id = requested(|| admin.provision(instance, set, target))
        .await
        .map_err(|e| format!("{step}: {e}"))?;
    settled(admin, settings, Operation::Provisioning, &id, step)
        .await
        .map_err(|(step, e)| format!("{step}: {e}"))
}

/// The permission set's role in the account (`AWSReservedSSO_<name>_<suffix>`), if Identity
/// Center keeps one there.
async fn reserved_role(iam: &dyn TargetIam, set_name: &str) -> Result<Option<RoleArn>, String> {
    let prefix = format!("AWSReservedSSO_{set_name}_");
    let roles = iam
        .roles_under(RESERVED_PATH)
        .await
        .map_err(|e| format!("list the account's Identity Center roles: {e}"))?;
    // The suffix is 16 hexadecimal digits: `Admin` is not `Admin_X`'s prefix.
    Ok(roles.into_iter().find(|r| {
        r.name()
            .strip_prefix(&prefix)
            .is_some_and(|suffix| suffix.len() == 16 && suffix.chars().all(|c| c.is_ascii_hexdigit()))
    }))
}

/// Reads the deny back from the permission set's role until IAM serves it.
async fn read_back(iam: &dyn TargetIam, role: &RoleArn, cut: &IcCut) -> Result<(), String> {
    let mut last = String::new();
    for wait in READ_BACKS {
        tokio::time::sleep(wait).await;
        match iam.get_role_policy(role, INLINE_POLICY).await {
            Ok(Some(doc)) if holds(&doc, cut) => return Ok(()),
            Ok(_) => last = format!("{role} does not serve the deny yet"),
            Err(e) => last = format!("read {role}'s inline policy: {e}"),
        }
    }
    Err(last)
}

impl Session {
    /// A stand-in for a session not recorded yet, to ask which live sessions grant the same
    /// access as it would.
    fn probe(account: &Account, user: &Email, ic: &IcAccess) -> Session {
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
