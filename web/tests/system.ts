// What the journeys need from the running system: the API as an admin (to set the stage the
// way an admin would), tokens from the development sign-in, and the local AWS itself, with the
// seeded account's key, to make roles and to check that handed-out credentials really work.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import { AwsClient } from 'aws4fetch';
import { basename, join } from 'node:path';
import { type Browser, type Page, expect, test } from '@playwright/test';

/** A running system, as its runner's banner and state folder tell it (runner.ts). */
export interface System {
  /** The runner's state folder (`CIB_LOCAL_DIR`): its log, and the JSON files it writes. */
  dir: string;
  api: string;
  console: string;
  /** The local AWS (moto). */
  aws: string;
  adminToken: string;
  permissionSet: string;
  shellInstance: string;
  shellBucket: string;
  /** With `--clock-ahead-seconds`: POST here moves the broker's clock ahead of the local AWS's. */
  clockControl?: string;
}

let own: System | undefined;

/** The system every helper here and in stage.ts acts on: the shared one (global-setup.ts), or a spec's own. */
export const system = (): System => own ?? (JSON.parse(process.env.CIB_SYSTEM!) as System);

/** Points the helpers at a spec's own system (runner.ts), or back at the shared one (`undefined`). */
export function useSystem(s: System | undefined) {
  own = s;
}

/** One of the JSON files the runner writes in its state folder. */
export const stateFile = <T = any>(name: string): T => JSON.parse(readFileSync(join(system().dir, name), 'utf8')) as T;

export const api = () => system().api;
export const consoleUrl = () => system().console;
const admin = () => system().adminToken;
export const demoAccount = () =>
  stateFile<{
    name: string;
    default_region: string;
    credentials: { type: 'access_key'; access_key_id: string; secret_access_key: string };
  }>('demo-account.json');

