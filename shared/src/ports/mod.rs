//! Ports: the narrow traits through which the services reach the outside world (storage,
//! the cloud, the key service, the clock). Adapters in `crate::adapters` implement them
//! for AWS; tests can implement them to inject faults.

mod activity;
mod chatops;
mod evidence;
mod identity_center;
mod not_wired;
mod organizations;
mod session_log;
mod shell;

pub use activity::{ActivityConnector, EventHistory, LookupError, LookupPage, LookupRequest, NoActivity};
pub use chatops::{ChatLinkStore, ChatNotifier, ChatResponder, SlackJobQueue};
pub use evidence::{ArchivedObject, DigestCursor, DigestCursors, EvidenceSigner, LogArchive, StoredObject};
pub use identity_center::{
    IdentityCenterAdmin, IdentityCenterConnector, NoIdentityCenter, Operation, PermissionSetInfo,
    Principal as IcPrincipal, Progress, StoreUser,
};
pub use not_wired::NotWired;
pub use organizations::{DiscoveryError, OrganizationDirectory, OrganizationStore, StoredOrganization};
pub use session_log::{EventPublisher, LogError, LogTail, NoEvents, SessionLog};
pub use shell::{Ec2Instance, ManagedNode, NoShell, ObjectDigest, ShellConnector, SsmSessionInfo, TargetShell};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    AccessGroup, AccessKeyId, Account, AccountCredentials, AccountId, AwsAccountId, CallerIdentity, Email, GroupId,
    IamGroupName, IamUserName, JitSettings, ManagedUser, Membership, PolicyArn, Region, RoleArn, Sealed, Secret,
    Session, SessionId, revocation::RoleRevocations,
};

/// A failure of a backing service, classified by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, or changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed or timed out; the operation may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// One page of a listing, with an opaque cursor for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Where a listing starts and how many items it returns.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Why a delete was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteAccountRefusal {
    #[error("the account has {0} provisioned user(s)")]
    HasUsers(u64),
    #[error("the account has {0} live session(s)")]
    HasLiveSessions(u64),
}

/// Persistence of registered accounts and their JIT and shell settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account, using up the issued ExternalId whose digest is `consumes` in the
    /// same write. `Conflict` when its AWS account is already registered or the ExternalId is
    /// no longer issued (used meanwhile, or expired at the account's creation time).
    async fn insert(&self, account: &Account, consumes: Option<&str>) -> Result<(), StoreError>;
    /// Records an ExternalId the broker issued (by digest), usable until `expires_at`.
    async fn issue_external_id(&self, digest: &str, expires_at: time::OffsetDateTime) -> Result<(), StoreError>;
    /// Whether the ExternalId with `digest` is issued, unused and unexpired at `now`.
    async fn external_id_issued(&self, digest: &str, now: time::OffsetDateTime) -> Result<bool, StoreError>;
    async fn get(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// Lists accounts oldest first. An unreadable cursor is `Ok(None)`.
    async fn list(&self, page: &PageRequest) -> Result<Option<Page<Account>>, StoreError>;
    /// Replaces the account if its stored version is still `account.version - 1`, using up the
    /// issued ExternalId whose digest is `consumes` in the same write. `Conflict` when the
    /// version moved or the ExternalId is no longer issued (used meanwhile, or expired at the
    /// account's update time); nothing is written then.
    async fn update(&self, account: &Account, consumes: Option<&str>) -> Result<(), StoreError>;
    /// Deletes the account, its JIT settings and its registration marker, atomically, unless
    /// it still has users or live sessions (checked in the same write, so no race).
    async fn delete(&self, account: &Account) -> Result<Result<(), DeleteAccountRefusal>, StoreError>;
    /// `None` when never configured.
    async fn get_jit(&self, id: &AccountId) -> Result<Option<JitSettings>, StoreError>;
    /// The account with its JIT and shell settings, in one read (what a start checks).
    async fn get_with_settings(&self, id: &AccountId) -> Result<AccountWithSettings, StoreError>;
    /// Keeps `role`'s maximum session duration in the JIT settings' review of that role, if
    /// it is still there (settings saved meanwhile are not written over).
    async fn remember_role_max(&self, id: &AccountId, role: &RoleArn, max_seconds: u32) -> Result<(), StoreError>;
    /// Writes the settings if the account still exists (`Conflict` otherwise).
    async fn put_jit(&self, id: &AccountId, settings: &JitSettings) -> Result<(), StoreError>;
    /// `None` when never configured.
    async fn get_shell(&self, id: &AccountId) -> Result<Option<crate::domain::shell::ShellSettings>, StoreError>;
    /// Writes the settings if the account still exists (`Conflict` otherwise).
    async fn put_shell(&self, id: &AccountId, settings: &crate::domain::shell::ShellSettings)
    -> Result<(), StoreError>;
}

