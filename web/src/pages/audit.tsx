// Auditors and admins: every session, filtered; and one session's timeline from its S3 log,
// with whether the hash chain holds said plainly.

import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { GrantPanels, readSession } from '../grants';
import type { Page, Session, SessionLog } from '../types';
import { Loaded, ProblemBox, StatusBadge, describe, duration, submitting, useAction, when } from '../ui';

const STATUSES = ['', 'pending', 'active', 'ending', 'ended', 'expired', 'denied', 'cancelled', 'lapsed'];

export function SessionsPage() {
  const [status, setStatus] = useState('');
  const [account, setAccount] = useState('');
  const [items, setItems] = useState<Session[] | null>(null);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const load = useAction(async (more: boolean) => {
    const q = new URLSearchParams({ limit: '50' });
    if (status) q.set('status', status);
    if (account.trim()) q.set('account_id', account.trim());
    if (more && cursor) q.set('cursor', cursor);
    const page = await get<Page<Session>>(`/sessions?${q}`);
    setItems((old) => (more ? [...(old ?? []), ...page.items] : page.items));
    setCursor(page.next_cursor);
  });
  useEffect(() => {
    load.run(false);
  }, []);
  return (
    <div>
      <h1>Sessions</h1>
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={submitting(() => load.run(false))}
      >
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Account id
          <input value={account} onInput={(e) => setAccount(e.currentTarget.value)} placeholder="01J…" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <ProblemBox error={load.error} />
      <Loaded items={items} loading="Loading sessions…" empty="No session matches.">
        {(items) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">User</th>
                <th scope="col">Access</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.id}>
                  <td>
                    <a href={`#/sessions/${s.id}`}>{s.id}</a>
                  </td>
                  <td>{s.user}</td>
                  <td>{describe(s)}</td>
                  <td>
                    <StatusBadge status={s.status} />
                  </td>
                  <td>{when(s.started_at)}</td>
                  <td>{s.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
      {cursor ? (
        <button type="button" onClick={() => load.run(true)} disabled={load.busy}>
          {load.busy ? 'Loading…' : 'More'}
        </button>
      ) : null}
    </div>
  );
}

/** The fields of a log event worth a line of their own; the rest stay in its details. */
const SHOWN = new Set(['type', 'at', 'session_id', 'prev_hash', 'account_id', 'aws_account_id', 'kind', 'user']);

export function SessionPage({ id, email }: { id: string; email: string }) {
  const [session, setSession] = useState<Session | null>(null);
  const [log, setLog] = useState<SessionLog | null>(null);
  const load = useAction(async () => {
    // The owner's first read after an approval carries what it granted, once: kept, not lost.
    const [s, l] = await Promise.all([readSession(id), get<SessionLog>(`/sessions/${id}/log`)]);
    setSession(s);
    setLog(l);
  });
  useEffect(() => {
    load.run();
  }, [id]);
  return (
    <div>
      <h1>Session {id}</h1>
      <GrantPanels email={email} />
      <ProblemBox error={load.error} />
      {load.busy && !session ? (
        <p class="progress" role="status">
          Reading the session and verifying its log…
        </p>
      ) : null}
      {session ? (
        <dl class="summary">
          <dt>User</dt>
          <dd>{session.user}</dd>
          <dt>Access</dt>
          <dd>
            {session.type.toUpperCase()} {session.role_arn ? <code>{session.role_arn}</code> : null} on {session.aws_account_id} (IAM user{' '}
            {session.iam_user})
          </dd>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={session.status} />
            {session.break_glass ? <span class="badge badge-break-glass">break-glass</span> : null}
          </dd>
          <dt>Reason</dt>
          <dd>{session.reason}</dd>
          <dt>Asked for</dt>
          <dd>{duration(session.duration_seconds)}</dd>
          <dt>Started</dt>
          <dd>{when(session.started_at)}</dd>
          <dt>Ends</dt>
          <dd>{when(session.ended_at ?? session.expires_at)}</dd>
          {session.end_reason ? (
            <>
              <dt>Ended by</dt>
              <dd>
                {session.ended_by}: {session.end_reason}
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}
      {log ? (
        <section aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          {log.verified ? (
            <p class="verified" role="status" data-testid="chain">
              <strong>Log verified:</strong> every event's hash chains to the one before, and the chain ends at the head
              recorded with the session ({log.events.length} events, <code>{log.key}</code>).
            </p>
          ) : (
            <p class="unverified" role="alert" data-testid="chain">
              <strong>Log NOT verified:</strong> {log.problem ?? 'the chain does not hold'}. The events below may have been
              altered or removed.
            </p>
          )}
          <ol class="timeline">
            {log.events.map((e, i) => (
              <li key={i}>
                <span class="at">{when(String(e.at ?? ''))}</span> <strong>{String(e.type ?? 'event')}</strong>
                <dl>
                  {Object.entries(e)
                    .filter(([k, v]) => !SHOWN.has(k) && v !== null && v !== '')
                    .map(([k, v]) => (
                      <Fragment key={k}>
                        <dt>{k.replace(/_/g, ' ')}</dt>
                        <dd>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
                      </Fragment>
                    ))}
                </dl>
              </li>
            ))}
          </ol>
        </section>
      ) : null}
      <p>
        <a href="#/sessions">All sessions</a>
      </p>
    </div>
  );
}
