// The journeys of issue 16, each in a real browser against the running system, with a
// screenshot of every page it passes through and no tolerance for console errors or failed
// requests. Effects in AWS are checked with real calls to the local AWS. They run in order:
// the first registers the account the others use.
import { expect, test } from '@playwright/test';
import { AWS_ACCOUNT, account, api, aws, call, consoleUrl, demoAccount, jitUser, newPage, screenshot, signIn, tokenFor, watch } from './system';

test('an admin registers an account and saves its JIT settings', async ({ page }) => {
  const clean = watch(page);
  // A role to allow, trusting the whole account: the trust report must say so.
  await aws('iam', {
    Action: 'CreateRole',
    RoleName: 'ConsoleReadOnly',
    AssumeRolePolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${AWS_ACCOUNT}:root` }, Action: 'sts:AssumeRole' }],
    }),
  });
  await signIn(page, 'admin@example.com', 'admin');
  await page.getByRole('link', { name: 'Accounts' }).click();
  await expect(page.getByRole('heading', { name: 'Register an account' })).toBeVisible();
  await screenshot(page, 'admin-accounts');
  const key = demoAccount().credentials;
  const form = page.getByRole('form', { name: 'Register an account' });
  await form.getByLabel('Name').fill('Payments production');
  await form.getByLabel("An IAM user's access key").check();
  await form.getByLabel('Access key id').fill(key.access_key_id);
  await form.getByLabel('Secret access key').fill(key.secret_access_key);
  await form.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByRole('cell', { name: AWS_ACCOUNT })).toBeVisible();
  // The secret went to the API and is nowhere on the page.
  await expect(page.locator('body')).not.toContainText(key.secret_access_key);
  const jit = page.getByRole('form', { name: /JIT settings of Payments production/ });
  await expect(jit).toBeVisible();
  await jit.getByLabel('Access to this account is active').check();
  await jit.getByLabel('JIT sessions enabled').check();
  await jit.getByLabel(/Maximum session/).fill('7200');
  await jit.getByLabel(/Allowed roles/).fill(`arn:aws:iam::${AWS_ACCOUNT}:role/ConsoleReadOnly`);
  await jit.getByRole('button', { name: 'Save JIT settings' }).click();
  await expect(jit.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await expect(jit.locator('.trust')).toContainText(`arn:aws:iam::${AWS_ACCOUNT}:root`);
  await screenshot(page, 'admin-jit-settings');
  // What the API keeps is what the form said.
  const { id } = await account();
  const saved = await call('GET', `/accounts/${id}/jit`);
  expect(saved).toMatchObject({
    active: true,
    jit_enabled: true,
    max_duration_seconds: 7200,
    allowed_role_arns: [`arn:aws:iam::${AWS_ACCOUNT}:role/ConsoleReadOnly`],
  });
  clean();
});

test('a requester starts a JIT session and sees its credentials once', async ({ page }) => {
  const clean = watch(page);
  const { roleArn } = await jitUser('requester@example.com', 'ConsoleOnCall');
  await signIn(page, 'requester@example.com', 'user');
  await expect(page.getByRole('heading', { name: 'Start a session' })).toBeVisible();
  await screenshot(page, 'requester-access');
  await page.getByLabel('Role', { exact: true }).selectOption(roleArn);
  await page.getByLabel(/Reason/).fill('INC-4711: look at the payment queue');
  await page.getByRole('button', { name: 'Start session' }).click();
  const handed = page.getByRole('region', { name: /shown once/ });
  await expect(handed).toBeVisible();
  const keyId = (await handed.locator('.secret', { hasText: 'Access key id' }).locator('textarea').inputValue());
  const secret = (await handed.locator('.secret', { hasText: 'Secret access key' }).locator('textarea').inputValue());
  const sessionToken = (await handed.locator('.secret', { hasText: 'Session token' }).locator('textarea').inputValue());
  await expect(handed.getByRole('link', { name: 'Open the AWS console' })).toHaveAttribute('href', /Action=login/);
  await expect(handed.getByLabel('credential_process profile')).toHaveValue(
    /credential_process = cib credential-process --account \S+ --role arn:aws:iam::\d+:role\/ConsoleOnCall/,
  );
  await screenshot(page, 'requester-credentials');
  // The credentials are real: AWS says whose they are.
  const who = await aws('sts', { Action: 'GetCallerIdentity' }, { accessKeyId: keyId, secretAccessKey: secret, sessionToken });
  expect(who).toContain('assumed-role/ConsoleOnCall/');
  await expect(page.getByRole('row', { name: /ConsoleOnCall/ })).toContainText('active');
  // After a reload (and signing in again) the session is listed, its secrets are not.
  await page.reload();
  // The reloaded page first (it reads config.json), then the sign-in.
  await expect(page.getByRole('button', { name: 'Sign in (development)' })).toBeVisible();
  await signIn(page, 'requester@example.com', 'user');
  await expect(page.getByRole('row', { name: /ConsoleOnCall/ })).toContainText('active');
  await expect(page.locator('body')).not.toContainText(secret);
  await expect(page.getByRole('region', { name: /shown once/ })).toHaveCount(0);
  await screenshot(page, 'requester-after-reload');
  clean();
});

test('an approver approves a pending request and the requester sees it active', async ({ browser }) => {
  const approvers = await call('POST', '/groups', { name: 'Payments approvers', accounts: 'all', permissions: {} });
  await call('PUT', `/groups/${approvers.id}/members/approver@example.com`, {});
  const { roleArn } = await jitUser('asker@example.com', 'ConsoleDeploy', {
    approval: { approvals_required: 1, approver_group_ids: [approvers.id] },
  });
  const requester = await newPage(browser);
  // The requester's page counts its own reads of a session as it sends them, and runs on
  // Playwright's clock, so "it stops asking" is shown by running the page's timers forward,
  // not by waiting.
  await requester.addInitScript(() => {
    const w = window as unknown as { sessionReads: number };
    w.sessionReads = 0;
    const send = window.fetch.bind(window);
    window.fetch = (input, init) => {
      if (/\/sessions\/[^/?]+$/.test(String(input)) && (init?.method ?? 'GET') === 'GET') w.sessionReads += 1;
      return send(input, init);
    };
  });
  await requester.clock.install();
  const approver = await newPage(browser);
  const cleanRequester = watch(requester);
  const cleanApprover = watch(approver);
  await signIn(requester, 'asker@example.com', 'user');
  await requester.getByLabel('Role', { exact: true }).selectOption(roleArn);
  await expect(requester.getByText('This access waits for approval before it starts.')).toBeVisible();
  await requester.getByLabel(/Reason/).fill('CHG-88: deploy the hotfix');
  await requester.getByRole('button', { name: 'Start session' }).click();
  await expect(requester.getByRole('status').filter({ hasText: 'waits for approval' })).toBeVisible();
  await expect(requester.getByRole('row', { name: /ConsoleDeploy/ })).toContainText('pending');
  await screenshot(requester, 'requester-pending');

  // The approval makes the session active before its credentials are issued and held, so a
  // read in between carries nothing yet. The requester's reads are held while the approver
  // decides; the first after it gets that in-between answer (the API's own, read as an admin,
  // which never takes what is held), and only later reads reach the API.
  const { items } = await call('GET', '/sessions?limit=50');
  const sessionId = items.find((s: any) => s.user === 'asker@example.com' && s.status === 'pending').id;
  let phase: 'held' | 'between' | 'through' = 'held';
  const between: string[] = [];
  const pendingRead = await call('GET', `/sessions/${sessionId}`);
  await requester.route(`${api()}/sessions/${sessionId}`, async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    if (phase === 'through') return route.continue();
    const serving = phase;
    if (serving === 'between') phase = 'through';
    const body = serving === 'held' ? pendingRead : await call('GET', `/sessions/${sessionId}`);
    if (serving === 'between') between.push(body.status);
    await route.fulfill({ json: body, headers: { 'access-control-allow-origin': new URL(consoleUrl()).origin } });
  });

  await signIn(approver, 'approver@example.com', 'user');
  await approver.getByRole('link', { name: 'Approvals' }).click();
  const card = approver.getByRole('article', { name: 'Request from asker@example.com' });
  await expect(card).toContainText('CHG-88: deploy the hotfix');
  await expect(card).toContainText('1 h');
  await screenshot(approver, 'approver-inbox');
  await card.getByLabel(/Comment/).fill('Go ahead');
  await card.getByRole('button', { name: 'Approve' }).click();
  await expect(approver.getByText('Nothing waits for your decision.')).toBeVisible();
  await screenshot(approver, 'approver-after-approval');
  phase = 'between';

  // The requester's page, untouched, shows the session active and what it granted.
  await expect(requester.getByRole('row', { name: /ConsoleDeploy/ })).toContainText('active');
  const handed = requester.getByRole('region', { name: /shown once/ });
  await expect(handed).toBeVisible();
  expect(between).toEqual(['active']);
  const keyId = (await handed.locator('.secret', { hasText: 'Access key id' }).locator('textarea').inputValue());
  const secret = (await handed.locator('.secret', { hasText: 'Secret access key' }).locator('textarea').inputValue());
  const sessionToken = (await handed.locator('.secret', { hasText: 'Session token' }).locator('textarea').inputValue());
  const who = await aws('sts', { Action: 'GetCallerIdentity' }, { accessKeyId: keyId, secretAccessKey: secret, sessionToken });
  expect(who).toContain('assumed-role/ConsoleDeploy/');
  await screenshot(requester, 'requester-approved');
  // Collected, the page stops asking (it asks every 2 s while it waits): ten seconds of the
  // page's timers run at once, and no read is sent (a read goes out within the timer's turn).
  const reads = () => requester.evaluate(() => (window as unknown as { sessionReads: number }).sessionReads);
  const asked = await reads();
  expect(asked).toBeGreaterThan(0);
  await requester.clock.runFor(10_000);
  expect(await reads()).toBe(asked);
  cleanRequester();
  cleanApprover();
});

test('an auditor opens a session timeline and sees the log verified', async ({ page }) => {
  const clean = watch(page);
  const { accountId, roleArn } = await jitUser('audited@example.com', 'ConsoleAudited');
  const user = await tokenFor('audited@example.com', 'user');
  const started = await call('POST', '/sessions', {
    account_id: accountId,
    type: 'jit',
    role_arn: roleArn,
    duration_seconds: 900,
    reason: 'OPS-7: rotate the queue keys',
  }, user);
  await call('DELETE', `/sessions/${started.session.id}`, { reason: 'done' }, user);
  await signIn(page, 'auditor@example.com', 'auditor');
  // An auditor reads; the requester's and approver's pages are not theirs.
  await expect(page.getByRole('link', { name: 'My access' })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Sessions' })).toBeVisible();
  await page.getByLabel('Status').selectOption('ended');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByRole('row', { name: /audited@example.com/ })).toBeVisible();
  await screenshot(page, 'auditor-sessions');
  await page.getByRole('link', { name: started.session.id }).click();
  await expect(page.getByTestId('chain')).toContainText('Log verified');
  const timeline = page.locator('.timeline');
  for (const event of ['requested', 'started', 'ended', 'revoked']) {
    await expect(timeline).toContainText(event);
  }
  await expect(timeline).toContainText('OPS-7: rotate the queue keys');
  await screenshot(page, 'auditor-timeline');
  clean();
});

test('an admin provisions, rotates, imports and deprovisions IAM users', async ({ page }) => {
  const clean = watch(page);
  await account();
  // A user the broker did not make: importing records it and never changes it.
  await aws('iam', { Action: 'CreateUser', UserName: 'legacy-ops' });
  await signIn(page, 'admin@example.com', 'admin');
  await page.getByRole('link', { name: 'Users' }).click();
  const form = page.getByRole('form', { name: /Provision a user/ });
  await form.getByLabel('E-mail of the platform user').fill('dana@example.com');
  await form.getByLabel(/IAM user name/).fill('dana');
  await form.getByLabel(/console login profile/).check();
  await form.getByRole('button', { name: 'Provision' }).click();
  const row = page.getByRole('row', { name: /dana@example\.com/ });
  await expect(row).toContainText('provisioned');
  await screenshot(page, 'admin-users');
  // IAM has the user, its login profile and the key the table names (its secret nowhere).
  const keyOf = async () => /AKIA[A-Z0-9]{12,}/.exec((await row.textContent()) ?? '')?.[0];
  const firstKey = await keyOf();
  expect(firstKey).toBeTruthy();
  expect(await aws('iam', { Action: 'ListAccessKeys', UserName: 'dana' })).toContain(firstKey);
  await aws('iam', { Action: 'GetLoginProfile', UserName: 'dana' });

  await row.getByRole('button', { name: 'Rotate key of dana' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'New key for dana' })).toBeVisible();
  const secondKey = await keyOf();
  expect(secondKey).toBeTruthy();
  expect(secondKey).not.toBe(firstKey);
  const keys = await aws('iam', { Action: 'ListAccessKeys', UserName: 'dana' });
  expect(keys).toContain(secondKey);
  expect(keys).not.toContain(firstKey);

  await page.getByRole('button', { name: "Import the account's other IAM users" }).click();
  await expect(page.getByRole('status').filter({ hasText: /Imported \d+ IAM users/ })).toBeVisible();
  const legacy = page.getByRole('row', { name: /legacy-ops/ });
  await expect(legacy).toContainText('imported');
  await expect(legacy.getByRole('button')).toHaveCount(0);

  await row.getByRole('button', { name: 'Deprovision dana' }).click();
  await row.getByRole('button', { name: 'Yes, deprovision dana' }).click();
  await expect(row).toContainText('unprovisioned');
  await screenshot(page, 'admin-users-after');
  await expect(aws('iam', { Action: 'GetUser', UserName: 'dana' })).rejects.toThrow(/NoSuchEntity/);
  // The imported user is as it was.
  await aws('iam', { Action: 'GetUser', UserName: 'legacy-ops' });
  clean();
});

test('an admin sets up a group with its grant policy and members, and links a Slack member', async ({ page }) => {
  const clean = watch(page);
  const { id: accountId } = await account();
  const approvers = await call('POST', '/groups', { name: 'Database approvers', accounts: 'all', permissions: {} });
  const dbAdmin = `arn:aws:iam::${AWS_ACCOUNT}:role/DbAdmin`;
  await signIn(page, 'admin@example.com', 'admin');
  await page.getByRole('link', { name: 'Groups' }).click();
  const form = page.getByRole('form', { name: 'New group' });
  await form.getByLabel('Name').fill('Database operators');
  await form.getByLabel('Description').fill('On-call DBAs');
  await form.getByLabel(new RegExp(AWS_ACCOUNT)).check();
  await form.getByLabel(/JIT roles/).fill(dbAdmin);
  await form.getByLabel(/Longest session/).fill('3600');
  await form.getByLabel('Sessions wait for approval').check();
  await form.getByRole('group', { name: 'Approvers: members of' }).getByLabel('Database approvers').check();
  await form.getByRole('button', { name: 'Create group' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Created Database operators.' })).toBeVisible();
  // What the API keeps is what the form said.
  const made = (await call('GET', '/groups?limit=100')).items.find((g: any) => g.name === 'Database operators');
  expect(made).toMatchObject({
    description: 'On-call DBAs',
    accounts: [accountId],
    permissions: { start_jit_sessions: true, start_sessions: false, start_shell_sessions: false },
    policy: {
      approval: { approvals_required: 1, approver_group_ids: [approvers.id] },
      max_duration_seconds: 3600,
      jit_role_arns: [dbAdmin],
      break_glass: null,
    },
  });
  await expect(page.getByRole('row', { name: /Database operators/ })).toContainText('1 approval from Database approvers');

  const members = page.getByRole('region', { name: 'Members of Database operators' });
  await members.getByLabel('Add a member by e-mail').fill('erin@example.com');
  await members.getByRole('button', { name: 'Add member' }).click();
  await expect(members.getByRole('listitem')).toContainText(['erin@example.com']);
  expect((await call('GET', `/groups/${made.id}/members`)).items.map((m: any) => m.email)).toEqual(['erin@example.com']);
  await screenshot(page, 'admin-groups');

  // Automatic from now on: the change replaces the whole policy.
  const change = page.getByRole('form', { name: 'Change Database operators' });
  await change.getByLabel('Sessions wait for approval').uncheck();
  await change.getByLabel('Description').fill('');
  await change.getByRole('button', { name: 'Save group' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Saved Database operators.' })).toBeVisible();
  expect(await call('GET', `/groups/${made.id}`)).toMatchObject({ description: '', policy: { approval: null, jit_role_arns: [dbAdmin] } });

  await members.getByRole('button', { name: 'Remove erin@example.com' }).click();
  await expect(members.getByText('No members yet.')).toBeVisible();
  expect((await call('GET', `/groups/${made.id}/members`)).items).toEqual([]);
  await page.getByRole('button', { name: 'Delete Database operators' }).click();
  await page.getByRole('button', { name: 'Yes, delete Database operators' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Deleted Database operators' })).toBeVisible();
  await expect(call('GET', `/groups/${made.id}`)).rejects.toThrow(/404/);

  await page.getByRole('link', { name: 'Slack' }).click();
  const link = page.getByRole('form', { name: 'Link a Slack member' });
  await link.getByLabel(/Slack member id/).fill('U0CONSOLE1');
  await link.getByLabel('E-mail of the platform user').fill('erin@example.com');
  await link.getByRole('button', { name: 'Link' }).click();
  await expect(page.getByRole('row', { name: /U0CONSOLE1/ })).toContainText('erin@example.com');
  await screenshot(page, 'admin-slack');
  const linked = async () => (await call('GET', '/chatops/slack/users?limit=100')).items;
  await expect(page.getByRole('row', { name: /U0CONSOLE1/ })).toContainText('pending');
  expect(await linked()).toContainEqual(
    expect.objectContaining({ slack_user_id: 'U0CONSOLE1', email: 'erin@example.com', status: 'pending', linked_by: 'admin@example.com' }),
  );
  await page.getByRole('button', { name: 'Unlink U0CONSOLE1' }).click();
  await expect(page.getByRole('row', { name: /U0CONSOLE1/ })).toHaveCount(0);
  expect(await linked()).not.toContainEqual(expect.objectContaining({ slack_user_id: 'U0CONSOLE1' }));
  clean();
});
