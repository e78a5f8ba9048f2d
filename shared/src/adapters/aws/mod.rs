//! AWS implementations of the ports: DynamoDB (storage), STS (credential checks), KMS
//! (sealing secrets). Only this module and `crate::config` touch AWS SDK types.

pub mod dynamodb;
pub mod kms;
pub mod sts;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Describes an SDK failure for logs and problem details. Service errors carry AWS's code and
/// message (which never contain request secrets); transport failures say what broke.
pub(crate) fn describe<E: ProvideErrorMetadata + std::fmt::Debug, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("Unknown"),
            e.err().message().unwrap_or("no message")
        ),
        SdkError::TimeoutError(_) => "AWS did not answer in time".to_string(),
        SdkError::DispatchFailure(_) => "AWS could not be reached".to_string(),
        other => format!("unexpected response from AWS ({})", short_kind(other)),
    }
}

fn short_kind<E, R>(err: &SdkError<E, R>) -> &'static str {
    match err {
        SdkError::ConstructionFailure(_) => "request construction failed",
        SdkError::ResponseError(_) => "unreadable response",
        _ => "other",
    }
}

/// The error code of a service error, if AWS answered at all.
pub(crate) fn service_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}
