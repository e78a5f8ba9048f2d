"""Cloud IAM Broker's local AWS: moto, patched to behave like AWS where the broker relies on it.

Each module owns one concern and exposes `apply()`; importing has no side effects. `apply_all`
applies them in the order they depend on one another (launch.py calls it before starting
moto's server):
- missing_role: AssumeRole into a role that does not exist is refused;
- dynamodb_transactions: TransactWriteItems backs up only what it touches, and runs isolated
  from other transactions and single-item reads and writes, as DynamoDB's do;
- sts_sessions: role sessions keep SourceIdentity, session tags, issue time (and chaining);
  DurationSeconds limits (900 to 43200, the role's MaxSessionDuration, one hour when chaining);
  /moto-api/cib/sts/expire;
- principals: who signed a request, its policies and context keys; ExpiredToken;
- enforcement: every signed request is authorized by policy_eval (pure IAM evaluation, with
  policy_conditions for the condition operators), refusals shaped by errors; DynamoDB calls as
  dynamodb_access says (on the table or index, with dynamodb:LeadingKeys; transactions item by
  item);
- console_sessions: console sessions (getSigninToken and login of role credentials, IAM users'
  password sign-in) and the credentials CloudShell exports from them, acting as the console's
  principal (/moto-api/cib/federation/signin-token, /moto-api/cib/console/...); after principals;
- ssm_agents: managed nodes (SSM Agent registrations through /moto-api/cib/ssm/agents) and
  DescribeInstanceInformation;
- ssm_sessions: Session Manager (StartSession, DescribeSessions, TerminateSession,
  ResumeSession) authorized against the target, document and session ARNs through enforcement,
  session preferences, run as, transcripts uploaded to S3 (input through
  /moto-api/cib/ssm/session-input);
- policy_limits: IAM's policy size quotas;
- iam_quotas: unique Sids, the trust policy quota, managed policies per entity, listing tags;
- iam_propagation: IAM's eventual consistency, a delay before changes to keys, policies,
  attachments, default versions and trust policies are seen (CIB_LOCAL_IAM_PROPAGATION_MS,
  /moto-api/cib/iam/propagation; off by default); after the IAM patches it wraps. Its parts:
  iam_propagation_delay (the delay, the journal of pending changes, the endpoint),
  iam_propagation_keys (access keys as seen), iam_propagation_policies (inline policies,
  attachments, default versions, trust policies and new roles as seen);
- kms_signing: Sign and Verify sign the message's bytes and honour MessageType DIGEST, so
  signatures verify offline with the key from GetPublicKey;
- organizations_rules: Organizations' reads only for the management account and delegated
  administrators, pages of at most 20, CloseAccount's PENDING_CLOSURE then SUSPENDED / CLOSED
  (CIB_LOCAL_ORG_CLOSURE_MS, /moto-api/cib/organizations/closure), closed accounts' roles and
  credentials refused, MoveAccount's source checked; after enforcement, whose check it wraps,
  and before cloudtrail_history;
- cloudtrail_history: every authenticated call the server answers, recorded as a CloudTrail
  event (who, what, when, error code; no secrets, no bodies); applied after enforcement so
  that it sees the resources each call is authorized against;
- cloudtrail_lookup: LookupEvents over that history (one lookup attribute, time window,
  newest first, paging), its two-per-second rate limit (CIB_LOCAL_CLOUDTRAIL_RATE), and
  /moto-api/cib/cloudtrail/throttle and /reset.
- signature_query: signed requests with reserved characters (`/`) in the query string verify.
- eventbridge_targets: rule targets get their events without a JSONPath parser built per event
  (moto's cost alone: it made an end's PutEvents take 0.3 s).
- identity_center_arns: permission set ARNs in AWS's shape (moto hangs them under the instance's).
- identity_center_admin: IAM Identity Center's checked admin calls (organization instances only,
  a delegated administrator's reach, permission set names and session durations, inline policy
  quotas) and shared lookups;
- identity_center_roles: the AWSReservedSSO_ roles made in member accounts, protected from IAM
  edits (UnmodifiableEntity);
- identity_center_provisioning: account assignments and permission set provisioning IN_PROGRESS
  for CIB_LOCAL_SSO_PROVISION_MS, then SUCCEEDED / FAILED and applied to the accounts
  (/moto-api/cib/sso/provisioning); after the admin and roles modules;
- identity_center_http: unsigned portal and OIDC requests routed by exact path to their handlers;
- identity_center_oidc: OIDC device code sign-in (RegisterClient, StartDeviceAuthorization,
  CreateToken), /moto-api/cib/sso/device/approve and /expire;
- identity_center_portal: the access portal (GetRoleCredentials, ListAccounts, ListAccountRoles,
  Logout), whose role sessions carry identitystore:userId.
"""

from . import (
    cloudtrail_history,
    cloudtrail_lookup,
    console_sessions,
    dynamodb_transactions,
    enforcement,
    eventbridge_targets,
    iam_propagation,
    identity_center_admin,
    identity_center_arns,
    identity_center_http,
    identity_center_oidc,
    identity_center_portal,
    identity_center_provisioning,
    identity_center_roles,
    iam_quotas,
    kms_signing,
    missing_role,
    organizations_rules,
    policy_limits,
    principals,
    signature_query,
    ssm_agents,
    ssm_sessions,
    sts_sessions,
)

PATCHES = (
    missing_role,
    dynamodb_transactions,
    sts_sessions,
    principals,
    enforcement,
    console_sessions,
    ssm_agents,
    ssm_sessions,
    policy_limits,
    iam_quotas,
    iam_propagation,
    kms_signing,
    organizations_rules,
    identity_center_arns,
    identity_center_admin,
    identity_center_roles,
    identity_center_provisioning,
    identity_center_http,
    identity_center_oidc,
    identity_center_portal,
    signature_query,
    eventbridge_targets,
    cloudtrail_history,
    cloudtrail_lookup,
)


def apply_all() -> None:
    for patch in PATCHES:
        patch.apply()
