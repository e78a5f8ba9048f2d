// Requesters: what they may start (from /me), the start itself, what it hands out (once), and
// their own sessions with end, extend and cancel. Nothing here decides access: the API does.

import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api';
import type { Grant, Me, MeAccount, Page, Session } from '../types';
import { Busy, ProblemBox, Secret, StatusBadge, duration, durationChoices, idempotencyKey, roleName, useAction, when } from '../ui';

interface Handed {
  session: Session;
  grant: Grant;
}

/** What a start (or the approval that completes one) handed out: shown here once. */
function GrantPanel({ handed, onDone }: { handed: Handed; onDone: () => void }) {
  const { session, grant } = handed;
  const c = grant.credentials;
  const profile = session.role_arn
    ? `[profile cib-${roleName(session.role_arn)}]\ncredential_process = cib credential-process --account ${session.account_id} --role ${session.role_arn} --duration 1h --reason "${session.reason.replace(/"/g, "'")}"`
    : null;
  return (
    <section class="grant" aria-labelledby="grant-title">
      <h2 id="grant-title">Your access to {session.aws_account_id}, shown once</h2>
      <p class="warning">
        Copy what you need now: these secrets are not shown again, not after a reload and not to anyone else. They
        stop working at {when(session.expires_at)}, or when the session is ended.
      </p>
      {c ? (
        <div class="secrets" data-testid="credentials">
          <Secret label="Access key id" value={c.access_key_id} />
          <Secret label="Secret access key" value={c.secret_access_key} />
          <Secret label="Session token" value={c.session_token} />
          <Secret
            label="Shell exports"
            value={`export AWS_ACCESS_KEY_ID=${c.access_key_id} AWS_SECRET_ACCESS_KEY=${c.secret_access_key} AWS_SESSION_TOKEN=${c.session_token}`}
          />
        </div>
      ) : null}
      {profile ? (
        <div class="profile">
          <p>
            Or let the AWS CLI fetch them through <code>cib</code> (a new session each time, under the same rules), in{' '}
            <code>~/.aws/config</code>:
          </p>
          <Secret label="credential_process profile" value={profile} />
        </div>
      ) : null}
      {grant.console_url ? (
        <p>
          <a class="button primary" href={grant.console_url} target="_blank" rel="noopener noreferrer">
            Open the AWS console
          </a>
        </p>
      ) : null}
      {grant.console ? (
        <div class="secrets">
          <Secret label="Sign-in URL" value={grant.console.signin_url} />
          <Secret label="IAM user name" value={grant.console.user_name} />
          <Secret label="Password" value={grant.console.password} />
          {grant.console.switch_role_links.map((l) => (
            <p key={l.role_arn}>
              <a href={l.url} target="_blank" rel="noopener noreferrer">
                Switch to {roleName(l.role_arn)}
              </a>
            </p>
          ))}
        </div>
      ) : null}
      <button type="button" onClick={onDone}>
        I have copied them: hide
      </button>
    </section>
  );
}

