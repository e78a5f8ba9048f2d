// Auditors and admins: every session, filtered, each a link to its page (session.tsx).

import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import type { Page, Session } from '../types';
import { Busy, Loaded, ProblemBox, StatusBadge, describe, submitting, useAction, when } from '../ui';

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
        // Not disabled while it reads: a disabled button would lose the keyboard's focus.
        <Busy busy={load.busy} label="Loading more sessions">
          <button type="button" onClick={() => load.run(true)}>
            More
          </button>
        </Busy>
      ) : null}
    </div>
  );
}
