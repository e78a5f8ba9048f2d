// A shell session that waits for two approvals: the second approver sees exactly what the
// request gives (a shell, on which target, for how long, why) and who approved already, approves,
// and the requester's page shows the command and credentials once.
import { expect, test } from '@playwright/test';
import { openShell, pickTarget, shellInstance, shellUser } from './stage';
import { call, newPage, screenshot, signIn, tokenFor, watch } from './system';

test('an approver approves a shell request, seeing its target', async ({ browser }) => {
  const approvers = await call('POST', '/groups', { name: 'Shell approvers', accounts: 'all', permissions: {} });
  for (const who of ['first-approver@example.com', 'shell-approver@example.com']) {
    await call('PUT', `/groups/${approvers.id}/members/${who}`, {});
  }
  const { accountId } = await shellUser('shell-asker@example.com', 'Shell on approval', {
    approval: { approvals_required: 2, approver_group_ids: [approvers.id] },
  });
  const requester = await newPage(browser);
  const approver = await newPage(browser);
  const cleanRequester = watch(requester);
  const cleanApprover = watch(approver);
  await signIn(requester, 'shell-asker@example.com', 'user');
  const form = requester.getByRole('form', { name: 'Start a session' });
  await form.getByLabel('Account').selectOption(accountId);
  await form.getByLabel('Kind').selectOption('shell');
  await pickTarget(requester, shellInstance());
  await form.getByLabel('Duration').selectOption('1800');
  await form.getByLabel(/Reason/).fill('CHG-311: restart the stuck worker');
  await form.getByRole('button', { name: 'Start session' }).click();
  await expect(requester.getByRole('status').filter({ hasText: 'waits for approval' })).toBeVisible();
  const row = requester.getByRole('row', { name: new RegExp(`Shell ${shellInstance()}`) });
  await expect(row).toContainText('pending');

  // The first approval, through the API.
  const { items } = await call('GET', `/requests?limit=50`);
  const request = items.find((s: any) => s.user === 'shell-asker@example.com');
  await call('POST', `/sessions/${request.id}/approvals`, { reason: 'fine by me' }, await tokenFor('first-approver@example.com', 'user'));

  await signIn(approver, 'shell-approver@example.com', 'user');
  await approver.getByRole('link', { name: 'Approvals' }).click();
  const card = approver.getByRole('article', { name: 'Request from shell-asker@example.com' });
  const term = (name: string) => card.locator('dt', { hasText: new RegExp(`^${name}$`) }).locator('xpath=following-sibling::dd[1]');
  await expect(term('Kind')).toHaveText('Shell');
  await expect(term('Target')).toHaveText(shellInstance());
  await expect(term('For how long')).toHaveText('30 min');
  await expect(term('Why')).toHaveText('CHG-311: restart the stuck worker');
  await expect(term('Approvals')).toContainText('1 of 2: 1 more needed');
  await expect(term('Approvals')).toContainText('first-approver@example.com');
  await expect(term('Approvals')).toContainText('“fine by me”');
  await screenshot(approver, 'approver-shell-request');
  await card.getByLabel(/Comment/).fill('Go ahead, CHG-311 is on the calendar');
  await card.getByRole('button', { name: 'Approve' }).click();
  await expect(card).toHaveCount(0);

  // The requester's page, untouched, collects what the approval granted: once.
  const handed = requester.getByRole('region', { name: /Shell .* shown once/ });
  await expect(handed).toBeVisible();
  await expect(row).toContainText('active');
  await expect(handed.getByLabel('Start-session command')).toHaveValue(new RegExp(`--target ${shellInstance()} `));
  const value = (label: string) => handed.getByLabel(label, { exact: true }).inputValue();
  const credentials = {
    access_key_id: await value('Access key id'),
    secret_access_key: await value('Secret access key'),
    session_token: await value('Session token'),
  };
  expect(await openShell(credentials, shellInstance())).toMatch(/^cib-/);
  await screenshot(requester, 'requester-shell-approved');
  const session = await call('GET', `/sessions/${request.id}`);
  expect(session.request.approvals.map((a: any) => a.by)).toEqual(['first-approver@example.com', 'shell-approver@example.com']);
  // Ended, so that later journeys' lists stay short.
  await call('DELETE', `/sessions/${request.id}`, { reason: 'done' });
  cleanRequester();
  cleanApprover();
});
