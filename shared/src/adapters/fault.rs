//! A fault-injecting, call-recording wrapper around any `IamConnector`, for tests and chaos
//! runs of the local system. Faults are scoped to one IAM user name, so concurrent tests on
//! other users are not disturbed.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::{AccessKeyId, IamGroupName, IamUserName, PolicyArn, RoleArn, Secret};
use crate::ports::{AccountAccess, CloudError, IamConnector, IamUserInfo, PasswordPolicy, RoleInfo, TargetIam};

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails as if AWS were unavailable.
    Fail,
    /// The process "crashes" before the call: the task panics, leaving state as it was.
    Crash,
    /// The call succeeds in AWS, then the process crashes before it can record the result.
    CrashAfter,
}

#[derive(Debug)]
struct Rule {
    user: String,
    operation: String,
    /// Calls of this operation to let through before the fault.
    skip: u32,
    fault: Fault,
}

/// The faults to inject and the calls seen, shared by the test and the adapter.
#[derive(Debug, Default)]
pub struct FaultPlan {
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<(String, String)>>,
}

impl FaultPlan {
    /// Injects `fault` on the `skip + 1`-th call of `operation` (an IAM action name such as
    /// `CreateAccessKey`) for `user`, once.
    pub fn inject(&self, user: &str, operation: &str, skip: u32, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            user: user.into(),
            operation: operation.into(),
            skip,
            fault,
        });
    }

    /// The IAM operations made for `user`, in order.
    pub fn calls(&self, user: &str) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, op)| op.clone())
            .collect()
    }

    pub fn clear_calls(&self, user: &str) {
        self.calls.lock().unwrap().retain(|(u, _)| u != user);
    }

    /// Consults the plan before a call; returns whether to crash after it.
    fn enter(&self, user: &str, operation: &str) -> Result<bool, CloudError> {
        self.calls.lock().unwrap().push((user.into(), operation.into()));
        let fault = {
            let mut rules = self.rules.lock().unwrap();
            let hit = rules.iter().position(|r| r.user == user && r.operation == operation);
            match hit {
                Some(i) if rules[i].skip > 0 => {
                    rules[i].skip -= 1;
                    None
                }
                Some(i) => Some(rules.remove(i).fault),
                None => None,
            }
        };
        match fault {
            None => Ok(false),
            Some(Fault::Fail) => Err(CloudError::Unavailable(format!("injected fault in {operation}"))),
            Some(Fault::Crash) => panic!("injected crash in {operation} for {user}"),
            Some(Fault::CrashAfter) => Ok(true),
        }
    }
}

pub struct FaultyConnector {
    inner: Arc<dyn IamConnector>,
    plan: Arc<FaultPlan>,
}

impl FaultyConnector {
    pub fn new(inner: Arc<dyn IamConnector>, plan: Arc<FaultPlan>) -> Self {
        FaultyConnector { inner, plan }
    }
}

#[async_trait]
impl IamConnector for FaultyConnector {
    async fn connect(&self, access: &AccountAccess) -> Result<Box<dyn TargetIam>, CloudError> {
        Ok(Box::new(FaultyIam {
            inner: self.inner.connect(access).await?,
            plan: self.plan.clone(),
        }))
    }
}

struct FaultyIam {
    inner: Box<dyn TargetIam>,
    plan: Arc<FaultPlan>,
}

/// Forwards a call after consulting the plan, under the IAM action's name.
macro_rules! forward {
    ($self:ident, $user:expr, $op:literal, $call:expr) => {{
        let crash_after = $self.plan.enter($user, $op)?;
        let result = $call.await;
        if crash_after {
            panic!("injected crash after {} for {}", $op, $user);
        }
        result
    }};
}