/// An account and its settings, each `None` when absent.
#[derive(Debug)]
pub struct AccountWithSettings {
    pub account: Option<Account>,
    pub jit: Option<JitSettings>,
    pub shell: Option<crate::domain::shell::ShellSettings>,
}

/// Why credentials could not be confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// AWS answered and refused them (bad key, bad signature, denied AssumeRole…).
    #[error("{0}")]
    Rejected(String),
    /// AWS could not be reached; nothing is known about the credentials.
    #[error("{0}")]
    Unavailable(String),
}

/// Asks the cloud who a set of credentials belongs to.
#[async_trait]
pub trait CredentialVerifier: Send + Sync {
    async fn verify(&self, credentials: &AccountCredentials, region: &Region) -> Result<CallerIdentity, VerifyError>;
}

/// What a sealed secret is bound to: opening it under any other context fails, so a
/// ciphertext copied onto another account's record is useless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext(pub Vec<(&'static str, String)>);

impl SealContext {
    pub fn account(id: &AccountId) -> Self {
        SealContext(vec![("cloud-iam-broker:account-id", id.to_string())])
    }

    /// A registered organization's ExternalId.
    pub fn organization(id: &crate::domain::organization::OrganizationId) -> Self {
        SealContext(vec![("cloud-iam-broker:organization-id", id.to_string())])
    }

    /// A stored idempotent response, bound to its caller and key.
    /// Scope and key as two entries: one joined string could be split two ways.
    pub fn idempotency(scope: &str, key: &str) -> Self {
        SealContext(vec![
            ("cloud-iam-broker:idempotency-scope", scope.to_string()),
            ("cloud-iam-broker:idempotency-key", key.to_string()),
        ])
    }

    /// The one-time answer of an approved request, bound to its session.
    pub fn pickup(session: &SessionId) -> Self {
        SealContext(vec![("cloud-iam-broker:pickup", session.to_string())])
    }

    pub fn user(account: &AccountId, user: &IamUserName) -> Self {
        SealContext(vec![
            ("cloud-iam-broker:account-id", account.to_string()),
            ("cloud-iam-broker:user", user.to_string()),
        ])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key service: {0}")]
pub struct SealError(pub String);

/// Envelope encryption of secrets at rest (KMS in AWS).
#[async_trait]
pub trait SecretSealer: Send + Sync {
    async fn seal(&self, plaintext: &Secret, context: &SealContext) -> Result<Sealed, SealError>;
    async fn open(&self, sealed: &Sealed, context: &SealContext) -> Result<Secret, SealError>;
}

/// The current time; a port so tests can move it (session expiry).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
pub struct SystemClock;

/// The wall clock plus an adjustable offset: tests move time forward (to expire sessions or
/// abandon operations) without waiting.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_seconds: std::sync::atomic::AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_seconds
            .fetch_add(by.as_secs() as i64, std::sync::atomic::Ordering::SeqCst);
    }

