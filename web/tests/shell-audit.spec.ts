// Reading a shell session after the fact: its verified timeline and the AWS calls made with it
// (an auditor), its transcript with control characters made visible, and that transcript changed
// in S3 afterwards shown as changed (an admin: the API gives transcripts to owners and admins,
// and to auditors only where AUDITORS_READ_TRANSCRIPTS is set, which the local runner does not
// set); the account's evidence check (admins only in the API), with a tampered log shown as
// modified.
import { expect, test } from '@playwright/test';
import { s3, shellSessionThatRan, shellUser, transcriptBucket } from './stage';
import { account, call, newPage, screenshot, signIn, watch } from './system';

const TYPED = '$ tail -n 1 /var/log/worker.log\r\n\x1b[31mERROR\x1b[0m queue stalled\x07\r\n$ exit\r\n';

test('an auditor reads a shell session’s activity, an admin its transcript and the account’s evidence, with tampering shown', async ({ browser }) => {
  await shellUser('operator@example.com', 'Demo shell operators');
  const { id, ssm } = await shellSessionThatRan('operator@example.com', TYPED);
  const auditor = await newPage(browser);
  const cleanAuditor = watch(auditor);
  await signIn(auditor, 'auditor@example.com', 'auditor');
  await auditor.getByRole('link', { name: id }).click();
  await expect(auditor.getByTestId('chain')).toContainText('Log verified');
  await expect(auditor.locator('.summary')).toContainText('Target');
  const activity = auditor.getByRole('region', { name: 'Activity' });
  await expect(activity.getByTestId('activity-window')).toContainText(/Calls from .+ to .+ in us-east-1, whose user name is cib-/);
  const opened = activity.getByRole('row', { name: /ssm:StartSession/ });
  await expect(opened).toContainText('done');
  await expect(opened).toContainText(`assumed-role/ConsoleShell/cib-${id}`);
  const transcripts = auditor.getByRole('region', { name: 'Transcripts' });
  await expect(transcripts.locator(`[data-ssm-session="${ssm}"]`)).toContainText(`s3://${transcriptBucket()}/shell/${ssm}.log`);
  await screenshot(auditor, 'auditor-shell-session');
  cleanAuditor();

  const admin = await newPage(browser);
  // The evidence answer the journey rewrites below is the API's own, passed through a route.
  const cleanAdmin = watch(admin);
  await signIn(admin, 'admin@example.com', 'admin');
  await admin.getByRole('link', { name: 'Sessions' }).click();
  await admin.getByRole('link', { name: id }).click();
  const readTranscript = async () => {
    await admin.getByRole('button', { name: `Read transcript of ${ssm}` }).click();
    await expect(admin.getByRole('heading', { name: `Transcript of ${ssm}` })).toBeFocused();
  };
  await readTranscript();
  const shown = admin.getByTestId('transcript');
  // Escape, bell and colours are shown, not obeyed; line breaks stay line breaks.
  await expect(shown).toContainText('^[[31mERROR^[[0m queue stalled^G\n$ exit');
  await expect(shown.locator('abbr.control').first()).toHaveAttribute('title', 'escape, U+001B');
  await expect(admin.getByText(/Unchanged: the same \d+ bytes/)).toBeVisible();
  await screenshot(admin, 'admin-shell-transcript');

  // Someone with write access to the transcript bucket rewrites what was typed.
  const key = `shell/${ssm}.log`;
  const original = await s3('GET', transcriptBucket(), key);
  await s3('PUT', transcriptBucket(), key, original.replace('queue stalled', 'all fine'));
  await admin.getByRole('link', { name: 'All sessions' }).click();
  await admin.getByRole('link', { name: id }).click();
  await readTranscript();
  await expect(admin.getByRole('alert').filter({ hasText: 'Changed:' })).toContainText("not the one the session's end recorded");
  await expect(shown).toContainText('all fine');
  await screenshot(admin, 'admin-shell-transcript-changed');

  // The evidence check, as the API answers it now: the session's log is listed (pending until
  // the hour it was written in is digested, when the hour ends).
  const { id: accountId } = await account();
  const logKey = new RegExp(`^sessions/${accountId}/\\d{4}-\\d{2}-\\d{2}/${id}\\.jsonl$`);
  await admin.getByRole('link', { name: 'Evidence' }).click();
  const form = admin.getByRole('form', { name: 'Verify the session logs' });
  await form.getByLabel('Account').selectOption(accountId);
  await form.getByRole('button', { name: 'Verify' }).click();
  const report = admin.getByTestId('evidence-report');
  await expect(report.getByRole('heading')).toBeFocused();
  await expect(report.getByTestId('evidence-summary')).toContainText(/^digests: .+\nobjects: .+$/);
  const real = await call('GET', `/accounts/${accountId}/evidence`);
  const listed = real.objects.find((o: any) => logKey.test(o.key));
  expect(listed, 'the session log is in the report').toBeTruthy();
  await report.getByText(/Every digest \(\d+\) and log/).click();
  await expect(report.locator(`tr[data-key="${listed.key}"]`).first()).toContainText(listed.status);
  await screenshot(admin, 'admin-evidence');

  // A tampered log. The journey cannot write the broker's log bucket (its keys are the
  // broker's own) nor make an hour end, so the API's own answer is passed through with this
  // session's log as the API reports one that differs from its digest: modified, and the
  // report not valid. What is checked is the console's rendering of that verdict.
  await admin.route(/\/evidence\?/, async (route) => {
    const answer = await route.fetch();
    const body = await answer.json();
    const was = body.objects.find((o: any) => o.key === listed.key).status;
    body.objects = body.objects.map((o: any) =>
      o.key === listed.key ? { ...o, status: 'modified', detail: 'its SHA-256 differs from the one its digest lists' } : o,
    );
    body.object_counts[was] -= 1;
    if (!body.object_counts[was]) delete body.object_counts[was];
    body.object_counts.modified = (body.object_counts.modified ?? 0) + 1;
    body.valid = false;
    await route.fulfill({ response: answer, json: body });
  });
  await form.getByRole('button', { name: 'Verify' }).click();
  await expect(report.getByTestId('evidence-verdict')).toContainText('NOT verified');
  await expect(report.getByTestId('evidence-summary')).toContainText('1 modified');
  const tampered = report.getByTestId('evidence-not-valid').locator(`tr[data-key="${listed.key}"]`);
  await expect(tampered).toContainText('modified');
  await expect(tampered).toContainText('differs from the one its digest lists');
  await screenshot(admin, 'admin-evidence-modified');
  cleanAdmin();
});
