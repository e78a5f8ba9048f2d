// The API's shapes, as infra/openapi.yaml describes them (only what the console reads).

export type Role = 'admin' | 'user' | 'bot' | 'auditor';

export interface Offer {
  max_duration_seconds: number;
  needs_approval: boolean;
  automatic_max_seconds: number | null;
  break_glass_max_seconds: number | null;
}

export interface MeAccount {
  account_id: string;
  name: string;
  aws_account_id: string;
  permissions: Partial<Permissions>;
  via_groups: string[];
  iam_user: { user_name: string; status: string; has_credential: boolean } | null;
  console: Offer | null;
  jit_roles: (Offer & { role_arn: string })[];
  /** Identity Center permission sets a start would accept (accounts in a registered organization). */
  permission_sets?: (Offer & { permission_set_arn: string })[];
}

export interface Me {
  subject: string;
  email: string;
  role: Role;
  groups: { id: string; name: string }[];
  accounts: MeAccount[];
}

export type SessionStatus = 'pending' | 'active' | 'ending' | 'ended' | 'expired' | 'denied' | 'cancelled' | 'lapsed';

export interface ApprovalRequest {
  approvals_required: number;
  approver_group_ids: string[];
  approvals: { by: string; via: string | null; at: string; reason: string }[];
  requested_at: string;
  lapses_at: string;
  decision: { outcome: string; by: string; at: string; reason: string } | null;
}

export type SessionType = 'jit' | 'console' | 'shell' | 'identity_center';

/** A Session Manager session a shell session's credentials opened. */
export interface SsmSession {
  id: string;
  target: string;
  started_at: string | null;
  ended_at: string | null;
  transcript: string | null;
}

export interface Session {
  id: string;
  account_id: string;
  aws_account_id: string;
  type: SessionType;
  user: string;
  /** Null for Identity Center sessions. */
  iam_user: string | null;
  role_arn: string | null;
  /** Shell sessions only. */
  target?: string;
  ssm_sessions?: SsmSession[];
  identity_center?: {
    permission_set_arn: string;
    permission_set_name: string;
    identity_store_user_id: string;
    user_name: string;
    outside: string | null;
  };
  revocation_failures?: number;
  last_error?: string;
  duration_seconds: number;
  reason: string;
  requested_by: string;
  started_at: string;
  expires_at: string;
  status: SessionStatus;
  ended_at: string | null;
  ended_by: string | null;
  end_reason: string | null;
  break_glass: boolean;
  review: { by: string; at: string; note: string } | null;
  request: ApprovalRequest | null;
  pending_extension: { duration_seconds: number; reason: string; requested_by: string; approval: ApprovalRequest } | null;
  /** The extensions applied, oldest first. */
  extensions: { at: string; by: string; duration_seconds: number; reason: string; expires_at: string }[];
}

/** A session as `GET /sessions/{id}` answers it: its owner's first read after an approval carries `granted`. */
export type SessionRead = Session & { granted?: Grant };

export interface Grant {
  credentials?: { access_key_id: string; secret_access_key: string; session_token: string; expiration: string };
  console_url?: string;
  console?: { signin_url: string; user_name: string; password: string; switch_role_links: { role_arn: string; url: string }[] };
  shell?: { target: string; region: string; document_name: string; run_as: string | null; command: string };
  identity_center?: {
    portal_url: string;
    start_url: string;
    sso_region: string;
    permission_set_name: string;
    cli_profile: string;
    outside: string | null;
  };
}

export interface Page<T> {
  items: T[];
  next_cursor?: string;
}

export interface Account {
  id: string;
  name: string;
  default_region: string;
  aws_account_id: string;
  caller_arn: string;
  credentials: { type: 'access_key'; access_key_id: string } | { type: 'assume_role'; role_arn: string };
  organization?: { id: string; ou_path: string[]; state: string } | null;
  created_at: string;
}

/**
 * An ExternalId the broker issued for a role registration (`POST /accounts/external-ids`, the
 * only answer that shows it): the role trusts it, then registers with it within 7 days, once.
 */
export interface IssuedExternalId {
  external_id: string;
  expires_at: string;
  /** The condition the role's trust statement needs. */
  trust_condition: unknown;
  /** A whole trust policy naming the broker's AWS account; absent when the broker does not know it. */
  trust_policy?: unknown;
}

export interface TrustFinding {
  role_arn: string;
  findings: { principal: string; why: string }[];
  error?: string;
}

export interface JitSettings {
  active: boolean;
  description: string;
  jit_enabled: boolean;
  max_duration_seconds: number;
  allowed_role_arns: string[];
  trust_review?: TrustFinding[];
  /** The trust every allowed role needs, the same for every user: applied once by an admin. */
  role_trust_policy?: unknown;
  policy_sync?: { updated: number; failed: { user_name: string; reason: string }[] };
}

export interface SessionLog {
  session_id: string;
  key: string;
  verified: boolean;
  problem: string | null;
  events: Record<string, unknown>[];
}

export type UserStatus = 'pending' | 'provisioning' | 'provisioned' | 'unprovisioning' | 'unprovisioned' | 'imported' | 'failed';

/** An IAM user the broker knows in an account (provisioned by it, or imported and never changed). */
export interface User {
  account_id: string;
  user_name: string;
  email: string | null;
  status: UserStatus;
  arn: string | null;
  console_access: boolean;
  credential: { access_key_id: string; created_at: string } | null;
  policy_arns: string[];
  groups: string[];
  failure?: string;
  created_at: string;
  updated_at: string;
}

