//! The kinds of session as rooms: each kind's module owns what it checks of a start, how it
//! grants and what it hands out once, how it is extended and how it is revoked, behind one
//! trait (`Kind`); `room` is the one place that tells them apart. The shared machinery (the
//! checks every kind makes, the record, the log, approvals, events, the expirer) calls it.
//! What a kind is without AWS (its name, who may start it, whose calls its activity is) is
//! `crate::domain::kind`'s.

mod console;
mod identity_center;
mod jit;
mod shell;

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Checked, ExtendError, Granted, SessionService, StartError, StartRequest};
use crate::auth::Principal;
use crate::domain::identity_center::IcAccess;
use crate::domain::revocation::Cut;
use crate::domain::shell::ShellSettings;
use crate::domain::{AccessGroup, Account, Email, JitSettings, ManagedUser, RoleArn, Secret, Session, SessionKind};
use crate::ports::{CloudError, TargetIam};
use crate::services::sessions::revoking::role_session_cut;

/// The room of `kind`.
pub(super) fn room(kind: SessionKind) -> &'static dyn Kind {
    match kind {
        SessionKind::Jit => &jit::Jit,
        SessionKind::Console => &console::Console,
        SessionKind::Shell => &shell::Shell,
        SessionKind::IdentityCenter => &identity_center::IdentityCenter,
    }
}

/// What a start's own checks look at: the request, and what the checks every kind makes read
/// and established before them.
pub(super) struct Start<'a> {
    pub(super) principal: &'a Principal,
    pub(super) user: &'a Email,
    pub(super) account: &'a Account,
    pub(super) req: &'a StartRequest,
    pub(super) groups: &'a [AccessGroup],
    pub(super) jit: &'a JitSettings,
    /// The user's IAM user in the account, provisioned (for the kinds given through one).
    pub(super) iam_user: Option<&'a ManagedUser>,
    /// The kind's own settings (`Kind::settings`).
    pub(super) shell: Option<&'a ShellSettings>,
    pub(super) duration: u32,
    /// Made again for the approval completing a request, whose own console lock (or the grant
    /// itself) settles a live console session.
    pub(super) approved: bool,
    /// Whether the user's IAM user in the account has a live console session.
    pub(super) console_live: bool,
}

impl Start<'_> {
    /// The user's IAM user, for the kinds given through one (the shared checks required it).
    pub(super) fn its_iam_user(&self) -> &ManagedUser {
        self.iam_user.expect("checked: the kind is given through an IAM user")
    }
}

/// What a kind's own checks established, for its grant and its record.
#[derive(Debug, Default)]
pub(super) struct KindChecked {
    /// An Identity Center session's access: the permission set and the user in the store.
    pub(super) identity_center: Option<IcAccess>,
}

/// What an end does with the Session Manager sessions a session's access opened, once its
/// access is revoked. Ordered: a batch's account is reached for the most any session needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SsmAtEnd {
    /// Nothing: its access opens none.
    Nothing,
    /// Terminated and logged, best effort, once the deny holds: the deny is the revocation.
    Sweep,
    /// Terminated and recorded with their transcripts as part of the revocation (a failure
    /// fails the end), and swept again once IAM has applied the deny.
    Close,
}

/// One kind of session, as the shared machinery asks it.
#[async_trait]
pub(super) trait Kind: Send + Sync {
    // What it checks: after the account is found active, and before the duration, the grant
    // policy and the user's IAM user are checked.

    /// Its own settings, when its maximum and its role come from them rather than from the JIT
    /// settings; refused when they do not allow it.
    fn settings(
        &self,
        _account: &Account,
        _shell: Option<&ShellSettings>,
    ) -> Result<Option<Box<ShellSettings>>, StartError> {
        Ok(None)
    }

    /// Its own checks of a start, once the shared ones passed.
    async fn check(&self, svc: &SessionService, start: &Start<'_>) -> Result<KindChecked, StartError>;

    /// The JIT roles a session of this kind may switch into.
    fn switch_roles(&self, _start: &Start<'_>) -> Vec<RoleArn> {
        Vec::new()
    }

    /// Whether its role comes from its settings, not from the request: an approval's
    /// recheck then asks for none, as the request did not.
    fn role_from_settings(&self) -> bool {
        false
    }

    // How it grants, and what it hands out once.

    /// Grants a recorded session its access in AWS. `secret`: the user's key, when the caller
    /// opened it already. `link`: whether a console sign-in link is fetched here.
    async fn grant(
        &self,
        svc: &SessionService,
        account: &Account,
        session: &Session,
        checked: &Checked,
        secret: Option<Secret>,
        link: bool,
    ) -> Result<Granted, (String, CloudError)>;

    /// What a start whose session an end won while it granted takes back beyond what that
    /// end revoked.
    async fn after_lost_start(&self, _svc: &SessionService, _account: &Account, _session: &Session) {}

    // How it is extended.

    /// Whether it may be extended at all (asked before anything is read).
    fn extendable(&self) -> Result<(), ExtendError> {
        Ok(())
    }

    /// What an extension checks of the settings as they are now, before the grant policy.
    fn check_extension_settings(&self, _session: &Session, _jit: &JitSettings) -> Result<(), ExtendError> {
        Ok(())
    }

    /// After the grant policy: the IAM user an extension's fresh grant is made with, read and
    /// checked now (with what else the grant needs); `None` when an extension issues nothing.
    async fn extension_user(
        &self,
        _svc: &SessionService,
        _session: &Session,
        _account: &Account,
        _remaining: u32,
    ) -> Result<Option<ManagedUser>, ExtendError> {
        Ok(None)
    }

    /// Its end moved to `new_end` by an extension, before anything is issued.
    fn extension_claimed(&self, _session: &mut Session, _new_end: OffsetDateTime) {}

    // How it is revoked.

    /// Takes its access back: what it does in AWS itself, and the cuts to write on roles (the
    /// caller batches those per role). `now`: the batch's time; `allowed_now` remembers each
    /// account's JIT roles across a batch.
    /// By default: the cut of the role session the kind handed out (JIT and shell).
    async fn revoke(
        &self,
        _svc: &SessionService,
        session: &Session,
        _iam: &dyn TargetIam,
        now: OffsetDateTime,
        _allowed_now: &mut BTreeMap<String, Vec<RoleArn>>,
    ) -> Result<Vec<(RoleArn, Cut)>, String> {
        role_session_cut(session, now)
    }

    /// What its end does with the Session Manager sessions its access opened.
    fn at_end(&self) -> SsmAtEnd {
        SsmAtEnd::Nothing
    }
}