    /// Back to the wall clock (which AWS, local or not, keeps).
    pub fn reset(&self) {
        self.offset_seconds.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(self.offset_seconds.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

// --- IAM in target accounts ---------------------------------------------------------------------

/// How to reach one registered account, with its secret opened for the duration of one
/// operation (never stored in this form).
#[derive(Debug, Clone)]
pub struct AccountAccess {
    pub aws_account_id: AwsAccountId,
    pub region: Region,
    pub credentials: AccountCredentials,
}

/// A failed call to a target account's IAM, classified by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("refused by AWS: {0}")]
    Refused(String),
    #[error("AWS unavailable: {0}")]
    Unavailable(String),
    /// STS refused a session longer than the role's maximum session duration.
    #[error("refused by AWS: {0}")]
    DurationRefused(String),
    /// AWS still refuses what a recent IAM change allows (a new key, policy or trust): IAM
    /// applies changes within seconds, not at once. A retry later succeeds.
    #[error("not yet in effect in AWS: {0}")]
    NotYetInEffect(String),
}

/// An IAM user as IAM lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamUserInfo {
    pub name: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

impl IamUserInfo {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The account's password policy, as far as generating a compliant password needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
}

/// Opens IAM sessions on target accounts.
#[async_trait]
pub trait IamConnector: Send + Sync {
    /// Connects with the account's credentials (assuming its role once, if it has one).
    async fn connect(&self, access: &AccountAccess) -> Result<Box<dyn TargetIam>, CloudError>;
}

/// IAM in one target account: the calls provisioning and deprovisioning make.
#[async_trait]
pub trait TargetIam: Send + Sync {
    async fn get_user(&self, name: &IamUserName) -> Result<Option<IamUserInfo>, CloudError>;
    /// Returns the new user's ARN.
    async fn create_user(&self, name: &IamUserName, tags: &[(String, String)]) -> Result<String, CloudError>;
    async fn delete_user(&self, name: &IamUserName) -> Result<(), CloudError>;
    /// Every IAM user of the account (all pages).
    async fn list_users(&self) -> Result<Vec<IamUserInfo>, CloudError>;
    async fn password_policy(&self) -> Result<PasswordPolicy, CloudError>;
    /// Creates the console login profile, or replaces its password.
    async fn set_login_profile(&self, name: &IamUserName, password: &Secret) -> Result<(), CloudError>;
    async fn has_login_profile(&self, name: &IamUserName) -> Result<bool, CloudError>;
    async fn delete_login_profile(&self, name: &IamUserName) -> Result<(), CloudError>;
    async fn create_access_key(&self, name: &IamUserName) -> Result<(AccessKeyId, Secret), CloudError>;
    async fn list_access_keys(&self, name: &IamUserName) -> Result<Vec<String>, CloudError>;
    async fn deactivate_access_key(&self, name: &IamUserName, key: &str) -> Result<(), CloudError>;
    async fn delete_access_key(&self, name: &IamUserName, key: &str) -> Result<(), CloudError>;
    async fn attach_policy(&self, name: &IamUserName, policy: &PolicyArn) -> Result<(), CloudError>;
    async fn detach_policy(&self, name: &IamUserName, policy: &str) -> Result<(), CloudError>;
    async fn list_attached_policies(&self, name: &IamUserName) -> Result<Vec<String>, CloudError>;
    async fn put_inline_policy(&self, name: &IamUserName, policy: &str, document: &str) -> Result<(), CloudError>;
    async fn delete_inline_policy(&self, name: &IamUserName, policy: &str) -> Result<(), CloudError>;
    async fn list_inline_policies(&self, name: &IamUserName) -> Result<Vec<String>, CloudError>;
    async fn add_to_group(&self, name: &IamUserName, group: &IamGroupName) -> Result<(), CloudError>;
    async fn remove_from_group(&self, name: &IamUserName, group: &str) -> Result<(), CloudError>;
    async fn list_groups_for_user(&self, name: &IamUserName) -> Result<Vec<String>, CloudError>;
    /// The role's MaxSessionDuration and trust policy.
    async fn get_role(&self, role: &RoleArn) -> Result<RoleInfo, CloudError>;
    async fn get_role_policy(&self, role: &RoleArn, policy: &str) -> Result<Option<String>, CloudError>;
    /// The ARNs of the roles under `path_prefix` (every page).
    async fn roles_under(&self, path_prefix: &str) -> Result<Vec<RoleArn>, CloudError>;
    async fn put_role_policy(&self, role: &RoleArn, policy: &str, document: &str) -> Result<(), CloudError>;
    async fn delete_role_policy(&self, role: &RoleArn, policy: &str) -> Result<(), CloudError>;
    /// Makes the broker's managed revocation page `page` (1..) of `role` hold `document` and be
    /// attached to the role: created on first use, then a new default version.
    async fn put_revocation_page(&self, role: &RoleArn, page: usize, document: &str) -> Result<(), CloudError>;
    /// The default version of that page as IAM serves it now, if the page exists.
    async fn get_revocation_page(&self, role: &RoleArn, page: usize) -> Result<Option<String>, CloudError>;
}

/// What the broker reads of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub max_session_seconds: u32,
    /// The trust policy document, decoded.
    pub trust_policy: String,
}

/// The revocation records of roles (`crate::domain::revocation`), the authority the roles'
/// deny policies are rendered from.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Read strongly consistently.
    async fn get_revocations(&self, role: &RoleArn) -> Result<Option<RoleRevocations>, StoreError>;
    /// Saves if the stored version is `record.version - 1` (absent for version 1);
    /// `StoreError::Conflict` otherwise.
    async fn put_revocations(&self, role: &RoleArn, record: &RoleRevocations) -> Result<(), StoreError>;
    /// `put_revocations` and, in the same write, the lease `lease` given back by `owner`:
    /// `StoreError::Conflict`, nothing written, when either is not as expected.
    async fn put_revocations_releasing(
        &self,
        role: &RoleArn,
        record: &RoleRevocations,
        lease: &str,
        owner: &str,
    ) -> Result<(), StoreError>;
}

