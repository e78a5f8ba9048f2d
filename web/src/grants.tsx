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

/** Whether `grant` hands out anything to show (a panel, which takes focus). */
export function handsOut(grant: Grant | undefined | null): grant is Grant {
  return !!grant && !!(grant.credentials || grant.console_url || grant.console || grant.shell || grant.identity_center);
}

/** Keeps what was handed out for `session` (a later hand-out for it adds a panel of its own). */
export function keep(session: Session, grant: Grant | undefined | null) {
  if (!handsOut(grant)) return;
  handed = [...handed, { id: nextId++, session, grant }];
  changed();
}

/**
 * How long the page waits for an approval's answer: the approval makes the session active (or
 * moves its end) first and issues and holds the credentials a moment later, so a read in between
 * carries nothing yet. The CLI waits as long (`cli/src/approval.rs`).
 */
const ISSUING_MS = 60_000;

/**
 * The latest answer a read of `s` may carry, with when it was decided: its approved start's, or
 * (JIT only, the one kind an extension hands something new to) its latest extension's.
 */
function answerOf(s: Session): { key: string; at: string } | null {
  if (s.status !== 'active') return null;
  const at = [
    s.request?.decision?.outcome === 'approved' ? s.request.decision.at : undefined,
    s.type === 'jit' ? s.extensions.at(-1)?.at : undefined,
  ]
    .filter((t): t is string => !!t)
    .sort()
    .at(-1);
  return at ? { key: `${s.id}@${at}`, at } : null;
}

/** Answers read for good this page life: carried, or no longer awaited. */
const collected = new Set<string>();
/** Answers awaited, with the time (this page's clock) the page stops waiting for each. */
const deadlines = new Map<string, number>();

/**
 * Whether `s`'s latest answer may still come. The wait starts when this page saw the approval
 * land (`seenApproved`: no clock involved), or on a first sight within a minute of the decision
 * by the browser's clock, and lasts a minute of this page's clock.
 */
export function stillComing(s: SessionRead, seenApproved = false): boolean {
  const answer = answerOf(s);
  if (!answer || s.granted || collected.has(answer.key)) return false;
  const { key } = answer;
  let deadline = deadlines.get(key);
  if (deadline === undefined) {
    if (!seenApproved && !(Date.now() - Date.parse(answer.at) < ISSUING_MS)) return false;
    deadline = Date.now() + ISSUING_MS;
    deadlines.set(key, deadline);
  }
  if (Date.now() < deadline) return true;
  collected.add(key);
  return false;
}

/** Reads a session, keeping what it carries in `granted` (the owner's first read after an approval). */
export async function readSession(id: string): Promise<SessionRead> {
  const s = await get<SessionRead>(`/sessions/${id}`);
  keep(s, s.granted);
  const answer = answerOf(s);
  if (answer && s.granted) collected.add(answer.key);
  return s;
}

/**
 * Collects what approvals granted while no page was watching: each answer (an approved start, a
 * JIT session's extension) is read once per page life, as a later read carries nothing; a failed
 * read is tried on the next load. Answers the sessions whose answer is still on its way.
 */
