//! How an Identity Center session's access is taken back (`end_access`): the assignment, then
//! the deny in the permission set, provisioned and read back; and the denies dropped once
//! nothing they cover can still be live (`SessionService::prune_identity_center`).

use std::time::Duration;

use time::OffsetDateTime;

use super::access::{requested, settled};
use crate::domain::identity_center::revocation::{CutError, IcCut, expired_dropped, holds, with_cuts};
use crate::domain::identity_center::{IdentityCenterSettings, PermissionSetArn};
use crate::domain::revocation::{CONSOLE_OUTLIVES_CREDENTIALS, CREDENTIALS_MARGIN};
use crate::domain::{Account, AwsAccountId, RoleArn, Session, SessionStatus};
use crate::ports::{CloudError, IcPrincipal, IdentityCenterAdmin, Operation, TargetIam};
use crate::services::sessions::SessionService;

/// The path Identity Center gives the roles it makes (User Guide, "IAM roles created by IAM
/// Identity Center"), and the name of the inline policy it provisions to them.
const RESERVED_PATH: &str = "/aws-reserved/sso.amazonaws.com/";
const INLINE_POLICY: &str = "AwsSSOInlinePolicy";

/// How far the broker's clock may be from AWS's, which stamps `aws:TokenIssueTime`: an end's
/// deny reaches this far past it. A new grant of the same access in those seconds has its
/// first credentials refused, and fetches again.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// A permission set's inline policy is written under a lease, taken in this many attempts,
/// half a second apart, and held this long at most (a write, its provisioning and read-back).
const LEASE_ATTEMPTS: usize = 20;
const INLINE_LEASE: Duration = Duration::from_secs(120);
/// A sync's pruning: inline policies read at once (IAM Identity Center's admin API is shared by
/// the starts and ends running meanwhile, and throttles), and how long it goes on reading the
/// sets no group names and starting rewrites (a sync through the API answers within API
/// Gateway's 29 s; what is left waits for the next sync).
const PRUNE_READS_AT_ONCE: usize = 2;
const PRUNE_BUDGET: Duration = Duration::from_secs(8);