export interface GrantPolicy {
  approval: { approvals_required: number; approver_group_ids: string[] } | null;
  max_duration_seconds: number | null;
  jit_role_arns: string[] | null;
  permission_set_arns?: string[] | null;
  break_glass: { max_duration_seconds: number } | null;
}

export interface Permissions {
  start_sessions: boolean;
  start_jit_sessions: boolean;
  start_shell_sessions: boolean;
  start_identity_center_sessions: boolean;
}

/** An access group: who (its members) may do what (permissions, under its policy) where (accounts). */
export interface Group {
  id: string;
  name: string;
  description: string;
  /** Registered account ids and OU ids of registered organizations. */
  accounts: 'all' | string[];
  resolved_account_ids?: string[];
  permissions: Permissions;
  policy: GrantPolicy;
  created_at: string;
  updated_at: string;
}

export interface Member {
  email: string;
  added_at: string;
}

export interface SlackLink {
  slack_user_id: string;
  email: string;
  /** Only a confirmed link acts: an admin's link waits for the person it names to confirm it. */
  status: 'pending' | 'confirmed';
  linked_by: string | null;
  linked_at: string | null;
  confirmed_by: string | null;
  confirmed_at: string | null;
}

/** The AWS calls made with a session's access (`GET /sessions/{id}/activity`). */
export interface ActivityEvent {
  event_id: string;
  event_time: string | null;
  event_name: string;
  event_source: string;
  aws_region?: string | null;
  read_only?: boolean | null;
  error_code?: string | null;
  access_key_id?: string | null;
  username?: string | null;
  principal_arn?: string | null;
  source_identity?: string | null;
  source_ip_address?: string | null;
  user_agent?: string | null;
  resources: { type?: string | null; name?: string | null }[];
}

export interface SessionActivity {
  session_id: string;
  source: 'cloudtrail' | 'session-log';
  region: string;
  lookup: { attribute: string; value: string };
  from: string | null;
  to: string | null;
  events: ActivityEvent[];
  next_cursor: string | null;
  partial: boolean;
  verified: boolean | null;
  snapshot: { at: string; events: number; truncated: boolean; error: string | null } | null;
  note: string;
}

export interface Transcript {
  session_id: string;
  ssm_session_id: string;
  location: string;
  truncated: boolean;
  content: string;
  recorded: { at: string | null; sha256: string | null; bytes: number } | null;
  matches_log: boolean | null;
}

export interface EvidenceCheck {
  key: string;
  status: string;
  digest?: string;
  detail?: string;
}

export interface EvidenceReport {
  valid: boolean;
  digest_counts: Record<string, number>;
  object_counts: Record<string, number>;
  digests: EvidenceCheck[];
  objects: EvidenceCheck[];
}

/** A target the account's shell settings reach (`GET /accounts/{id}/shell/targets`). */
export interface ShellTarget {
  instance_id: string;
  /** The instance's Name tag. */
  name: string | null;
  /** EC2's state; null for a managed node, or an instance that is gone. */
  state: string | null;
  /** Whether a shell start would pass the target check now. */
  reachable: boolean;
  /** The start's refusal (a problem type name), or `unchecked` when AWS did not answer. */
  problem: string | null;
  reason: string | null;
}

export interface ShellTargetList {
  region: string;
  /** More than 50 candidates: the first 50 are listed. */
  truncated: boolean;
  targets: ShellTarget[];
}

export interface ShellSettings {
  enabled: boolean;
  role_arn: string;
  targets: { tags: Record<string, string>; instance_ids: string[] };
  run_as: { default_user: string | null; users: Record<string, string> };
  max_duration_seconds: number;
  idle_timeout_minutes: number;
  recording: {
    s3_bucket: string;
    s3_key_prefix: string;
    s3_encryption: boolean;
    kms_key_id: string | null;
    cloudwatch_log_group: string | null;
    cloudwatch_streaming: boolean;
  };
  preferences: {
    document: string;
    region: string;
    in_sync: boolean;
    drift: { field: string; expected: unknown; actual: unknown }[];
    error?: string;
    status?: 'created' | 'updated' | 'unchanged';
  };
  trust_review?: TrustFinding[];
  role_trust_policy?: unknown;
  policy_sync?: { updated: number; failed: { user_name: string; reason: string }[] };
}

export interface IdentityCenter {
  instance_arn: string;
  identity_store_id: string;
  region: string;
  admin_account_id: string;
  user_attribute: 'emails.value' | 'userName';
  start_url: string;
}

export interface OrganizationSummary {
  id: string;
  name: string;
  management_account_id: string;
  role_arn: string;
  member_role_name: string;
  default_region: string;
  enable_new_accounts: boolean;
  root_id: string;
  synced_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface OrganizationAccount {
  aws_account_id: string;
  name: string;
  state: 'active' | 'suspended' | 'pending_closure' | 'closed';
  parent_id: string;
  ou_path: string[];
  account_id: string | null;
}

export interface Organization extends OrganizationSummary {
  identity_center: IdentityCenter | null;
  units: { id: string; name: string; parent_id: string }[];
  accounts: OrganizationAccount[];
}

export interface SyncReport {
  organization_id: string;
  accounts: number;
  units: number;
  discovered: string[];
  closed: string[];
  moved: string[];
  enabled: string[];
  groups_updated: number;
  sessions_ended: string[];
  synced_at: string;
}
