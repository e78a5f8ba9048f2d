//! The one place where each operation's error becomes an HTTP problem.

use super::Problem;
use crate::auth::AuthError;
use crate::services::accounts::{
    DeleteAccountError, GetAccountError, JitSettingsError, ListAccountsError, RegisterAccountError, UpdateAccountError,
};

/// Logs the cause of a 503 (the response carries none of it).
fn unavailable(cause: &str) -> Problem {
    tracing::error!(cause, "backing service failed");
    Problem::unavailable()
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::KeysUnavailable => unavailable("JWKS unavailable"),
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
            JitSettingsError::Unavailable(cause) => unavailable(&cause),
        }
    }
}
