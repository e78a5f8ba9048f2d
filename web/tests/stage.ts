// Setting the stage for the shell, Identity Center and audit journeys, as an admin and as AWS
// itself would: the demo account's shell settings and role (scripts/dev made its instance, with
// a registered SSM Agent, and its transcript bucket), the seeded organization registered with its
// Identity Center, and Session Manager as a user's terminal would drive it.
import { createHash } from 'node:crypto';
import { type Page, expect } from '@playwright/test';
import { AwsClient } from 'aws4fetch';
import { AWS_ACCOUNT, account, aws, call, demoAccount, stateFile, system, tokenFor } from './system';

export const SHELL_ROLE = 'ConsoleShell';
export const shellInstance = () => system().shellInstance;
export const transcriptBucket = () => system().shellBucket;
export const permissionSet = () => system().permissionSet;
/** The seeded organization's `POST /organizations` body. */
export const organizationBody = () =>
  stateFile<{ name: string; default_region: string; role_arn: string; external_id: string }>('organization.json');

type Keys = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

const demoKeys = (): Keys => {
  const c = demoAccount().credentials;
  return { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key };
};

/** An AWS JSON-protocol call (SSM) to the local AWS, signed with `keys`. */
export async function awsJson<T = any>(target: string, body: unknown, keys: Keys = demoKeys()): Promise<T> {
  const client = new AwsClient({ ...keys, service: 'ssm', region: 'us-east-1' });
  const r = await client.fetch(`${system().aws}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AmazonSSM.${target}` },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`ssm ${target}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

/** An S3 object call to the local AWS (path style), as the demo account's administrator or with `keys`. */
export async function s3(method: 'GET' | 'PUT', bucket: string, key: string, body?: string, keys: Keys = demoKeys()): Promise<string> {
  const client = new AwsClient({ ...keys, service: 's3', region: 'us-east-1' });
  // Content-MD5 as the SDKs send it: a bucket with Object Lock refuses a PUT without one.
  const headers: Record<string, string> = body === undefined ? {} : { 'Content-MD5': createHash('md5').update(body).digest('base64') };
  const r = await client.fetch(`${system().aws}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, { method, body, headers });
  const text = await r.text();
  if (!r.ok) throw new Error(`s3 ${method} ${bucket}/${key}: ${r.status} ${text}`);
  return text;
}

/**
 * The broker's own key and its session-log bucket (the runner's local-secrets.json): what only
 * the broker (or someone with its key) may write to.
 */
export function broker(): { keys: Keys; sessionLogBucket: string } {
  const { broker: b } = stateFile<{ broker: { access_key_id: string; secret_access_key: string; session_log_bucket: string } }>('local-secrets.json');
  return { keys: { accessKeyId: b.access_key_id, secretAccessKey: b.secret_access_key }, sessionLogBucket: b.session_log_bucket };
}

/** One of the local AWS's control endpoints (local/aws/README.md): what an SSM Agent or a terminal does. */
export async function control(path: string, body: unknown): Promise<any> {
  const r = await fetch(`${system().aws}/moto-api/cib/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`control ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** The demo account's shell settings, as the admin journey saves them through the console. */
export const shellSettings = () => ({
  enabled: true,
  role_arn: `arn:aws:iam::${AWS_ACCOUNT}:role/${SHELL_ROLE}`,
  targets: { tags: { Environment: 'demo' } },
  max_duration_seconds: 3600,
  idle_timeout_minutes: 20,
  recording: { s3_bucket: transcriptBucket(), s3_key_prefix: 'shell/' },
});

/** Access to the account active (its JIT settings' `active`; JIT itself left as it is), as sessions of any kind need. */
async function activate(accountId: string) {
  const jit = await call<any>('GET', `/accounts/${accountId}/jit`);
  if (!jit.active) {
    await call('PUT', `/accounts/${accountId}/jit`, { active: true, jit_enabled: false, max_duration_seconds: 3600, allowed_role_arns: [] });
  }
}

/**
 * `email` may start shell sessions on the demo account's instance: provisioned with a key, in a
 * group granting shell sessions (under `policy`), with the shell role made (trusting what the API
 * says brokered roles need, allowed Session Manager) and the settings saved after the user is
 * provisioned, so that the user's policy reaches the shell role.
 */
export async function shellUser(email: string, groupName: string, policy: unknown = null): Promise<{ accountId: string }> {
  const { id } = await account();
  await activate(id);
  await call('POST', `/accounts/${id}/users`, { email, credential: true }).catch((e: Error) => {
    if (!/409/.test(e.message)) throw e;
  });
  const saved = await call<any>('PUT', `/accounts/${id}/shell`, shellSettings());
  const trust = { Version: '2012-10-17', Statement: saved.role_trust_policy.Statement.filter((s: any) => s.Sid === 'CloudIamBrokerJit') };
  try {
    await aws('iam', { Action: 'CreateRole', RoleName: SHELL_ROLE, AssumeRolePolicyDocument: JSON.stringify(trust) });
    await aws('iam', {
      Action: 'PutRolePolicy',
      RoleName: SHELL_ROLE,
      PolicyName: 'shell',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['ssm:StartSession', 'ssm:TerminateSession', 'ssm:ResumeSession', 'ssm:DescribeSessions'], Resource: '*' }],
      }),
    });
  } catch (e) {
    if (!/EntityAlreadyExists/.test(String(e))) throw e;
  }
  // Saved again now that the role exists: its trust is reviewed from the real role.
  await call('PUT', `/accounts/${id}/shell`, shellSettings());
  const group = await call<any>('POST', '/groups', { name: groupName, accounts: [id], permissions: { start_shell_sessions: true }, policy });
  await call('PUT', `/groups/${group.id}/members/${encodeURIComponent(email)}`, {});
  return { accountId: id };
}