/// The reads-back of an end's deny from the account's role, while IAM applies it.
const READ_BACKS: [Duration; 6] = [
    Duration::from_millis(0),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Ends `session`'s access unless a live grant still covers it. The assignment goes first, so
/// that the portal hands out nothing new; then what it handed out before is refused by a deny
/// on credentials issued until now (plus the clock skew allowed with AWS), provisioned to the
/// account and read back from the permission set's role there. When no assignment is left to
/// keep that role, Identity Center has deleted it, and its sessions with it: no deny is needed.
/// `reached`: IAM in the account, where the caller reached it already.
pub(super) async fn end_access(
    svc: &SessionService,
    account: &Account,
    session: &Session,
    now: OffsetDateTime,
    reached: Option<&dyn TargetIam>,
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
    // A permission set deleted since has no assignments left to delete.
    let assigned = match admin.assignments(instance, target, &ic.permission_set).await {
        Err(CloudError::NotFound(_)) => Vec::new(),
        other => other.map_err(|e| format!("read the account's assignments: {e}"))?,
    };
    if assigned.contains(&IcPrincipal::User(ic.user_id.clone())) {
        let step = "delete the assignment";
        let id = requested(|| admin.delete_assignment(instance, target, &ic.permission_set, &ic.user_id))
            .await
            .map_err(|e| format!("{step}: {e}"))?;
        settled(&*admin, &settings, Operation::AssignmentDeletion, &id, step)
            .await
            .map_err(show)?;
    }
    // IAM in the account: the one the end's batch reached already, or reached here.
    let connected;
    let iam: &dyn TargetIam = match reached {
        Some(iam) => iam,
        None => {
            connected = svc
                .target
                .connect(account)
                .await
                .map_err(|(step, e)| format!("{step}: {e}"))?;
            &*connected
        }
    };
    let Some(role) = reserved_role(iam, &ic.permission_set_name).await? else {
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
    read_back(iam, &role, &cut).await
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

impl SessionService {
    /// Drops the broker's denies that nothing can still need from the permission sets of
    /// `org`'s Identity Center, and provisions each set to the accounts whose denies went (their
    /// roles keep them until then, harmlessly). Each organization sync runs it, so denies go
    /// even when no later end of the same permission set would drop them.
    ///
    /// The sets a group names are read every time. The instance's other sets (a set a group
    /// named once may still hold denies) are read too where the role may list them
    /// (`sso:ListPermissionSets`, which stacks made before it lack: then the groups' sets alone),
    /// `PRUNE_READS_AT_ONCE` at a time, in a random order, until `PRUNE_BUDGET` is spent, so that
    /// a sync through the API stays well inside its timeout; each sync reads a different share
    /// of a large instance's. A set the role may not read (outside the deployment's
    /// `PermissionSetArns`) holds none of the broker's denies. A set is leased only when it has
    /// denies to drop, and no rewrite starts once the budget is spent. Returns how many
    /// permission sets were rewritten.
    pub async fn prune_identity_center(&self, org: &crate::ports::StoredOrganization) -> Result<usize, String> {
        use futures::StreamExt;
        use rand::seq::SliceRandom;

        let show = |(step, e): (String, CloudError)| format!("{step}: {e}");
        let Some((settings, admin)) = self.identity_center_in(org).await.map_err(show)? else {
            return Ok(0);
        };
        let began = std::time::Instant::now();
        let instance = &settings.instance_arn;
        let mut named: Vec<PermissionSetArn> = self
            .groups
            .all()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .flat_map(|g| g.policy.permission_sets.unwrap_or_default())
            .filter(|set| set.of(instance))
            .collect();
        named.sort();
        named.dedup();
        let mut others = match admin.permission_sets(instance).await {
            Ok(all) => all.into_iter().filter(|set| !named.contains(set)).collect(),
            Err(CloudError::Refused(e)) => {
                tracing::info!(error = %e, "the Identity Center role may not list permission sets (its stack predates sso:ListPermissionSets); only the sets groups name are pruned");
                Vec::new()
            }
            Err(e) => return Err(format!("list the permission sets: {e}")),
        };
        others.shuffle(&mut rand::rng());
        let now = self.clock.now();
        let read = |set: PermissionSetArn, budgeted: bool| {
            let admin = &admin;
            async move {
                if budgeted && began.elapsed() > PRUNE_BUDGET {
                    return None;
                }
                match admin.inline_policy(instance, &set).await {
                    Ok(inline) => expired_dropped(&inline, now).is_some().then_some(set),
                    Err(CloudError::Refused(_)) => None,
                    Err(e) => {
                        tracing::warn!(permission_set = %set, error = %e, "reading a permission set's denies failed; the next sync tries again");
                        None
                    }
                }
            }
        };
        let to_prune: Vec<PermissionSetArn> = futures::stream::iter(
            named
                .into_iter()
                .map(|s| (s, false))
                .chain(others.into_iter().map(|s| (s, true))),
        )
        .map(|(set, budgeted)| read(set, budgeted))
        .buffer_unordered(PRUNE_READS_AT_ONCE)
        .filter_map(|found| async move { found })
        .collect()
        .await;
        let mut rewritten = 0;
        for set in to_prune {
            if began.elapsed() > PRUNE_BUDGET {
                tracing::info!("pruning Identity Center denies ran out of this sync's time; the next sync goes on");
                break;
            }
            // Under the same lease as the ends that write the set's denies.
            let lease = format!("identity-center#{set}");
            let owner = format!("prune-{}", org.organization.id);
            let now = self.clock.now();
            if !self
                .sessions
                .lease(&lease, &owner, now, now + INLINE_LEASE)
                .await
                .map_err(|e| e.to_string())?
            {
                continue;
            }
            let pruned = prune_one(&*admin, &settings, &set, now).await;
            if let Err(e) = self.sessions.release_lease(&lease, &owner).await {
                tracing::warn!(error = %e, "releasing a permission set's lease failed; it lapses by itself");
            }
            // One set failing leaves the others to be pruned.
            match pruned {
                Ok(true) => rewritten += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(permission_set = %set, error = %e, "dropping expired denies failed; the next sync tries again")
                }
            }
        }
        Ok(rewritten)
    }
}

/// Drops one permission set's expired denies; whether it was rewritten.
async fn prune_one(
    admin: &dyn IdentityCenterAdmin,
    settings: &IdentityCenterSettings,
    set: &PermissionSetArn,
    now: OffsetDateTime,
) -> Result<bool, String> {
    let instance = &settings.instance_arn;
    let inline = admin
        .inline_policy(instance, set)
        .await
        .map_err(|e| format!("read {set}'s inline policy: {e}"))?;
    let Some((left, accounts)) = expired_dropped(&inline, now) else {
        return Ok(false);
    };
    admin
        .put_inline_policy(instance, set, left.as_deref())
        .await
        .map_err(|e| format!("rewrite {set}'s inline policy: {e}"))?;
    for account in accounts {
        // Not waited for: a deny left on a role a little longer refuses nothing live.
        if let Err(e) = requested(|| admin.provision(instance, set, &account)).await {
            tracing::warn!(permission_set = %set, account = %account, error = %e, "provisioning a pruned permission set failed; the next provisioning carries it");
        }
    }
    Ok(true)
}