// --- Sessions ---------------------------------------------------------------------------------

/// Temporary credentials from STS, handed to the user once.
#[derive(Debug, Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: OffsetDateTime,
}

/// An AssumeRole made with a provisioned user's own key (no role chaining).
#[derive(Debug, Clone)]
pub struct AssumeRequest {
    pub role: RoleArn,
    pub session_name: String,
    pub duration_seconds: u32,
    /// The platform user's e-mail: survives into CloudTrail and the role's conditions.
    pub source_identity: String,
    pub tags: Vec<(String, String)>,
    /// A session policy narrowing what the session may do.
    pub policy: Option<String>,
}

/// STS as the user.
#[async_trait]
pub trait RoleAssumer: Send + Sync {
    async fn assume_role(
        &self,
        as_user: &AccountAccess,
        request: &AssumeRequest,
    ) -> Result<TemporaryCredentials, CloudError>;
}

/// The AWS sign-in federation endpoint: temporary credentials into a console URL.
#[async_trait]
pub trait ConsoleFederation: Send + Sync {
    async fn signin_url(
        &self,
        credentials: &TemporaryCredentials,
        duration_seconds: u32,
        destination: &str,
    ) -> Result<String, CloudError>;
}

/// Which sessions a listing returns.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub owner: Option<Email>,
    pub account: Option<AccountId>,
    pub status: Option<crate::domain::SessionStatus>,
    /// Only break-glass sessions nobody has reviewed yet.
    pub unreviewed_break_glass: bool,
    /// Only sessions waiting for approval: pending starts, and active sessions with an
    /// extension pending.
    pub awaiting_approval: bool,
}