export async function collectApproved(sessions: Session[]): Promise<Session[]> {
  const due = sessions.filter((s) => {
    const answer = answerOf(s);
    return answer && !collected.has(answer.key);
  });
  const read = await Promise.allSettled(
    due.map(async (s) => {
      const now = await readSession(s.id);
      const answer = answerOf(now);
      const coming = stillComing(now);
      if (answer && !coming) collected.add(answer.key);
      return coming ? [now] : [];
    }),
  );
  return read.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
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

/** `export …` lines for temporary credentials, as a shell takes them. */
function exports(c: NonNullable<Grant['credentials']>): string {
  return `export AWS_ACCESS_KEY_ID=${c.access_key_id} AWS_SECRET_ACCESS_KEY=${c.secret_access_key} AWS_SESSION_TOKEN=${c.session_token}`;
}

function Credentials({ grant }: { grant: Grant }) {
  const c = grant.credentials;
  if (!c) return null;
  return (
    <div class="secrets" data-testid="credentials">
      <Secret label="Access key id" value={c.access_key_id} />
      <Secret label="Secret access key" value={c.secret_access_key} />
      <Secret label="Session token" value={c.session_token} />
      {grant.shell ? null : <Secret label="Shell exports" value={exports(c)} />}
    </div>
  );
}

/** A shell session: the credentials, scoped to its one target, and the command that opens it. */
function ShellGrant({ grant }: { grant: Grant }) {
  const shell = grant.shell;
  if (!shell || !grant.credentials) return null;
  return (
    <div class="shell-grant">
      <p>
        In a terminal with the AWS CLI and its Session Manager plugin, these credentials open a shell on{' '}
        <code>{shell.target}</code>
        {shell.run_as ? (
          <>
            {' '}
            as <code>{shell.run_as}</code>
          </>
        ) : null}
        ; they allow nothing else.
      </p>
      <Secret label="Start-session command" value={shell.command} />
      <Secret label="Credentials and command" value={`${exports(grant.credentials)}\n${shell.command}`} />
    </div>
  );
}

/** An Identity Center session: no credential, a sign-in through the access portal or the CLI. */
function IdentityCenterGrant({ grant }: { grant: Grant }) {
  const ic = grant.identity_center;
  if (!ic) return null;
  return (
    <div class="ic-grant">
      <p>
        Sign in with your own identity: the permission set <strong>{ic.permission_set_name}</strong> is assigned to you
        until the session ends.
        {ic.outside ? ` You already had this access outside the broker (${ic.outside}); ending the session leaves it.` : ''}
      </p>
      <p>
        <a class="button primary" href={ic.portal_url} target="_blank" rel="noopener noreferrer">
          Open the AWS access portal
        </a>
      </p>
      <p>
        Or, for the AWS CLI, add this profile to <code>~/.aws/config</code> and run{' '}
        <code>aws sso login --profile {/\[profile ([^\]]+)\]/.exec(ic.cli_profile)?.[1] ?? '…'}</code>:
      </p>
      <Secret label="AWS CLI profile" value={ic.cli_profile.trimEnd()} />
    </div>
  );
}

function GrantPanel({ item }: { item: Handed }) {
  const { session, grant } = item;
  const heading = useRef<HTMLHeadingElement>(null);
  // Focus moves to what just appeared, so that screen readers announce it.
  useEffect(() => heading.current?.focus(), []);
  const profile =
    session.type === 'jit' && session.role_arn
      ? `[profile cib-${roleName(session.role_arn)}]\ncredential_process = cib credential-process --account ${session.account_id} --role ${session.role_arn} --duration 1h --reason "${session.reason.replace(/"/g, "'")}"`
      : null;
  const titleId = `grant-${item.id}`;
  const secret = !!(grant.credentials || grant.console);
  return (
    <section class="grant" aria-labelledby={titleId}>
      <h2 id={titleId} tabIndex={-1} ref={heading}>
        Your access: {describe(session)}, shown once
      </h2>
      <p class="warning">
        {secret
          ? 'Copy what you need now: these secrets are not shown again, not after a reload and not to anyone else.'
          : 'Keep what you need now: this is not shown again, not after a reload.'}{' '}
        {secret ? 'They stop' : 'The access stops'} working at {when(session.expires_at)}, or when the session is ended.
      </p>
      <Credentials grant={grant} />
      <ShellGrant grant={grant} />
      <IdentityCenterGrant grant={grant} />
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
      <button
        type="button"
        onClick={() => {
          dismiss(item);
          // Focus goes to the session these were for (its row under My sessions, where it is
          // ended), or to the page, rather than to the page's body with the panel.
          (document.querySelector<HTMLElement>(`tr[data-session="${session.id}"] a`) ?? document.getElementById('main'))?.focus();
        }}
      >
        {secret ? 'I have copied them: hide' : 'Done: hide'}
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
