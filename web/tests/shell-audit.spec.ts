// An auditor reads shell sessions after the fact: their verified timelines, the AWS calls made
// with one, another's transcript with control characters made visible (and, rewritten in S3
// afterwards, shown as changed), and the account's evidence check, verified, then NOT verified
// once that session's log is overwritten in the broker's log bucket.
//
// The transcript and the evidence are read on a system of the spec's own (runner.ts), which lets
// auditors read transcripts (AUDITORS_READ_TRANSCRIPTS, as a deployment may) and whose broker
// clock the spec moves two hours ahead of its local AWS once the session has ended: the session's
// log then lies in an hour the broker holds finished, and its expirer (every 5 s) digests it at
// once. The shared system cannot be moved so: a broker clock ahead writes denies keyed on token
// issue times that would refuse the other journeys' later sessions.
import { expect, test } from '@playwright/test';
import { type Runner, TOKEN_SECONDS, startRunner } from './runner';
import { broker, s3, shellSessionThatRan, shellUser, transcriptBucket } from './stage';
import { account, call, newPage, screenshot, signIn, useSystem, watch } from './system';

const TYPED = '$ tail -n 1 /var/log/worker.log\r\n\x1b[31mERROR\x1b[0m queue stalled\x07\r\n$ exit\r\n';
const REASON = 'OPS-12: look at the worker logs';

test('an auditor reads a shell session’s timeline and the AWS calls made with it', async ({ browser }) => {
  await shellUser('operator@example.com', 'Demo shell operators');
  const { id, ssm } = await shellSessionThatRan('operator@example.com', TYPED);
  const auditor = await newPage(browser);
  const clean = watch(auditor);
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
  clean();
});

