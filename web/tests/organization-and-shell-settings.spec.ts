// An admin's set-up for the shell and Identity Center journeys, through the console: the seeded
// organization registered, prod-1 enabled and its Identity Center set up; the demo account's
// shell settings saved, their preferences document drifting (changed in AWS, as someone in the
// AWS console would) and put back; an e-mail's sign-in binding released.
import { expect, test } from '@playwright/test';
import { awsJson, organizationBody, shellSettings } from './stage';
import { account, screenshot, signIn, watch } from './system';

test('an admin registers the organization, sets up Identity Center and shell settings, and releases a sign-in binding', async ({ page }) => {
  // An account without shell settings answers 404: the form starts empty.
  const clean = watch(page, [/\/accounts\/[0-9A-Z]+\/shell$/]);
  const body = organizationBody();
  await signIn(page, 'admin@example.com', 'admin');
  await page.getByRole('link', { name: 'Organizations' }).click();
  await expect(page.getByText('No organization is registered.')).toBeVisible();
  const register = page.getByRole('form', { name: 'Register an organization' });
  await register.getByLabel('Name').fill(body.name);
  await register.getByLabel('Default region').fill(body.default_region);
  await register.getByLabel('Organization role ARN').fill(body.role_arn);
  await register.getByLabel(/ExternalId \(issued/).fill(body.external_id);
  await register.getByRole('button', { name: 'Register organization' }).click();
  const org = page.getByRole('region', { name: new RegExp(body.name) });
  await expect(org.getByRole('heading', { name: new RegExp(body.name) })).toBeFocused();
  const tree = org.getByTestId('organization-tree');
  for (const unit of ['Workloads', 'Production', 'Sandbox']) await expect(tree).toContainText(unit);
  const prod1 = tree.locator('li[data-account]', { hasText: 'prod-1' });
  await prod1.getByRole('button', { name: 'Enable prod-1' }).click();
  await expect(prod1).toContainText('enabled');
  await expect(org.getByRole('status').filter({ hasText: 'Enabled prod-1' })).toBeVisible();
  await org.getByRole('form', { name: 'IAM Identity Center' }).getByRole('button', { name: 'Set up Identity Center' }).click();
  await expect(org.getByTestId('identity-center')).toContainText('arn:aws:sso:::instance/');
  await org.getByRole('button', { name: 'Sync now' }).click();
  await expect(org.getByRole('status').filter({ hasText: /Synced .*7 accounts in 3 OUs/ })).toBeVisible();
  await screenshot(page, 'admin-organization');

  // Shell settings of the demo account, as the other journeys use them.
  await account();
  const wanted = shellSettings();
  await page.getByRole('link', { name: 'Accounts' }).click();
  await page.getByRole('button', { name: /^Shell settings of / }).first().click();
  const shell = page.getByRole('form', { name: /^Shell settings of / });
  await expect(shell.getByText('No shell settings yet')).toBeVisible();
  await shell.getByLabel(/Shell role ARN/).fill(wanted.role_arn);
  await shell.getByLabel(/Targets by tag/).fill('Environment=demo');
  await shell.getByLabel(/Longest shell session/).fill(String(wanted.max_duration_seconds));
  await shell.getByLabel(/Transcript bucket/).fill(wanted.recording.s3_bucket);
  await shell.getByLabel('Key prefix').fill(wanted.recording.s3_key_prefix);
  await shell.getByRole('button', { name: 'Save shell settings' }).click();
  const preferences = shell.getByTestId('preferences');
  await expect(preferences).toContainText('In sync');
  await expect(preferences).toContainText('created by this save');

  // Someone changes the document in AWS: a new default version sending transcripts elsewhere.
  const doc = await awsJson('GetDocument', { Name: 'SSM-SessionManagerRunShell' });
  const content = JSON.parse(doc.Content);
  content.inputs.s3BucketName = 'somewhere-else';
  const updated = await awsJson('UpdateDocument', { Name: 'SSM-SessionManagerRunShell', DocumentVersion: '$LATEST', Content: JSON.stringify(content) });
  await awsJson('UpdateDocumentDefaultVersion', { Name: 'SSM-SessionManagerRunShell', DocumentVersion: updated.DocumentDescription.DocumentVersion });
  await preferences.getByRole('button', { name: 'Check the document again' }).click();
  await expect(preferences.getByRole('alert')).toContainText('Drift');
  const drift = preferences.getByRole('row', { name: /inputs\.s3BucketName/ });
  await expect(drift).toContainText(`"${wanted.recording.s3_bucket}"`);
  await expect(drift).toContainText('"somewhere-else"');
  await screenshot(page, 'admin-shell-drift');
  await shell.getByRole('button', { name: 'Save shell settings' }).click();
  await expect(preferences).toContainText('updated by this save');
  await expect(preferences.getByRole('alert')).toHaveCount(0);
  await screenshot(page, 'admin-shell-settings');

  // requester@example.com signed in before (journeys.spec.ts): their e-mail is bound to that sign-in.
  await page.getByRole('link', { name: 'Users' }).click();
  const release = page.getByRole('form', { name: "Release an e-mail's sign-in binding" });
  await release.getByLabel('E-mail to release').fill('requester@example.com');
  await release.getByRole('button', { name: 'Release' }).click();
  await expect(release.getByRole('status').filter({ hasText: 'Released requester@example.com' })).toBeVisible();
  await screenshot(page, 'admin-users-release');
  clean();
});
