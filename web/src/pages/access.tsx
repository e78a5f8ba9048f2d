// Requesters: the start form (start.tsx), what a start hands out (once), and their own sessions,
// a page at a time, with end, extend and cancel. Nothing here decides access: the API does.

import { useEffect, useRef, useState } from 'preact/hooks';
import { call, get } from '../api';
import { GrantPanels, collectApproved, handsOut, keep, readSession, stillComing } from '../grants';
import { ConfirmSlackLink } from './slack';
import { StartForm } from './start';
import type { Grant, Me, Page, Session } from '../types';
import {
  Busy,
  Loaded,
  Notice,
  ProblemBox,
  StatusBadge,
  Submit,
  describe,
  duration,
  durationChoices,
  submitting,
  useAction,
  useIdempotencyKey,
  when,
} from '../ui';

/** Sessions read a page at a time; the API lists a user's own, an admin's everyone's. */
const PAGE = 50;

function SessionActions({ session, onChanged }: { session: Session; onChanged: (s: Session, g: Grant | null) => void }) {
  const [open, setOpen] = useState<'end' | 'extend' | null>(null);
  const [reason, setReason] = useState('');
  const [seconds, setSeconds] = useState(3600);
  const idem = useIdempotencyKey([open, seconds, reason]);
  const reasonField = useRef<HTMLInputElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) reasonField.current?.focus();
  }, [open]);
  // Cancel, Escape or an extension: the question goes, with what was typed, and focus goes back
  // to the button that asked it (unless what the extension handed out has taken it).
  const close = (refocus = true) => {
    setOpen(null);
    setReason('');
    if (refocus) setTimeout(() => opener.current?.focus());
  };
  const what = describe(session);
  const act = useAction(async () => {
    if (open === 'end') {
      const r = await call<Session>('DELETE', `/sessions/${session.id}`, { reason });
      // These buttons go with the session's end: its row takes focus (AccessPage).
      setOpen(null);
      setReason('');
      onChanged(r.body, null);
      return;
    }
    // An extension.
    const r = await idem.settle(
      call<{ session: Session } & Grant>(
        'POST',
        `/sessions/${session.id}/extensions`,
        { duration_seconds: seconds, reason },
        { idempotencyKey: idem.key },
      ),
    );
    const { session: s, ...grant } = r.body;
    const handed = r.status === 201 ? grant : null;
    onChanged(s, handed);
    close(!handsOut(handed));
  });
  const cancel = useAction(async () => {
    const r = await call<Session>('POST', `/sessions/${session.id}/cancel`, { reason: 'withdrawn in the web console' });
    onChanged(r.body, null);
  });
  if (session.status === 'pending') {
    return (
      <div class="actions">
        <ProblemBox error={cancel.error} />
        <Busy busy={cancel.busy} label="Withdrawing">
          <button type="button" onClick={() => cancel.run()} aria-label={`Withdraw request for ${what}`}>
            Withdraw request
          </button>
        </Busy>
      </div>
    );
  }
  if (session.status !== 'active') return null;
  return (
    <div class="actions">
      {open ? (
        <form
          onSubmit={submitting(act.run)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.preventDefault();
              close();
            }
          }}
        >
          {open === 'extend' ? (
            <label>
              Longer by
              <select value={String(seconds)} onChange={(e) => setSeconds(Number(e.currentTarget.value))}>
                {durationChoices(43200).map((s) => (
                  <option key={s} value={String(s)}>
                    {duration(s)}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <label>
            Reason
            <input
              ref={reasonField}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
              required
              minLength={3}
              maxLength={500}
            />
          </label>
          <Submit
            action={act}
            label={open === 'end' ? 'End now' : 'Extend'}
            progress={open === 'end' ? 'Ending and revoking' : 'Extending'}
            kind={open === 'end' ? 'danger' : 'primary'}
          >
            <button type="button" onClick={() => close()}>
              Cancel
            </button>
          </Submit>
        </form>
      ) : (
        <>
          <button type="button" class="danger" ref={opener} onClick={() => setOpen('end')} aria-label={`End ${what}…`}>
            End…
          </button>
          {session.type !== 'shell' && !session.pending_extension ? (
            <button type="button" onClick={() => setOpen('extend')} aria-label={`Extend ${what}…`}>
              Extend…
            </button>
          ) : null}
        </>
      )}
    </div>
  );
}

export function AccessPage({ me }: { me: Me }) {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // The session whose row takes focus once shown: one just ended or withdrawn (its buttons are
  // gone, and focus with them), or one whose credentials were hidden.
  const [focusOn, setFocusOn] = useState<string | null>(null);
  useEffect(() => {
    if (!focusOn) return;
    document.querySelector<HTMLElement>(`tr[data-session="${focusOn}"] a`)?.focus();
    setFocusOn(null);
  }, [focusOn, sessions]);
  // Sessions approved so lately that what the approval grants may not be held yet.
  const [issuing, setIssuing] = useState<string[]>([]);
  const read = async (after: string | null) => {
    const q = new URLSearchParams({ limit: String(PAGE), ...(after ? { cursor: after } : {}) });
    const page = await get<Page<Session>>(`/sessions?${q}`);
    // An admin's list has everyone's: this page is one's own.
    const mine = page.items.filter((s) => s.user === me.email);
    setCursor(page.next_cursor ?? null);
    const onItsWay = await collectApproved(mine);
    if (onItsWay.length) setIssuing((ids) => [...new Set([...ids, ...onItsWay.map((s) => s.id)])]);
    return mine;
  };
  const load = useAction(async () => setSessions(await read(null)));
  const more = useAction(async () => {
    const next = await read(cursor);
    // A session started meanwhile moves the rest down a page: one shown already is not repeated.
    setSessions((list) => [...(list ?? []), ...next.filter((s) => !(list ?? []).some((x) => x.id === s.id))]);
  });
  useEffect(() => {
    load.run();
  }, []);
  // A request waiting for approval is asked after until it is decided, and an approved one
  // until what it granted is held: the first answer carrying it has it, once. One round at a
  // time, two seconds apart; answers that come after the list changed are kept (a hand-out is
  // never dropped) but change nothing else.
  const awaited = (s: Session) => s.status === 'pending' || !!s.pending_extension;
  const watched = (sessions ?? []).filter((s) => awaited(s) || issuing.includes(s.id));
  useEffect(() => {
    if (!watched.length) return;
    let cancelled = false;
    let timer = 0;
    const mark = (id: string, waits: boolean) =>
      setIssuing((ids) => (waits === ids.includes(id) ? ids : waits ? [...ids, id] : ids.filter((x) => x !== id)));
    const round = async () => {
      for (const w of watched) {
        if (!awaited(w) && !stillComing(w)) {
          mark(w.id, false);
          continue;
        }
        try {
          const s = await readSession(w.id);
          if (cancelled) return;
          const seenApproved = s.status === 'active' && (w.status === 'pending' || (!!w.pending_extension && !s.pending_extension));
          mark(s.id, stillComing(s, seenApproved));
          if (s.status !== w.status || !s.pending_extension !== !w.pending_extension) replace(s);
        } catch {
          // The next round asks again; the list's own refresh shows lasting problems.
        }
      }
      if (!cancelled) timer = window.setTimeout(round, 2000);
    };
    timer = window.setTimeout(round, 2000);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [watched.map((w) => w.id + w.status + !!w.pending_extension).join()]);
  const replace = (s: Session) =>
    setSessions((list) => {
      const rest = (list ?? []).filter((x) => x.id !== s.id);
      return [s, ...rest].sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
    });
  const changed = (s: Session, grant: Grant | null) => {
    replace(s);
    keep(s, grant);
    setNotice(
      s.status === 'pending'
        ? 'Requested: it waits for approval. This page shows the session once it is approved.'
        : s.pending_extension
          ? 'The extension waits for approval.'
          : s.status === 'ending'
            ? `${describe(s)} is ending: its access is being revoked.`
            : s.status === 'ended'
              ? `${describe(s)} ended: its access is revoked.`
              : s.status === 'cancelled'
                ? `Withdrew the request for ${describe(s)}.`
                : null,
    );
    if (['ending', 'ended', 'cancelled'].includes(s.status)) setFocusOn(s.id);
  };
  return (
    <div>
      <h1>My access</h1>
      <GrantPanels email={me.email} />
      <Notice text={notice} />
      <StartForm accounts={me.accounts} onStarted={changed} />
      <section aria-labelledby="mine-title">
        <h2 id="mine-title">My sessions</h2>
        <ProblemBox error={load.error} />
        <Loaded items={sessions} loading="Loading sessions…" empty="No sessions yet.">
          {(sessions) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">Access</th>
                  <th scope="col">Status</th>
                  <th scope="col">Ends</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((s) => (
                  <tr key={s.id} data-session={s.id}>
                    <td>
                      <a href={`#/sessions/${s.id}`}>{describe(s)}</a>
                      {s.break_glass ? <span class="badge badge-break-glass">break-glass</span> : null}
                    </td>
                    <td>
                      <StatusBadge status={s.status} />
                      {s.pending_extension ? <span class="badge badge-pending">extension pending</span> : null}
                    </td>
                    <td>{s.status === 'pending' ? `${duration(s.duration_seconds)} once approved` : when(s.ended_at ?? s.expires_at)}</td>
                    <td>{s.reason}</td>
                    <td>
                      <SessionActions session={s} onChanged={changed} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
        <ProblemBox error={more.error} />
        {cursor ? (
          <Busy busy={more.busy} label="Loading older sessions">
            <button type="button" onClick={() => more.run()}>
              Show older sessions
            </button>
          </Busy>
        ) : sessions?.length ? (
          <p class="muted">{sessions.length === 1 ? 'Your only session is shown.' : `All ${sessions.length} of your sessions are shown.`}</p>
        ) : null}
      </section>
      <ConfirmSlackLink />
    </div>
  );
}