test.describe('with a broker clock two hours ahead', () => {
  let own: Runner;

  test.beforeAll(async () => {
    // As long as the shared system may take (scripts/dev may build first).
    test.setTimeout(600_000);
    own = await startRunner(
      ['--port', '0', '--expirer-seconds', '5', '--clock-ahead-seconds', '7200', '--console-token-seconds', String(TOKEN_SECONDS)],
      { AUDITORS_READ_TRANSCRIPTS: 'true' },
    );
    useSystem(own.system);
  });

  test.afterAll(async () => {
    useSystem(undefined);
    await own?.stop();
  });

  test('an auditor reads a shell session’s transcript and the account’s evidence, with a rewritten transcript and a tampered log shown', async ({ browser }) => {
    // The day the session's log is keyed by (UTC): the broker's clock is the wall clock until moved.
    const sessionDay = new Date().toISOString().slice(0, 10);
    await shellUser('operator@example.com', 'Demo shell operators');
    const { id, ssm } = await shellSessionThatRan('operator@example.com', TYPED);
    const { id: accountId } = await account();
    const control = own.system.clockControl;
    if (!control) throw new Error("the runner's banner names no clock control (--clock-ahead-seconds)");
    const moved = await fetch(control, { method: 'POST' });
    expect(moved.status).toBe(200);

    // The session's log, digested by the expirer (its hour is over by the broker's clock).
    const logKey = new RegExp(`^sessions/${accountId}/\\d{4}-\\d{2}-\\d{2}/${id}\\.jsonl$`);
    let log = { key: '', status: '' };
    await expect
      .poll(
        async () => {
          // From that day to the broker's today, which may be the next.
          const report = await call('GET', `/accounts/${accountId}/evidence?from=${sessionDay}`);
          log = report.objects.find((o: any) => logKey.test(o.key)) ?? log;
          return log.status;
        },
        { message: 'the session log is digested', timeout: 60_000, intervals: [1_000] },
      )
      .toBe('valid');
    const day = log.key.split('/')[2];

    const auditor = await newPage(browser);
    const clean = watch(auditor);
    await signIn(auditor, 'auditor@example.com', 'auditor');
    await auditor.getByRole('link', { name: id }).click();
    await expect(auditor.getByTestId('chain')).toContainText('Log verified');
    await expect(auditor.getByRole('region', { name: 'Transcripts' }).locator(`[data-ssm-session="${ssm}"]`)).toContainText(
      `s3://${transcriptBucket()}/shell/${ssm}.log`,
    );

    const readTranscript = async () => {
      await auditor.getByRole('button', { name: `Read transcript of ${ssm}` }).click();
      await expect(auditor.getByRole('heading', { name: `Transcript of ${ssm}` })).toBeFocused();
    };
    await readTranscript();
    const shown = auditor.getByTestId('transcript');
    // Escape, bell and colours are shown, not obeyed; line breaks stay line breaks.
    await expect(shown).toContainText('^[[31mERROR^[[0m queue stalled^G\n$ exit');
    await expect(shown.locator('abbr.control').first()).toHaveAttribute('title', 'escape, U+001B');
    await expect(auditor.getByText(/Unchanged: the same \d+ bytes/)).toBeVisible();
    await screenshot(auditor, 'auditor-shell-transcript');

    // Someone with write access to the transcript bucket rewrites what was typed.
    const transcriptKey = `shell/${ssm}.log`;
    const typed = await s3('GET', transcriptBucket(), transcriptKey);
    await s3('PUT', transcriptBucket(), transcriptKey, typed.replace('queue stalled', 'all fine'));
    await auditor.getByRole('link', { name: 'All sessions' }).click();
    await auditor.getByRole('link', { name: id }).click();
    await readTranscript();
    await expect(auditor.getByRole('alert').filter({ hasText: 'Changed:' })).toContainText("not the one the session's end recorded");
    await expect(shown).toContainText('all fine');
    await screenshot(auditor, 'auditor-shell-transcript-changed');

    // The evidence check of the day the session was requested: its log is as its digest lists it.
    await auditor.getByRole('link', { name: 'Evidence' }).click();
    const form = auditor.getByRole('form', { name: 'Verify the session logs' });
    await form.getByLabel('Account').selectOption(accountId);
    await form.getByLabel('From (UTC day)').fill(day);
    await form.getByLabel('To (UTC day, included)').fill(day);
    await form.getByRole('button', { name: 'Verify' }).click();
    const report = auditor.getByTestId('evidence-report');
    await expect(report.getByRole('heading')).toBeFocused();
    await expect(report.getByTestId('evidence-verdict')).toContainText('verified: no digest and no log failed');
    await expect(report.getByTestId('evidence-summary')).toContainText(/^digests: \d+ valid\nobjects: .*\d+ valid/);
    await report.getByText(/Every digest \(\d+\) and log/).click();
    const row = report.locator(`tr[data-key="${log.key}"]`);
    await expect(row).toContainText('valid');
    await screenshot(auditor, 'auditor-evidence');

    // Someone with the broker's key overwrites the log with another reason (still JSON lines).
    // The bucket is versioned (Object Lock): this adds a version, which the check must catch.
    const { keys, sessionLogBucket } = broker();
    const written = await s3('GET', sessionLogBucket, log.key, undefined, keys);
    expect(written).toContain(REASON);
    await s3('PUT', sessionLogBucket, log.key, written.replace(REASON, 'OPS-12: routine check'), keys);
    await form.getByRole('button', { name: 'Verify' }).click();
    await expect(report.getByTestId('evidence-verdict')).toContainText('NOT verified');
    await expect(report.getByTestId('evidence-summary')).toContainText('1 modified');
    const tampered = report.getByTestId('evidence-not-valid').locator(`tr[data-key="${log.key}"]`);
    await expect(tampered).toContainText('modified');
    await expect(tampered).toContainText('its content differs from what its digest lists');
    await screenshot(auditor, 'auditor-evidence-modified');

    // The session's own page says so too: its log's chain no longer holds.
    await auditor.getByRole('link', { name: 'Sessions', exact: true }).click();
    await auditor.getByRole('link', { name: id }).click();
    await expect(auditor.getByTestId('chain')).toContainText('Log NOT verified');
    await expect(auditor.getByRole('region', { name: 'Activity' }).getByTestId('activity-window')).toBeVisible();
    await screenshot(auditor, 'auditor-shell-session-tampered');
    clean();
  });
});