function StartForm({ accounts, onStarted }: { accounts: MeAccount[]; onStarted: (s: Session, g: Grant | null) => void }) {
  const startable = accounts.filter((a) => a.console || a.jit_roles.length);
  const [accountId, setAccountId] = useState(startable[0]?.account_id ?? '');
  const account = startable.find((a) => a.account_id === accountId);
  const kinds = account ? [...(account.jit_roles.length ? ['jit'] : []), ...(account.console ? ['console'] : [])] : [];
  const [kind, setKind] = useState(kinds[0] ?? 'jit');
  const [role, setRole] = useState(account?.jit_roles[0]?.role_arn ?? '');
  const offer = kind === 'jit' ? account?.jit_roles.find((r) => r.role_arn === role) : account?.console;
  const [seconds, setSeconds] = useState(3600);
  const [reason, setReason] = useState('');
  const [breakGlass, setBreakGlass] = useState(false);
  const max = offer ? (breakGlass && offer.break_glass_max_seconds ? offer.break_glass_max_seconds : offer.max_duration_seconds) : 3600;
  const chosen = Math.min(seconds, max);
  useEffect(() => {
    if (account && !kinds.includes(kind)) setKind(kinds[0] ?? 'jit');
    if (account && kind === 'jit' && !account.jit_roles.some((r) => r.role_arn === role)) setRole(account.jit_roles[0]?.role_arn ?? '');
  }, [accountId, kind]);
  const start = useAction(async () => {
    const reply = await call<{ session: Session } & Grant>(
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
      { idempotencyKey: idempotencyKey() },
    );
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
    <form
      class="card"
      aria-labelledby="start-title"
      onSubmit={(e) => {
        e.preventDefault();
        start.run();
      }}
    >
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
      {offer?.needs_approval && !breakGlass ? <p class="note">This access waits for approval before it starts.</p> : null}
      <ProblemBox error={start.error} />
      <Busy busy={start.busy} label="Starting">
        <button type="submit" class="primary">
          Start session
        </button>
      </Busy>
    </form>
  );
}

function SessionActions({ session, onChanged }: { session: Session; onChanged: (s: Session, g: Grant | null) => void }) {
  const [open, setOpen] = useState<'end' | 'extend' | null>(null);
  const [reason, setReason] = useState('');
  const [seconds, setSeconds] = useState(3600);
  const act = useAction(async () => {
    if (open === 'end') {
      const r = await call<Session>('DELETE', `/sessions/${session.id}`, { reason });
      onChanged(r.body, null);
    } else if (open === 'extend') {
      const r = await call<{ session: Session } & Grant>(
        'POST',
        `/sessions/${session.id}/extensions`,
        { duration_seconds: seconds, reason },
        { idempotencyKey: idempotencyKey() },
      );
      const { session: s, ...grant } = r.body;
      onChanged(s, r.status === 201 && (grant.credentials || grant.console_url) ? grant : null);
    }
    setOpen(null);
    setReason('');
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
          <button type="button" onClick={() => cancel.run()}>
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
          onSubmit={(e) => {
            e.preventDefault();
            act.run();
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
            <input value={reason} onInput={(e) => setReason(e.currentTarget.value)} required minLength={3} maxLength={500} />
          </label>
          <ProblemBox error={act.error} />
          <Busy busy={act.busy} label={open === 'end' ? 'Ending and revoking' : 'Extending'}>
            <button type="submit" class={open === 'end' ? 'danger' : 'primary'}>
              {open === 'end' ? 'End now' : 'Extend'}
            </button>
            <button type="button" onClick={() => setOpen(null)}>
              Cancel
            </button>
          </Busy>
        </form>
      ) : (
        <>
          <button type="button" class="danger" onClick={() => setOpen('end')}>
            End…
          </button>
          {session.type !== 'shell' && !session.pending_extension ? (
            <button type="button" onClick={() => setOpen('extend')}>
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
  const [handed, setHanded] = useState<Handed | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = useAction(async () => {
    const page = await get<Page<Session>>('/sessions?limit=50');
    setSessions(page.items.filter((s) => s.user === me.email));
  });
  useEffect(() => {
    load.run();
  }, []);
  // A request waiting for approval is asked after until it is decided: the first answer after
  // the approval carries what it granted, once.
  const pending = (sessions ?? []).filter((s) => s.status === 'pending' || s.pending_extension);
  useEffect(() => {
    if (!pending.length) return;
    const timer = setInterval(async () => {
      for (const p of pending) {
        try {
          const s = (await get<Session & { granted?: Grant }>(`/sessions/${p.id}`)) as Session & { granted?: Grant };
          if (s.granted) setHanded({ session: s, grant: s.granted });
          if (s.status !== p.status || !s.pending_extension !== !p.pending_extension) replace(s);
        } catch {
          // The next round asks again; the list's own refresh shows lasting problems.
        }
      }
    }, 2000);
    return () => clearInterval(timer);
  }, [pending.map((p) => p.id + p.status).join()]);
  const replace = (s: Session) =>
    setSessions((list) => {
      const rest = (list ?? []).filter((x) => x.id !== s.id);
      return [s, ...rest].sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
    });
  const changed = (s: Session, grant: Grant | null) => {
    replace(s);
    if (grant) setHanded({ session: s, grant });
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
      {handed ? <GrantPanel handed={handed} onDone={() => setHanded(null)} /> : null}
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <StartForm accounts={me.accounts} onStarted={changed} />
      <section aria-labelledby="mine-title">
        <h2 id="mine-title">My sessions</h2>
        <ProblemBox error={load.error} />
        {sessions === null ? (
          <p class="progress" role="status">
            Loading sessions…
          </p>
        ) : sessions.length === 0 ? (
          <p>No sessions yet.</p>
        ) : (
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
                    {s.type.toUpperCase()} {roleName(s.role_arn)} on {s.aws_account_id}
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
      </section>
    </div>
  );
}
