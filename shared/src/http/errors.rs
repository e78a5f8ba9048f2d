//! The one place where each operation's error becomes an HTTP problem.

use super::Problem;
use crate::auth::AuthError;
use crate::authz::Denied;
use crate::ports::CloudError;
use crate::services::accounts::{
    DeleteAccountError, GetAccountError, JitSettingsError, ListAccountsError, RegisterAccountError, UpdateAccountError,
};
use crate::services::groups::GroupError;
use crate::services::organizations::OrganizationError;
use crate::services::sessions::{SessionError, StartError};
use crate::services::users::{ProvisionError, UserOpError};

/// Logs the cause of a 503 (the response carries none of it).
fn unavailable(cause: &str) -> Problem {
    tracing::error!(cause, "backing service failed");
    Problem::unavailable()
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::KeysUnavailable => unavailable("JWKS unavailable"),
            AuthError::Unavailable => unavailable("identity bindings unavailable"),
            AuthError::Forbidden(why) => Problem::forbidden(why),
            AuthError::IdentityConflict(why) => Problem::new(
                http::StatusCode::FORBIDDEN,
                "identity-conflict",
                "This sign-in and this e-mail address belong to different people",
                why,
            ),
            other => Problem::unauthorized(other.to_string()),
        }
    }
}

impl From<RegisterAccountError> for Problem {
    fn from(e: RegisterAccountError) -> Self {
        match e {
            RegisterAccountError::InvalidCredentials(_) => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-credentials",
                "AWS rejected the credentials",
                e.to_string(),
            ),
            RegisterAccountError::AccountMismatch { .. } => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "account-mismatch",
                "The credentials reach another AWS account",
                e.to_string(),
            ),
            RegisterAccountError::AlreadyRegistered(_) => Problem::conflict("already-registered", e.to_string()),
            RegisterAccountError::OwnAccount(_) => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "own-account",
                "The broker's own AWS account cannot be registered",
                e.to_string(),
            ),
            RegisterAccountError::ExternalIdNotIssued => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "external-id-not-issued",
                "The ExternalId was not issued by this broker",
                e.to_string(),
            ),
            RegisterAccountError::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<GetAccountError> for Problem {
    fn from(e: GetAccountError) -> Self {
        match e {
            GetAccountError::NotFound(_) => Problem::not_found(e.to_string()),
            GetAccountError::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<ListAccountsError> for Problem {
    fn from(e: ListAccountsError) -> Self {
        match e {
            ListAccountsError::BadCursor => Problem::bad_request(e.to_string()),
            ListAccountsError::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<UpdateAccountError> for Problem {
    fn from(e: UpdateAccountError) -> Self {
        match e {
            UpdateAccountError::NotFound(_) => Problem::not_found(e.to_string()),
            UpdateAccountError::InvalidCredentials(_) => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-credentials",
                "AWS rejected the credentials",
                e.to_string(),
            ),
            UpdateAccountError::AccountMismatch { .. } => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "account-mismatch",
                "The credentials reach another AWS account",
                e.to_string(),
            ),
            UpdateAccountError::Conflict => Problem::conflict("concurrent-update", e.to_string()),
            UpdateAccountError::ExternalIdNotIssued => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "external-id-not-issued",
                "The ExternalId was not issued by this broker",
                e.to_string(),
            ),
            UpdateAccountError::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<DeleteAccountError> for Problem {
    fn from(e: DeleteAccountError) -> Self {
        match e {
            DeleteAccountError::NotFound(_) => Problem::not_found(e.to_string()),
            DeleteAccountError::InUse(_) => Problem::conflict("account-in-use", e.to_string()),
            DeleteAccountError::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<JitSettingsError> for Problem {
    fn from(e: JitSettingsError) -> Self {
        match e {
            JitSettingsError::NotFound(_) => Problem::not_found(e.to_string()),
            JitSettingsError::DuplicateRole { second, .. } => Problem {
                errors: vec![crate::domain::FieldError {
                    field: format!("allowed_role_arns[{second}]"),
                    message: "names the same IAM role as an earlier entry".into(),
                }],
                ..Problem::new(
                    http::StatusCode::UNPROCESSABLE_ENTITY,
                    "duplicate-role",
                    "A role is listed twice",
                    e.to_string(),
                )
            },
            JitSettingsError::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<crate::services::shell_settings::ShellSettingsError> for Problem {
    fn from(e: crate::services::shell_settings::ShellSettingsError) -> Self {
        use crate::services::shell_settings::ShellSettingsError as E;
        match e {
            E::NotFound(_) | E::NotConfigured(_) => Problem::not_found(e.to_string()),
            E::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<crate::services::evidence::EvidenceError> for Problem {
    fn from(e: crate::services::evidence::EvidenceError) -> Self {
        use crate::services::evidence::EvidenceError as E;
        match e {
            E::NotFound => Problem::not_found(e.to_string()),
            E::Disabled => Problem::conflict("evidence-disabled", e.to_string()),
            E::BadRange(_) => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-range",
                "The date range cannot be verified",
                e.to_string(),
            ),
            E::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<crate::services::sessions::TranscriptError> for Problem {
    fn from(e: crate::services::sessions::TranscriptError) -> Self {
        use crate::services::sessions::TranscriptError as E;
        match e {
            E::Session(e) => e.into(),
            E::NotFound(_) => Problem::not_found(e.to_string()),
            E::Cloud { step, error } => cloud(&step, &error, false),
        }
    }
}

impl From<crate::services::sessions::ActivityError> for Problem {
    fn from(e: crate::services::sessions::ActivityError) -> Self {
        use crate::services::sessions::ActivityError as E;
        match e {
            E::Session(e) => e.into(),
            E::Cloud { step, error } => cloud(&step, &error, false),
        }
    }
}

impl From<Denied> for Problem {
    fn from(d: Denied) -> Self {
        Problem::forbidden(d.0)
    }
}

/// Seconds to wait after `not-yet-in-effect`: about one more IAM propagation.
const NOT_YET_IN_EFFECT_RETRY_AFTER: u32 = 10;

/// AWS refusing a call (a policy or group that does not exist, access denied, a limit) is the
/// caller's to fix: 422 with AWS's reason. AWS failing, or not having applied a recent change
/// yet, is a 503.
fn cloud(step: &str, error: &CloudError, rolled_back: bool) -> Problem {
    let tail = if rolled_back {
        "; everything created was rolled back"
    } else {
        ""
    };
    match error {
        CloudError::Unavailable(cause) => {
            tracing::error!(step, cause, "AWS call failed");
            let mut p = Problem::unavailable();
            p.detail = format!("AWS did not complete \"{step}\"{tail}. Retry later.");
            p
        }
        CloudError::NotYetInEffect(cause) => {
            tracing::warn!(step, cause, "AWS has not applied a recent IAM change yet");
            let mut p = Problem::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "not-yet-in-effect",
                "AWS has not applied a recent change yet",
                format!(
                    "{step}: AWS still refuses what a change of the last moments allows (IAM applies new keys, policies and trust within seconds, not at once){tail}. Retry shortly."
                ),
            );
            p.retry_after = Some(NOT_YET_IN_EFFECT_RETRY_AFTER);
            p
        }
        other => Problem::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "aws-refused",
            "AWS refused the change",
            format!("{step} failed: {other}{tail}"),
        ),
    }
}

impl From<ProvisionError> for Problem {
    fn from(e: ProvisionError) -> Self {
        match &e {
            ProvisionError::AccountNotFound(_) => Problem::not_found(e.to_string()),
            ProvisionError::AlreadyExists(_) | ProvisionError::NameTakenInAws(_) => {
                Problem::conflict("user-exists", e.to_string())
            }
            ProvisionError::InProgress(_) => Problem::conflict("in-progress", e.to_string()),
            ProvisionError::RolledBack { step, error } => cloud(step, error, true),
            ProvisionError::Incomplete { .. } => {
                tracing::error!(cause = %e, "provisioning left work to finish");
                let mut p = Problem::unavailable();
                p.detail = e.to_string();
                p
            }
            ProvisionError::Unavailable(cause) => unavailable(cause),
        }
    }
}

impl From<UserOpError> for Problem {
    fn from(e: UserOpError) -> Self {
        match &e {
            UserOpError::AccountNotFound(_) | UserOpError::NotFound(_) => Problem::not_found(e.to_string()),
            UserOpError::Imported(_) => Problem::conflict("imported-user", e.to_string()),
            UserOpError::NotProvisioned { .. } => Problem::conflict("not-provisioned", e.to_string()),
            UserOpError::InProgress(_) => Problem::conflict("in-progress", e.to_string()),
            UserOpError::HasLiveSessions { .. } => Problem::conflict("user-has-live-sessions", e.to_string()),
            UserOpError::Cloud { step, error } => cloud(step, error, false),
            UserOpError::BadCursor => Problem::bad_request(e.to_string()),
            UserOpError::Unavailable(cause) => unavailable(cause),
        }
    }
}

impl From<GroupError> for Problem {
    fn from(e: GroupError) -> Self {
        match &e {
            GroupError::NotFound(_) => Problem::not_found(e.to_string()),
            GroupError::NameTaken(_) => Problem::conflict("group-name-taken", e.to_string()),
            GroupError::UnknownAccount(_) | GroupError::UnknownUnit(_) => {
                Problem::validation(crate::domain::Invalid::field("accounts", e.to_string()))
            }
            GroupError::UnknownApproverGroup(_) => Problem::validation(crate::domain::Invalid::field(
                "policy.approval.approver_group_ids",
                e.to_string(),
            )),
            GroupError::Conflict => Problem::conflict("concurrent-update", e.to_string()),
            GroupError::BadCursor => Problem::bad_request(e.to_string()),
            GroupError::Unavailable(cause) => unavailable(cause),
        }
    }
}

impl From<StartError> for Problem {
    fn from(e: StartError) -> Self {
        match &e {
            StartError::Denied(why) => Problem::forbidden(why.clone()),
            StartError::AccountNotFound(_) => Problem::not_found(e.to_string()),
            StartError::Refused { slug, detail } => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                slug,
                "The session cannot be started as asked",
                detail.clone(),
            ),
            StartError::LogUnavailable(cause) => {
                tracing::error!(cause, "session log unavailable: start refused");
                let mut p = Problem::unavailable();
                p.detail = "The session log could not be written, so no access was granted. Retry later.".into();
                p
            }
            StartError::Cloud { step, error } => cloud(step, error, false),
            StartError::EndedWhileStarting(_) => Problem::new(
                http::StatusCode::CONFLICT,
                "ended-while-starting",
                "The session was ended while it was starting",
                e.to_string(),
            ),
            StartError::Unavailable(cause) => unavailable(cause),
        }
    }
}

impl From<crate::services::sessions::RequestError> for Problem {
    fn from(e: crate::services::sessions::RequestError) -> Self {
        use crate::services::sessions::RequestError as E;
        match e {
            E::Denied(why) => Problem::forbidden(why),
            E::NotFound(_) => Problem::not_found(e.to_string()),
            E::NotPending(_) => Problem::conflict("request-not-pending", e.to_string()),
            E::AlreadyApproved => Problem::conflict("already-approved", e.to_string()),
            E::AlreadyReviewed => Problem::conflict("already-reviewed", e.to_string()),
            E::NotBreakGlass => Problem::conflict("not-break-glass", e.to_string()),
            E::Busy => Problem::conflict("concurrent-update", e.to_string()),
            E::BadCursor => Problem::bad_request(e.to_string()),
            E::Start(start) => start.into(),
            E::Extend(extend) => extend.into(),
            E::Unavailable(cause) => unavailable(&cause),
        }
    }
}

impl From<crate::services::sessions::ExtendError> for Problem {
    fn from(e: crate::services::sessions::ExtendError) -> Self {
        use crate::services::sessions::ExtendError as E;
        match &e {
            E::Denied(why) => Problem::forbidden(why.clone()),
            E::NotFound(_) => Problem::not_found(e.to_string()),
            E::NotActive(_) => Problem::conflict("session-not-active", e.to_string()),
            E::AlreadyPending => Problem::conflict("extension-pending", e.to_string()),
            E::Refused { slug, detail } => Problem::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                slug,
                "The session cannot be extended as asked",
                detail.clone(),
            ),
            E::Cloud { step, error } => cloud(step, error, false),
            E::EndedWhileExtending(_) => Problem::conflict("ended-while-extending", e.to_string()),
            E::Unavailable(cause) => unavailable(cause),
        }
    }
}

impl From<SessionError> for Problem {
    fn from(e: SessionError) -> Self {
        match &e {
            SessionError::Denied(why) => Problem::forbidden(why.clone()),
            SessionError::NotFound(_) => Problem::not_found(e.to_string()),
            SessionError::BadCursor => Problem::bad_request(e.to_string()),
            SessionError::RevocationFailed(cause) => {
                tracing::error!(cause, "revocation failed; retried by the expirer");
                let mut p = Problem::unavailable();
                p.detail = "Revoking the session's access failed; it is retried until it succeeds.".into();
                p
            }
            SessionError::Unavailable(cause) => unavailable(cause),
        }
    }
}

impl From<OrganizationError> for Problem {
    fn from(e: OrganizationError) -> Self {
        let unprocessable = |slug: &'static str, title: &'static str| {
            Problem::new(http::StatusCode::UNPROCESSABLE_ENTITY, slug, title, e.to_string())
        };
        match &e {
            OrganizationError::NotFound(_) | OrganizationError::NotAMember { .. } => Problem::not_found(e.to_string()),
            OrganizationError::InvalidCredentials(_) => {
                unprocessable("invalid-credentials", "AWS rejected the credentials")
            }
            OrganizationError::NotOrganizationAdmin(_) => unprocessable(
                "not-organization-admin",
                "The role's account cannot read the organization",
            ),
            OrganizationError::ExternalIdNotIssued => {
                unprocessable("external-id-not-issued", "The ExternalId was not issued by this broker")
            }
            OrganizationError::OwnAccount(_) => {
                unprocessable("own-account", "The broker's own AWS account cannot be registered")
            }
            OrganizationError::AccountClosed(_) => unprocessable("account-closed", "The account is not active"),
            OrganizationError::AlreadyRegistered(_) => Problem::conflict("organization-registered", e.to_string()),
            OrganizationError::AccountRegistered(_) => Problem::conflict("already-registered", e.to_string()),
            OrganizationError::InUse(..) => Problem::conflict("organization-in-use", e.to_string()),
            OrganizationError::NoIdentityCenter(_) => unprocessable(
                "no-identity-center",
                "No IAM Identity Center instance the broker may use",
            ),
            OrganizationError::Unavailable(cause) => unavailable(cause),
        }
    }
}