/// Where the one-time answer of an approved request waits for its requester: sealed, taken
/// once (a conditional delete), gone at `expires_at` in any case.
#[async_trait]
pub trait PickupStore: Send + Sync {
    async fn hold(&self, session: &SessionId, sealed: &Sealed, expires_at: OffsetDateTime) -> Result<(), StoreError>;
    /// Removes and returns what is held; `None` when nothing is (never held, or taken).
    async fn take(&self, session: &SessionId) -> Result<Option<Sealed>, StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records a new session, puts it in the due index at `due_at` (a start in progress is due
    /// soon, so that one abandoned midway is ended; its claim check moves it to its end) and
    /// counts it on its account.
    async fn create(&self, session: &Session, due_at: Option<OffsetDateTime>) -> Result<(), StoreError>;
    /// Undoes `create` for a session nothing was granted to and nobody has written since (its
    /// version is still the created one): `Conflict` otherwise.
    async fn discard(&self, session: &Session) -> Result<(), StoreError>;
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;
    async fn list(&self, filter: &SessionFilter, page: &PageRequest) -> Result<Option<Page<Session>>, StoreError>;
    /// Replaces the session if its stored version is `session.version - 1` (the claim every
    /// end, expiry and retry makes first: exactly one concurrent writer wins). `retry_at`
    /// places it in the due index (for a retry), or `None` leaves the index entry as it is.
    async fn save(&self, session: &Session, retry_at: Option<OffsetDateTime>) -> Result<(), StoreError>;
    /// Whether `iam_user` has a live console session on `account` (its lock is held).
    async fn console_session_live(&self, account: &AccountId, iam_user: &IamUserName) -> Result<bool, StoreError>;
    /// Saves a session that has ended: out of the ends' due index (into the activity
    /// snapshots', when `activity_due_at` is set), uncounted on its account.
    async fn finish(&self, session: &Session) -> Result<(), StoreError>;
    /// Sessions due at `now` from the due index, at most `limit`.
    async fn due(&self, now: OffsetDateTime, limit: u32) -> Result<Due, StoreError>;
    /// Ended sessions whose activity snapshot is due at `now`, at most `limit` (apart from
    /// `due`, so snapshots never delay an end).
    async fn activity_due(&self, now: OffsetDateTime, limit: u32) -> Result<Due, StoreError>;
    /// Takes the named lease for `owner` until `until` unless someone else holds an unexpired
    /// one: `Ok(false)` then. Serializes read-modify-write of things with no conditional
    /// writes of their own (a role's IAM policy).
    async fn lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Gives the lease back if `owner` still holds it.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;
}

// --- Users, groups, idempotency -----------------------------------------------------------------

/// Persistence of the IAM users the broker knows in each account.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Records a new user. `replacing` is the record it takes over (an unprovisioned, failed or
    /// abandoned one), checked by version; `None` means the name must be free. Users that may
    /// hold AWS resources are counted on their account in the same write.
    async fn create(&self, user: &ManagedUser, replacing: Option<&ManagedUser>) -> Result<(), StoreError>;
    async fn get(&self, account: &AccountId, name: &IamUserName) -> Result<Option<ManagedUser>, StoreError>;
    async fn list(&self, account: &AccountId, page: &PageRequest) -> Result<Option<Page<ManagedUser>>, StoreError>;
    /// Every user of the account (for policy sync and import), all pages.
    async fn all_in(&self, account: &AccountId) -> Result<Vec<ManagedUser>, StoreError>;
    /// The users of a platform user across accounts.
    async fn of_email(&self, email: &Email) -> Result<Vec<ManagedUser>, StoreError>;
    /// Replaces the record if its stored version is `user.version - 1`.
    async fn save(&self, user: &ManagedUser) -> Result<(), StoreError>;
    /// Saves an unprovisioned (or forgotten imported) user and uncounts it, atomically.
    async fn release(&self, user: &ManagedUser) -> Result<(), StoreError>;
    /// Records an imported user unless the name is known. `Ok(false)` when it was.
    async fn record_imported(&self, user: &ManagedUser) -> Result<bool, StoreError>;
    /// Removes records that hold nothing in AWS (imported, unprovisioned) of an account
    /// being deleted.
    async fn purge_released(&self, account: &AccountId) -> Result<(), StoreError>;
}

