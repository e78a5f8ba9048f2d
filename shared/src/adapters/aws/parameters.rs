//! SSM Parameter Store: the secrets a function reads once, at cold start (Slack's signing
//! secret and bot token), kept as SecureString parameters (encrypted with KMS) rather than in the
//! function's environment, which anyone allowed `lambda:GetFunctionConfiguration` reads in
//! clear. Wired through `Overrides::parameters` (see `App::from_env`), so only the functions
//! that read parameters link this client.

use futures::future::BoxFuture;

use super::describe;
use crate::domain::Secret;

/// Reads each named SecureString parameter, decrypted, in the order given (one client, for
/// `Overrides::parameters`). An error names the parameter, never a value; a parameter that is
/// not a SecureString, or is empty, is refused: a secret stored in clear is a mistake to report,
/// not to run with.
pub fn secure_strings(
    sdk: &aws_config::SdkConfig,
    names: Vec<String>,
) -> BoxFuture<'static, Result<Vec<Secret>, String>> {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    Box::pin(async move {
        let mut secrets = Vec::with_capacity(names.len());
        for name in &names {
            secrets.push(secure_string(&ssm, name).await?);
        }
        Ok(secrets)
    })
}

async fn secure_string(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Secret, String> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| format!("the SSM parameter {name} could not be read: {}", describe(&e)))?;
    let Some(parameter) = out.parameter() else {
        return Err(format!("the SSM parameter {name} could not be read: AWS returned none"));
    };
    if parameter.r#type() != Some(&aws_sdk_ssm::types::ParameterType::SecureString) {
        return Err(format!(
            "the SSM parameter {name} is not a SecureString: store the secret encrypted (--type SecureString)"
        ));
    }
    match parameter.value() {
        Some(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => Err(format!("the SSM parameter {name} is empty")),
    }
}
