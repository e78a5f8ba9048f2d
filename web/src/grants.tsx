// What a start, an approval or an extension handed out: the API gives it once, so the console
// keeps each one in memory (never in storage) until its user says it is copied, whichever
// page received it and even across a sign-in that expired. Each is shown only to the user it
// was handed to.

import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from './api';
import type { Grant, Session, SessionRead } from './types';
import { Secret, describe, roleName, when } from './ui';

interface Handed {
  /** Stable while others are dismissed (a panel keeps its focus and its heading's id). */
  id: number;
  session: Session;
  grant: Grant;
}

let handed: Handed[] = [];
let nextId = 0;
const listeners = new Set<() => void>();

function changed() {
  listeners.forEach((l) => l());
}

/** Keeps what was handed out for `session` (a later hand-out for it adds a panel of its own). */
export function keep(session: Session, grant: Grant | undefined | null) {
  if (!grant || !(grant.credentials || grant.console_url || grant.console)) return;
  handed = [...handed, { id: nextId++, session, grant }];
  changed();
}

/** Reads a session, keeping what it carries `granted` (the owner's first read after an approval). */
export async function readSession(id: string): Promise<SessionRead> {
  const s = await get<SessionRead>(`/sessions/${id}`);
  keep(s, s.granted);
  return s;
}

/**
 * How long after an approval its answer may still be on its way: the approval makes the session
 * active (or moves its end) first and issues and holds the credentials a moment later, so a read
 * in between carries nothing yet. The CLI waits as long (`cli/src/approval.rs`).
 */
const ISSUING_MS = 60_000;

/** Whether `s` was approved so lately that what the approval grants may not be held yet. */
export function answerOnItsWay(s: Session, now = Date.now()): boolean {
  const recent = (at: string | undefined) => at !== undefined && now - Date.parse(at) < ISSUING_MS;
  if (s.status !== 'active') return false;
  const start = s.request?.decision;
  if (start?.outcome === 'approved' && recent(start.at)) return true;
  // Only a JIT extension hands out something new (fresh credentials up to the new end).
  return s.type === 'jit' && recent(s.extensions.at(-1)?.at);
}

const collected = new Set<string>();

/**
 * Collects what approvals granted while no page was watching: each approved, active session is
 * read once per page life (a later read carries nothing); a failed read is tried on the next load.
 * Answers the sessions approved so lately that theirs is still on its way, to be asked again.
 */
export async function collectApproved(sessions: Session[]): Promise<Session[]> {
  const due = sessions.filter((s) => s.status === 'active' && s.request?.decision?.outcome === 'approved' && !collected.has(s.id));
  const read = await Promise.allSettled(
    due.map(async (s) => {
      const now = await readSession(s.id);
      if (now.granted || !answerOnItsWay(now)) collected.add(s.id);
      return now;
    }),
  );
  return read.flatMap((r) => (r.status === 'fulfilled' && !r.value.granted && answerOnItsWay(r.value) ? [r.value] : []));
}

function dismiss(item: Handed) {
  handed = handed.filter((h) => h !== item);
  changed();
}

/** Forgets everything: an explicit sign-out. */
export function forgetAll() {
  handed = [];
  changed();
}

function GrantPanel({ item }: { item: Handed }) {
  const { session, grant } = item;
  const heading = useRef<HTMLHeadingElement>(null);
  // Focus moves to what just appeared, so that screen readers announce it.
  useEffect(() => heading.current?.focus(), []);
  const c = grant.credentials;
  const profile = session.role_arn
    ? `[profile cib-${roleName(session.role_arn)}]\ncredential_process = cib credential-process --account ${session.account_id} --role ${session.role_arn} --duration 1h --reason "${session.reason.replace(/"/g, "'")}"`
    : null;
  const titleId = `grant-${item.id}`;
  return (
    <section class="grant" aria-labelledby={titleId}>
      <h2 id={titleId} tabIndex={-1} ref={heading}>
        Your access: {describe(session)}, shown once
      </h2>
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
      <button type="button" onClick={() => dismiss(item)}>
        I have copied them: hide
      </button>
    </section>
  );
}

/** Every hand-out kept for `email`, newest first. */
export function GrantPanels({ email }: { email: string }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  const mine = handed.filter((h) => h.session.user === email).reverse();
  return (
    <>
      {mine.map((item) => (
        <GrantPanel key={item.id} item={item} />
      ))}
    </>
  );
}