#[async_trait]
impl TargetIam for FaultyIam {
    async fn get_user(&self, n: &IamUserName) -> Result<Option<IamUserInfo>, CloudError> {
        forward!(self, n.as_str(), "GetUser", self.inner.get_user(n))
    }
    async fn create_user(&self, n: &IamUserName, tags: &[(String, String)]) -> Result<String, CloudError> {
        forward!(self, n.as_str(), "CreateUser", self.inner.create_user(n, tags))
    }
    async fn delete_user(&self, n: &IamUserName) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "DeleteUser", self.inner.delete_user(n))
    }
    async fn list_users(&self) -> Result<Vec<IamUserInfo>, CloudError> {
        forward!(self, "", "ListUsers", self.inner.list_users())
    }
    async fn password_policy(&self) -> Result<PasswordPolicy, CloudError> {
        forward!(self, "", "GetAccountPasswordPolicy", self.inner.password_policy())
    }
    async fn set_login_profile(&self, n: &IamUserName, p: &Secret) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "SetLoginProfile", self.inner.set_login_profile(n, p))
    }
    async fn has_login_profile(&self, n: &IamUserName) -> Result<bool, CloudError> {
        forward!(self, n.as_str(), "GetLoginProfile", self.inner.has_login_profile(n))
    }
    async fn delete_login_profile(&self, n: &IamUserName) -> Result<(), CloudError> {
        forward!(
            self,
            n.as_str(),
            "DeleteLoginProfile",
            self.inner.delete_login_profile(n)
        )
    }
    async fn create_access_key(&self, n: &IamUserName) -> Result<(AccessKeyId, Secret), CloudError> {
        forward!(self, n.as_str(), "CreateAccessKey", self.inner.create_access_key(n))
    }
    async fn list_access_keys(&self, n: &IamUserName) -> Result<Vec<String>, CloudError> {
        forward!(self, n.as_str(), "ListAccessKeys", self.inner.list_access_keys(n))
    }
    async fn deactivate_access_key(&self, n: &IamUserName, k: &str) -> Result<(), CloudError> {
        forward!(
            self,
            n.as_str(),
            "UpdateAccessKey",
            self.inner.deactivate_access_key(n, k)
        )
    }
    async fn delete_access_key(&self, n: &IamUserName, k: &str) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "DeleteAccessKey", self.inner.delete_access_key(n, k))
    }
    async fn attach_policy(&self, n: &IamUserName, p: &PolicyArn) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "AttachUserPolicy", self.inner.attach_policy(n, p))
    }
    async fn detach_policy(&self, n: &IamUserName, p: &str) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "DetachUserPolicy", self.inner.detach_policy(n, p))
    }
    async fn list_attached_policies(&self, n: &IamUserName) -> Result<Vec<String>, CloudError> {
        forward!(
            self,
            n.as_str(),
            "ListAttachedUserPolicies",
            self.inner.list_attached_policies(n)
        )
    }
    async fn put_inline_policy(&self, n: &IamUserName, p: &str, d: &str) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "PutUserPolicy", self.inner.put_inline_policy(n, p, d))
    }
    async fn delete_inline_policy(&self, n: &IamUserName, p: &str) -> Result<(), CloudError> {
        forward!(
            self,
            n.as_str(),
            "DeleteUserPolicy",
            self.inner.delete_inline_policy(n, p)
        )
    }
    async fn list_inline_policies(&self, n: &IamUserName) -> Result<Vec<String>, CloudError> {
        forward!(self, n.as_str(), "ListUserPolicies", self.inner.list_inline_policies(n))
    }
    async fn add_to_group(&self, n: &IamUserName, g: &IamGroupName) -> Result<(), CloudError> {
        forward!(self, n.as_str(), "AddUserToGroup", self.inner.add_to_group(n, g))
    }
    async fn remove_from_group(&self, n: &IamUserName, g: &str) -> Result<(), CloudError> {
        forward!(
            self,
            n.as_str(),
            "RemoveUserFromGroup",
            self.inner.remove_from_group(n, g)
        )
    }
    async fn list_groups_for_user(&self, n: &IamUserName) -> Result<Vec<String>, CloudError> {
        forward!(
            self,
            n.as_str(),
            "ListGroupsForUser",
            self.inner.list_groups_for_user(n)
        )
    }
    async fn get_role(&self, r: &RoleArn) -> Result<RoleInfo, CloudError> {
        forward!(self, r.name(), "GetRole", self.inner.get_role(r))
    }
    async fn get_role_policy(&self, r: &RoleArn, p: &str) -> Result<Option<String>, CloudError> {
        forward!(self, r.name(), "GetRolePolicy", self.inner.get_role_policy(r, p))
    }
    async fn roles_under(&self, p: &str) -> Result<Vec<RoleArn>, CloudError> {
        forward!(self, p, "ListRoles", self.inner.roles_under(p))
    }
    async fn put_role_policy(&self, r: &RoleArn, p: &str, d: &str) -> Result<(), CloudError> {
        forward!(self, r.name(), "PutRolePolicy", self.inner.put_role_policy(r, p, d))
    }
    async fn delete_role_policy(&self, r: &RoleArn, p: &str) -> Result<(), CloudError> {
        forward!(self, r.name(), "DeleteRolePolicy", self.inner.delete_role_policy(r, p))
    }
    async fn put_revocation_page(&self, r: &RoleArn, page: usize, d: &str) -> Result<(), CloudError> {
        forward!(
            self,
            r.name(),
            "PutRevocationPage",
            self.inner.put_revocation_page(r, page, d)
        )
    }
    async fn get_revocation_page(&self, r: &RoleArn, page: usize) -> Result<Option<String>, CloudError> {
        forward!(
            self,
            r.name(),
            "GetRevocationPage",
            self.inner.get_revocation_page(r, page)
        )
    }
}