export async function call<T = any>(method: string, path: string, body?: unknown, token = admin()): Promise<T> {
  const r = await fetch(`${api()}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A token from the development sign-in, through the same code + PKCE exchange the console makes. */
export async function tokenFor(email: string, role: 'user' | 'admin' | 'auditor'): Promise<string> {
  const config = (await (await fetch(`${consoleUrl()}/config.json`)).json()) as any;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const form = new URLSearchParams({
    response_type: 'code',
    client_id: config.oidc.client_id,
    redirect_uri: `${consoleUrl()}/`,
    state: 'fixture',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    email,
    role,
  });
  const answer = await fetch(config.oidc.authorization_endpoint, { method: 'POST', body: form, redirect: 'manual' });
  const code = new URL(answer.headers.get('location')!).searchParams.get('code')!;
  const token = await fetch(config.oidc.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: `${consoleUrl()}/`,
      client_id: config.oidc.client_id,
      code_verifier: verifier,
    }),
  });
  return ((await token.json()) as any).id_token;
}

/** An AWS Query API call (IAM, STS) to the local AWS, signed with `keys`. */
export async function aws(
  service: 'iam' | 'sts',
  params: Record<string, string>,
  keys: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = seeded(),
): Promise<string> {
  const client = new AwsClient({ ...keys, service, region: 'us-east-1' });
  const r = await client.fetch(`${system().aws}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    // Encoded as the AWS SDKs (botocore) encode forms: moto checks the signature against the
    // body as it re-encodes it, which differs from URLSearchParams for `*` alone.
    body: new URLSearchParams({ Version: service === 'iam' ? '2010-05-08' : '2011-06-15', ...params })
      .toString()
      .replace(/\*/g, '%2A'),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${service} ${params.Action}: ${r.status} ${text}`);
  return text;
}

function seeded() {
  const c = demoAccount().credentials;
  return { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key };
}

export const AWS_ACCOUNT = '210000000001';

/** The seeded account, registered (by the admin journey through the console, or here). */
export async function account(): Promise<{ id: string }> {
  const page = await call<{ items: { id: string; aws_account_id: string }[] }>('GET', '/accounts?limit=100');
  const found = page.items.find((a) => a.aws_account_id === AWS_ACCOUNT);
  return found ?? call('POST', '/accounts', demoAccount());
}

/** Adds `role` to the account's JIT settings, keeping the roles already there. */
async function allowRole(accountId: string, role: string) {
  const jit = await call<any>('GET', `/accounts/${accountId}/jit`);
  const roles = Array.from(new Set([...(jit.allowed_role_arns ?? []), role]));
  await call('PUT', `/accounts/${accountId}/jit`, {
    active: true,
    jit_enabled: true,
    max_duration_seconds: Math.max(jit.max_duration_seconds ?? 3600, 3600),
    description: jit.description || null,
    allowed_role_arns: roles,
  });
}

/**
 * A user who may assume a JIT role through the broker, as README's walk-through sets one up:
 * provisioned with a credential, a role trusting exactly what the API asks for, the role
 * allowed, and a group granting it (with `policy`, e.g. an approval).
 */
export async function jitUser(email: string, roleName: string, policy: unknown = null): Promise<{ accountId: string; roleArn: string; groupId: string }> {
  const { id } = await account();
  const roleArn = `arn:aws:iam::${AWS_ACCOUNT}:role/${roleName}`;
  // A user given a second role is provisioned already.
  await call('POST', `/accounts/${id}/users`, { email, credential: true }).catch((e: Error) => {
    if (!/409/.test(e.message)) throw e;
  });
  // Allowed first, so that the API says what the role must trust; saved again once it exists,
  // so that its trust review (and maximum) are read from the real role.
  await allowRole(id, roleArn);
  const user = await call<any>('GET', `/accounts/${id}/users/${encodeURIComponent(email)}`);
  const guide = user.jit_roles.find((r: any) => r.role_arn === roleArn);
  await aws('iam', {
    Action: 'CreateRole',
    RoleName: roleName,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: guide.trust_policy_statements }),
  });
  await aws('iam', {
    Action: 'PutRolePolicy',
    RoleName: roleName,
    PolicyName: 'work',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iam:ListRoles', Resource: '*' }],
    }),
  });
  await allowRole(id, roleArn);
  const group = await call<any>('POST', '/groups', {
    name: `${roleName} users`,
    accounts: [id],
    permissions: { start_jit_sessions: true },
    policy: { jit_role_arns: [roleArn], ...(policy ?? {}) },
  });
  await call('PUT', `/groups/${group.id}/members/${encodeURIComponent(email)}`, {});
  return { accountId: id, roleArn, groupId: group.id };
}

/**
 * Fails the test on anything the page logs as an error, any uncaught exception and any
 * request that fails or answers with an error status.
 */
export function watch(page: Page, expected: RegExp[] = []): () => void {
  const problems: string[] = [];
  // Answers a journey provokes on purpose (and says why where it passes them).
  const meant = (url: string) => expected.some((re) => re.test(url));
  page.on('console', (m) => {
    // Chromium logs each error answer it receives; those the journey expects are not problems.
    if (m.type() === 'error' && !(m.location().url && meant(m.location().url)) && !expected.some((re) => re.test(m.text()))) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !meant(r.url())) problems.push(`request answered ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return () => expect(problems, 'the page logged errors or requests failed').toEqual([]);
}

/** Screenshots so far per journey file: a worker restarted after a failure starts again at 1. */
const shots = new Map<string, number>();
/**
 * A full-page screenshot under target/console-screenshots, on every run, named after its journey
 * file and its order there, of a page that passes axe-core with no serious or critical violation
 * (every page a journey shows is checked so).
 */
export async function screenshot(page: Page, name: string) {
  const file = basename(test.info().file).replace(/\.spec\.ts$/, '');
  const n = (shots.get(file) ?? 0) + 1;
  shots.set(file, n);
  await page.screenshot({ path: `../target/console-screenshots/${file}-${String(n).padStart(2, '0')}-${name}.png`, fullPage: true });
  await accessible(page, name);
}

/** A page of its own browser context (another person's browser), as axe-core needs one to be. */
export async function newPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}

/** axe-core's verdict on the page as it is: no serious or critical violation. */
export async function accessible(page: Page, name: string) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const grave = violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
  expect(grave, `axe-core on ${name}`).toEqual([]);
}

/** Signs in through the console's own button and the development sign-in's page. */
export async function signIn(page: Page, email: string, role: 'user' | 'admin' | 'auditor') {
  await page.goto(consoleUrl());
  await page.getByRole('button', { name: 'Sign in (development)' }).click();
  await expect(page.getByRole('heading', { name: 'Development sign-in' })).toBeVisible();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Role').selectOption(role);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('header .who')).toContainText(email);
}
