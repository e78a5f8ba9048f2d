// Requesters: what they may start (from /me), the start itself, what it hands out (once), and
// their own sessions with end, extend and cancel. Nothing here decides access: the API does.

import { useEffect, useRef, useState } from 'preact/hooks';
import { call, get } from '../api';
import { GrantPanels, collectApproved, keep, readSession, stillComing } from '../grants';
import { ConfirmSlackLink } from './slack';
import type { Grant, Me, MeAccount, Page, Session } from '../types';
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
  roleName,
  submitting,
  useAction,
  useIdempotencyKey,
  when,
} from '../ui';

function StartForm({ accounts, onStarted }: { accounts: MeAccount[]; onStarted: (s: Session, g: Grant | null) => void }) {
  const startable = accounts.filter((a) => a.console || a.jit_roles.length);
  const [accountId, setAccountId] = useState(startable[0]?.account_id ?? '');
  const account = startable.find((a) => a.account_id === accountId);
  const kinds = account ? [...(account.jit_roles.length ? ['jit'] : []), ...(account.console ? ['console'] : [])] : [];
  // What was picked, where the account offers it; otherwise its first offer.
  const [pickedKind, setKind] = useState('jit');
  const kind = kinds.includes(pickedKind) ? pickedKind : (kinds[0] ?? 'jit');
  const [pickedRole, setRole] = useState('');
  const role = account?.jit_roles.some((r) => r.role_arn === pickedRole) ? pickedRole : (account?.jit_roles[0]?.role_arn ?? '');
  const offer = kind === 'jit' ? account?.jit_roles.find((r) => r.role_arn === role) : account?.console;
  const [seconds, setSeconds] = useState(3600);
  const [reason, setReason] = useState('');
  const [wantsBreakGlass, setBreakGlass] = useState(false);
  // Only where the chosen access allows it: a box hidden by a change of role is not ticked.
  const breakGlass = wantsBreakGlass && !!offer?.break_glass_max_seconds;
  const max = offer ? (breakGlass && offer.break_glass_max_seconds ? offer.break_glass_max_seconds : offer.max_duration_seconds) : 3600;
  const chosen = Math.min(seconds, max);
  const waits = !!offer && !breakGlass && (offer.automatic_max_seconds === null || chosen > offer.automatic_max_seconds);
  // One key per request as filled in: a retry after a lost answer is the same start, not a
  // second one; any change, or an answer, makes it a new request.
  const idem = useIdempotencyKey([accountId, kind, role, chosen, reason, breakGlass]);
  const start = useAction(async () => {
    const reply = await idem.settle(call<{ session: Session } & Grant>(
      'POST',
      '/sessions',
      {
        account_id: accountId,
        type: kind,
        role_arn: kind === 'jit' ? role : null,
        duration_seconds: chosen,
        reason,
        break_glass: breakGlass,
      },
      { idempotencyKey: idem.key },
    ));
    const { session, ...grant } = reply.body;
    onStarted(session, reply.status === 201 ? grant : null);
    setReason('');
  });
  if (!startable.length) {
    return (
      <p>
        No access group lets you start a session on any account yet. An admin adds you to a group that grants it on
        an account with JIT settings active.
      </p>
    );
  }
  return (
    <form class="card" aria-labelledby="start-title" onSubmit={submitting(start.run)}>
      <h2 id="start-title">Start a session</h2>
      <div class="fields">
        <div class="field">
          <label for="start-account">Account</label>
          <select id="start-account" value={accountId} onChange={(e) => setAccountId(e.currentTarget.value)}>
            {startable.map((a) => (
              <option key={a.account_id} value={a.account_id}>
                {a.name} ({a.aws_account_id})
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="start-kind">Kind</label>
          <select id="start-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {k === 'jit' ? 'JIT role credentials and console link' : 'Console sign-in with a password'}
              </option>
            ))}
          </select>
        </div>
        {kind === 'jit' ? (
          <div class="field">
            <label for="start-role">Role</label>
            <select id="start-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              {account?.jit_roles.map((r) => (
                <option key={r.role_arn} value={r.role_arn}>
                  {roleName(r.role_arn)}
                  {r.needs_approval ? ' (needs approval)' : ''}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <div class="field">
          <label for="start-duration">Duration</label>
          <select id="start-duration" value={String(chosen)} onChange={(e) => setSeconds(Number(e.currentTarget.value))}>
            {durationChoices(max).map((s) => (
              <option key={s} value={String(s)}>
                {duration(s)}
              </option>
            ))}
          </select>
        </div>
        <label class="wide">
          Reason (kept in the session's log)
          <input
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
            required
            minLength={3}
            maxLength={500}
            placeholder="INC-1234: restart the payment workers"
          />
        </label>
        {offer?.break_glass_max_seconds ? (
          <label class="check">
            <input type="checkbox" checked={breakGlass} onChange={(e) => setBreakGlass(e.currentTarget.checked)} />
            Break-glass: start now without approval, for at most {duration(offer.break_glass_max_seconds)}; reviewed
            afterwards
          </label>
        ) : null}
      </div>
      {waits ? (
        <p class="note">
          {offer?.automatic_max_seconds
            ? `Longer than ${duration(offer.automatic_max_seconds)}, this access waits for approval before it starts.`
            : 'This access waits for approval before it starts.'}
        </p>
      ) : null}
      <Submit action={start} label="Start session" progress="Starting" />
    </form>
  );
}

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
  const close = () => {
    setOpen(null);
    setTimeout(() => opener.current?.focus());
  };
  const what = describe(session);
  const act = useAction(async () => {
    if (open === 'end') {
      const r = await call<Session>('DELETE', `/sessions/${session.id}`, { reason });
      onChanged(r.body, null);
    } else if (open === 'extend') {
      const r = await idem.settle(
        call<{ session: Session } & Grant>(
          'POST',
          `/sessions/${session.id}/extensions`,
          { duration_seconds: seconds, reason },
          { idempotencyKey: idem.key },
        ),
      );
      const { session: s, ...grant } = r.body;
      onChanged(s, r.status === 201 ? grant : null);
    }
    setReason('');
    close();
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
          <button type="button" onClick={() => cancel.run()} aria-label={`Withdraw the request for ${what}`}>
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
        <form onSubmit={submitting(act.run)}>
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
            <button type="button" onClick={close}>
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
  const [notice, setNotice] = useState<string | null>(null);
  // Sessions approved so lately that what the approval grants may not be held yet.
  const [issuing, setIssuing] = useState<string[]>([]);
  const load = useAction(async () => {
    const page = await get<Page<Session>>('/sessions?limit=50');
    const mine = page.items.filter((s) => s.user === me.email);
    setSessions(mine);
    const onItsWay = await collectApproved(mine);
    if (onItsWay.length) setIssuing((ids) => [...new Set([...ids, ...onItsWay.map((s) => s.id)])]);
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
          : null,
    );
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
                      {describe(s)}
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
      </section>
      <ConfirmSlackLink />
    </div>
  );
}
