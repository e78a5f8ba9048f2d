// Everything about one session, for its owner, admins and auditors: what it gave and how it was
// approved, its timeline from its S3 log with whether the hash chain holds said plainly, the AWS
// calls made with it, and for a shell session each transcript.

import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { Activity } from '../activity';
import { AccessTerms, ApprovalTerms, ExtensionTerms } from '../details';
import { GrantPanels, readSession } from '../grants';
import { Transcripts } from '../transcript';
import type { Session, SessionLog } from '../types';
import { ProblemBox, StatusBadge, describe, duration, useAction, when } from '../ui';

function Summary({ session }: { session: Session }) {
  return (
    <dl class="summary">
      <dt>User</dt>
      <dd>
        {session.user}
        {session.requested_by !== session.user ? ` (asked by ${session.requested_by})` : ''}
      </dd>
      <AccessTerms session={session} />
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
      {session.revocation_failures ? (
        <>
          <dt>Revocation</dt>
          <dd class="bad">
            failed {session.revocation_failures} time{session.revocation_failures === 1 ? '' : 's'}
            {session.last_error ? `: ${session.last_error}` : ''} (the expirer retries)
          </dd>
        </>
      ) : null}
      {session.request ? <ApprovalTerms request={session.request} /> : null}
      <ExtensionTerms session={session} />
      {session.pending_extension ? <ApprovalTerms request={session.pending_extension.approval} /> : null}
      {session.break_glass ? (
        <>
          <dt>Review</dt>
          <dd>{session.review ? `${session.review.by}, ${when(session.review.at)}: “${session.review.note}”` : 'not reviewed yet'}</dd>
        </>
      ) : null}
    </dl>
  );
}

/** The fields of a log event worth a line of their own; the rest stay in its details. */
const SHOWN = new Set(['type', 'at', 'session_id', 'prev_hash', 'account_id', 'aws_account_id', 'kind', 'user']);

function Timeline({ log }: { log: SessionLog }) {
  return (
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
  );
}

export function SessionPage({ id, email, readsAll }: { id: string; email: string; readsAll: boolean }) {
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
        <>
          <p class="lead">{describe(session)}</p>
          <Summary session={session} />
        </>
      ) : null}
      {log ? <Timeline log={log} /> : null}
      {session ? <Activity session={session} /> : null}
      {session?.type === 'shell' ? <Transcripts session={session} /> : null}
      <p>{readsAll ? <a href="#/sessions">All sessions</a> : <a href="#/access">My access</a>}</p>
    </div>
  );
}