/// A `SessionLog` that consults the same plan (scoped by the session's account id, operation
/// `PutSessionLog`) before each append: tests make S3 "unavailable" this way.
pub struct FaultyLog {
    inner: Arc<dyn crate::ports::SessionLog>,
    plan: Arc<FaultPlan>,
}

impl FaultyLog {
    pub fn new(inner: Arc<dyn crate::ports::SessionLog>, plan: Arc<FaultPlan>) -> Self {
        FaultyLog { inner, plan }
    }

    /// The planned fault of a log write, scoped by the event's account.
    fn enter_put(&self, event: &serde_json::Value) -> Result<(), crate::ports::LogError> {
        let scope = event["account_id"].as_str().unwrap_or_default();
        self.plan
            .enter(scope, "PutSessionLog")
            .map(|_| ())
            .map_err(|e| crate::ports::LogError::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl crate::ports::SessionLog for FaultyLog {
    async fn append(&self, key: &str, event: serde_json::Value) -> Result<String, crate::ports::LogError> {
        self.enter_put(&event)?;
        self.inner.append(key, event).await
    }

    async fn append_after(
        &self,
        key: &str,
        head: &str,
        event: serde_json::Value,
    ) -> Result<String, crate::ports::LogError> {
        self.enter_put(&event)?;
        self.inner.append_after(key, head, event).await
    }

    async fn read(&self, key: &str) -> Result<Option<String>, crate::ports::LogError> {
        self.inner.read(key).await
    }

    async fn read_tail(&self, key: &str) -> Result<Option<crate::ports::LogTail>, crate::ports::LogError> {
        self.inner.read_tail(key).await
    }

    async fn append_over(
        &self,
        key: &str,
        tail: Option<&crate::ports::LogTail>,
        event: serde_json::Value,
    ) -> Result<String, crate::ports::LogError> {
        self.enter_put(&event)?;
        self.inner.append_over(key, tail, event).await
    }

    async fn begin(
        &self,
        key: &str,
        event: serde_json::Value,
    ) -> Result<crate::ports::LogTail, crate::ports::LogError> {
        self.enter_put(&event)?;
        self.inner.begin(key, event).await
    }

    async fn append_to(
        &self,
        key: &str,
        tail: &crate::ports::LogTail,
        event: serde_json::Value,
    ) -> Result<crate::ports::LogTail, crate::ports::LogError> {
        self.enter_put(&event)?;
        self.inner.append_to(key, tail, event).await
    }
}
