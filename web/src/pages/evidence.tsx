// Admins and auditors: an account's session logs checked against their signed hourly digests, for
// a range of days (the API's verifyEvidence; docs/evidence.md). Shown as `cib verify` prints it:
// the counts by status in a fixed order, each digest or log that is not valid, and "verified" or
// "NOT verified"; then every digest and log with its verdict.

import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import type { Account, EvidenceCheck, EvidenceReport } from '../types';
import { Loaded, ProblemBox, Submit, submitting, useAction, usePaged } from '../ui';

/** cli/src/verify.rs's order; a status the API adds later comes after these. */
const DIGEST_STATUSES = ['valid', 'invalid-signature', 'unreadable', 'broken-link', 'truncated'];
const OBJECT_STATUSES = ['valid', 'modified', 'missing', 'unlisted', 'pending'];

/** `3 valid, 1 modified`, in `order` (then any other status), or `none`: as cib prints it. */
export function counts(byStatus: Record<string, number>, order: string[]): string {
  const entries = Object.entries(byStatus ?? {});
  if (!entries.length) return 'none';
  const known = order.filter((s) => s in byStatus).map((s) => [s, byStatus[s]] as const);
  const other = entries.filter(([s]) => !order.includes(s));
  return [...known, ...other].map(([s, n]) => `${n} ${s}`).join(', ');
}

const today = () => new Date().toISOString().slice(0, 10);

function Checks({ caption, checks, testId }: { caption: string; checks: EvidenceCheck[]; testId?: string }) {
  return (
    <table data-testid={testId}>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">Key</th>
          <th scope="col">Detail</th>
        </tr>
      </thead>
      <tbody>
        {checks.map((c) => (
          <tr key={c.key + c.status} data-key={c.key}>
            <td>
              <span class={c.status === 'valid' ? 'good' : c.status === 'pending' ? undefined : 'bad'}>{c.status}</span>
            </td>
            <td>
              <code>{c.key}</code>
            </td>
            <td>
              {c.detail ?? ''}
              {c.digest ? (
                <span class="muted">
                  {c.detail ? ' ' : ''}against <code>{c.digest}</code>
                </span>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Report({ report, account, range }: { report: EvidenceReport; account: Account; range: string }) {
  // Pending ones too: they do not fail, but nothing vouches for them yet (as cib lists them).
  const notValid = [...report.digests, ...report.objects].filter((c) => c.status !== 'valid');
  return (
    <section aria-labelledby="report-title" data-testid="evidence-report">
      <h2 id="report-title" tabIndex={-1}>
        Evidence of {account.name}, {range}
      </h2>
      <pre class="cib" data-testid="evidence-summary">
        {`digests: ${counts(report.digest_counts, DIGEST_STATUSES)}\nobjects: ${counts(report.object_counts, OBJECT_STATUSES)}`}
      </pre>
      {report.valid ? (
        <p class="verified" role="status" data-testid="evidence-verdict">
          <strong>verified</strong>: no digest and no log failed{notValid.length ? ' (pending logs are not vouched for yet)' : ''}.
        </p>
      ) : (
        <p class="unverified" role="alert" data-testid="evidence-verdict">
          <strong>NOT verified</strong>: the session logs of {account.name} do not all match their signed digests.
        </p>
      )}
      {notValid.length ? <Checks caption="Not valid (or pending)" checks={notValid} testId="evidence-not-valid" /> : null}
      <details>
        <summary>Every digest ({report.digests.length}) and log ({report.objects.length}) with its verdict</summary>
        {report.digests.length ? <Checks caption="Digests" checks={report.digests} /> : <p>No digest in this range.</p>}
        {report.objects.length ? <Checks caption="Session logs" checks={report.objects} /> : <p>No session log in this range.</p>}
      </details>
    </section>
  );
}

export function EvidencePage() {
  const accounts = usePaged<Account>('/accounts', (a) => a.id);
  const [accountId, setAccountId] = useState('');
  const [from, setFrom] = useState(today());
  const [to, setTo] = useState(today());
  const [shown, setShown] = useState<{ report: EvidenceReport; account: Account; range: string } | null>(null);
  useEffect(() => {
    accounts.reload.run();
  }, []);
  const account = accounts.items?.find((a) => a.id === accountId) ?? accounts.items?.[0];
  const check = useAction(async () => {
    if (!account) return;
    const q = new URLSearchParams({ from, to });
    const report = await get<EvidenceReport>(`/accounts/${account.id}/evidence?${q}`);
    setShown({ report, account, range: from === to ? from : `${from} to ${to}` });
  });
  // The verdict just made is read next.
  useEffect(() => {
    if (shown) document.getElementById('report-title')?.focus();
  }, [shown]);
  return (
    <div>
      <h1>Evidence</h1>
      <p>
        Checks an account's session logs against the hourly digests the broker signs with its evidence key: whether each
        log is still what a digest listed, and whether the digests chain without a gap up to the newest one the broker
        recorded. Days are UTC; at most 31 at once. The current hour is digested when it ends, so its logs are{' '}
        <em>pending</em>.
      </p>
      <ProblemBox error={accounts.error} />
      <Loaded items={accounts.items} loading="Loading accounts…" empty="No account is registered yet.">
        {(items) => (
          <form class="card" aria-labelledby="evidence-form-title" onSubmit={submitting(check.run)}>
            <h2 id="evidence-form-title">Verify the session logs</h2>
            <div class="fields">
              <div class="field">
                <label for="evidence-account">Account</label>
                <select id="evidence-account" value={account?.id} onChange={(e) => setAccountId(e.currentTarget.value)}>
                  {items.map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.name} ({a.aws_account_id})
                    </option>
                  ))}
                </select>
              </div>
              <label>
                From (UTC day)
                <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} required />
              </label>
              <label>
                To (UTC day, included)
                <input type="date" value={to} min={from} onInput={(e) => setTo(e.currentTarget.value)} required />
              </label>
            </div>
            <Submit action={check} label="Verify" progress="Reading the digests and logs, and checking each signature" />
          </form>
        )}
      </Loaded>
      {shown ? <Report {...shown} /> : null}
    </div>
  );
}