/** Session Manager's StartSession with a shell session's credentials, as `aws ssm start-session` sends it. */
export async function openShell(credentials: { access_key_id: string; secret_access_key: string; session_token: string }, target: string): Promise<string> {
  const keys = { accessKeyId: credentials.access_key_id, secretAccessKey: credentials.secret_access_key, sessionToken: credentials.session_token };
  const started = await awsJson<{ SessionId: string }>('StartSession', { Target: target, DocumentName: 'SSM-SessionManagerRunShell' }, keys);
  return started.SessionId;
}

/**
 * A shell session that ran and ended, started by `email` through the API: a Session Manager
 * session opened with its credentials, `typed` going through it, and its end (which terminates
 * the Session Manager session, so that its transcript lands in the bucket).
 */
export async function shellSessionThatRan(email: string, typed: string): Promise<{ id: string; ssm: string }> {
  const { id: accountId } = await account();
  const token = await tokenFor(email, 'user');
  const started = await call<any>(
    'POST',
    '/sessions',
    { account_id: accountId, type: 'shell', target: shellInstance(), duration_seconds: 900, reason: 'OPS-12: look at the worker logs' },
    token,
  );
  const ssm = await openShell(started.credentials, shellInstance());
  await control('ssm/session-input', { AccountId: AWS_ACCOUNT, Region: 'us-east-1', SessionId: ssm, Text: typed });
  await call('DELETE', `/sessions/${started.session.id}`, { reason: 'looked' }, token);
  return { id: started.session.id, ssm };
}

/** The seeded organization, registered (by the admin journey through the console, or here). */
export async function organization(): Promise<{ id: string }> {
  const body = organizationBody();
  const listed = await call<{ items: { id: string; name: string }[] }>('GET', '/organizations');
  return listed.items.find((o) => o.name === body.name) ?? call('POST', '/organizations', body);
}

/**
 * prod-1 of the seeded organization enabled, its Identity Center set up, and `email` (an
 * identity-store user of it: alice or bob) in a group granting the ReadOnly permission set on it.
 */
export async function identityCenterUser(email: string): Promise<{ accountId: string; awsAccountId: string }> {
  const org = await organization();
  const full = await call<any>('GET', `/organizations/${org.id}`);
  const prod1 = full.accounts.find((a: any) => a.name === 'prod-1');
  const accountId: string = prod1.account_id ?? (await call<any>('POST', `/organizations/${org.id}/accounts/${prod1.aws_account_id}/enable`)).id;
  if (!full.identity_center) await call('PUT', `/organizations/${org.id}/identity-center`, { region: 'us-east-1' });
  await activate(accountId);
  const group = await call<any>('POST', '/groups', {
    name: `Production readers ${email}`,
    accounts: [accountId],
    permissions: { start_identity_center_sessions: true },
    policy: { permission_set_arns: [permissionSet()] },
  });
  await call('PUT', `/groups/${group.id}/members/${encodeURIComponent(email)}`, {});
  return { accountId, awsAccountId: prod1.aws_account_id };
}

/** Picks `instance` among the targets the start form lists (GET /accounts/{id}/shell/targets). */
export async function pickTarget(page: Page, instance: string) {
  const form = page.getByRole('form', { name: 'Start a session' });
  const listed = form.getByTestId('shell-targets').getByRole('radio', { name: new RegExp(`${instance} \\(running\\)`) });
  await expect(listed).toBeEnabled();
  await listed.check();
}
