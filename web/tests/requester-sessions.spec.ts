// A requester's shell and Identity Center sessions, started in the console: what each hands out
// (once) works against the local AWS, and the shell session is ended from the console.
import { expect, test } from '@playwright/test';
import { identityCenterUser, openShell, permissionSet, pickTarget, shellInstance, shellUser } from './stage';
import { AWS_ACCOUNT, screenshot, signIn, watch } from './system';

test('a requester starts a shell session and an Identity Center session', async ({ page }) => {
  const clean = watch(page);
  const { accountId } = await shellUser('alice@example.com', 'Demo shell users');
  const ic = await identityCenterUser('alice@example.com');
  await signIn(page, 'alice@example.com', 'user');
  const form = page.getByRole('form', { name: 'Start a session' });
  await form.getByLabel('Account').selectOption(accountId);
  await form.getByLabel('Kind').selectOption('shell');
  await pickTarget(page, shellInstance());
  await form.getByLabel(/Reason/).fill('INC-5150: the workers stopped');
  await screenshot(page, 'requester-shell-start');
  await form.getByRole('button', { name: 'Start session' }).click();

  const handed = page.getByRole('region', { name: /Shell .* shown once/ });
  await expect(handed.getByRole('heading')).toBeFocused();
  const command = await handed.getByLabel('Start-session command').inputValue();
  expect(command).toBe(`aws ssm start-session --target ${shellInstance()} --document-name SSM-SessionManagerRunShell --region us-east-1`);
  const value = (label: string) => handed.getByLabel(label, { exact: true }).inputValue();
  const credentials = {
    access_key_id: await value('Access key id'),
    secret_access_key: await value('Secret access key'),
    session_token: await value('Session token'),
  };
  expect(await handed.getByLabel('Credentials and command').inputValue()).toContain(`AWS_SESSION_TOKEN=${credentials.session_token}\n${command}`);
  await screenshot(page, 'requester-shell-granted');
  // What the command does: Session Manager opens a shell on the target with these credentials.
  expect(await openShell(credentials, shellInstance())).toMatch(/^cib-/);
  await handed.getByRole('button', { name: 'I have copied them: hide' }).click();
  await expect(handed).toHaveCount(0);

  await form.getByLabel('Account').selectOption(ic.accountId);
  await form.getByLabel('Kind').selectOption('identity_center');
  await expect(form.getByLabel('Permission set')).toHaveValue(permissionSet());
  await form.getByLabel(/Reason/).fill('INC-5150: read the production roles');
  await form.getByRole('button', { name: 'Start session' }).click();
  const portal = page.getByRole('region', { name: /Identity Center ReadOnly .* shown once/ });
  await expect(portal.getByRole('heading')).toBeFocused();
  await expect(portal.getByRole('link', { name: 'Open the AWS access portal' })).toHaveAttribute(
    'href',
    new RegExp(`awsapps\\.com/start/#/console\\?account_id=${ic.awsAccountId}&role_name=ReadOnly`),
  );
  const profile = await portal.getByLabel('AWS CLI profile').inputValue();
  expect(profile).toContain(`sso_account_id = ${ic.awsAccountId}`);
  expect(profile).toContain('sso_role_name = ReadOnly');
  await expect(portal).toContainText(`aws sso login --profile cib-${ic.awsAccountId}-ReadOnly`);
  await screenshot(page, 'requester-identity-center-granted');
  await portal.getByRole('button', { name: 'Done: hide' }).click();

  await expect(page.getByRole('row', { name: /Identity Center ReadOnly/ })).toContainText('active');
  const shellRow = page.getByRole('row', { name: new RegExp(`Shell ${shellInstance()} on ${AWS_ACCOUNT}`) });
  await expect(shellRow).toContainText('active');
  await shellRow.getByRole('button', { name: /^End Shell/ }).click();
  await shellRow.getByLabel('Reason').fill('the workers run again');
  await shellRow.getByRole('button', { name: 'End now' }).click();
  // Its end terminates the Session Manager session it opened, then a second sweep ends it.
  await expect(shellRow).toContainText(/ending|ended/);
  await screenshot(page, 'requester-sessions');
  clean();
});