/// Persistence of access groups and their members.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// `Conflict` when the name is taken.
    async fn create(&self, group: &AccessGroup) -> Result<(), StoreError>;
    async fn get(&self, id: &GroupId) -> Result<Option<AccessGroup>, StoreError>;
    async fn list(&self, page: &PageRequest) -> Result<Option<Page<AccessGroup>>, StoreError>;
    /// Every group, every page of `list`.
    async fn all(&self) -> Result<Vec<AccessGroup>, StoreError> {
        let mut all = Vec::new();
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            let Some(p) = self.list(&page).await? else {
                return Err(StoreError::Unavailable(
                    "the group listing refused its own cursor".into(),
                ));
            };
            all.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }
    /// Replaces the group (version-checked); moves the name's uniqueness marker if renamed.
    async fn update(&self, group: &AccessGroup, previous_name: &str) -> Result<(), StoreError>;
    /// Deletes the group and its memberships.
    async fn delete(&self, group: &AccessGroup) -> Result<(), StoreError>;
    /// `Ok(false)` when already a member; `Conflict` when the group is gone.
    async fn add_member(&self, membership: &Membership) -> Result<bool, StoreError>;
    /// `Ok(false)` when not a member.
    async fn remove_member(&self, group: &GroupId, email: &Email) -> Result<bool, StoreError>;
    async fn members(&self, group: &GroupId, page: &PageRequest) -> Result<Option<Page<Membership>>, StoreError>;
    /// The groups a platform user belongs to.
    async fn groups_of(&self, email: &Email) -> Result<Vec<AccessGroup>, StoreError>;
}

/// A response remembered under an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What a first look at an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new: this request runs.
    Claimed,
    /// Same key, same request, already answered: replay this.
    Replay(StoredResponse),
    /// Same key, same request, still running elsewhere.
    InProgress,
    /// Same key with a different request.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` (scoped to the caller) for the request with fingerprint `fingerprint`.
    /// `now` is the broker's clock (tests move it instead of waiting a claim out).
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError>;
    async fn complete(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), StoreError>;
    /// Forgets a claim whose request failed in a way a retry should redo.
    async fn release(&self, scope: &str, key: &str) -> Result<(), StoreError>;
}

/// What one read of the due index found.
#[derive(Debug, Default)]
pub struct Due {
    pub sessions: Vec<Session>,
    /// Items read (what DynamoDB evaluated and bills).
    pub read: usize,
    /// Items that could not be decoded: skipped, so that one bad record never stops a run
    /// (the adapter logs each one's key with an alarm field).
    pub undecodable: usize,
}

/// Who each person is: an identity provider's (issuer, subject), bound to one e-mail at first
/// use, so that a user who edits their e-mail at the provider does not become someone else.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Binds (issuer, subject) and `email` to each other; `Conflict` when either is bound.
    async fn bind(&self, issuer: &str, subject: &str, email: &Email) -> Result<(), StoreError>;
    /// What each side is bound to: the e-mail of (issuer, subject), and the (issuer, subject)
    /// of `email`.
    async fn bindings(
        &self,
        issuer: &str,
        subject: &str,
        email: &Email,
    ) -> Result<(Option<Email>, Option<(String, String)>), StoreError>;
    /// Releases `email` and the identity bound to it; `Ok(false)` when it was not bound.
    async fn unbind(&self, email: &Email) -> Result<bool, StoreError>;
}

/// Remembers signed requests seen within their replay window.
#[async_trait]
pub trait ReplayGuard: Send + Sync {
    /// `Ok(true)` the first time `id` is seen; `Ok(false)` on a replay. The record is kept
    /// until `until` (past the window in which the request would be accepted).
    async fn first_use(&self, id: &str, until: OffsetDateTime) -> Result<bool, StoreError>;
}

/// Per caller and day, how many session starts were refused.
#[async_trait]
pub trait RefusalCounter: Send + Sync {
    /// Adds one to `caller`'s count for `day` (kept until `until`) and returns the new count.
    async fn count_refusal(&self, caller: &str, day: &str, until: OffsetDateTime) -> Result<u64, StoreError>;
}
