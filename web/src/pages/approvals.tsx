// Approvers: the pending requests they may decide (the API lists only those) and the
// break-glass sessions awaiting their review, each with exactly what it gives: kind, role,
// permission set or target, duration, reason, and who else approved already.

import { useEffect, useRef, useState } from 'preact/hooks';
import { call, get } from '../api';
import { AccessTerms, ApprovalTerms, ExtensionTerms } from '../details';
import type { Page, Session } from '../types';
import { Busy, Loaded, Notice, ProblemBox, StatusBadge, Submit, describe, duration, submitting, useAction, when } from '../ui';

function RequestCard({ session, onDecided }: { session: Session; onDecided: (what: string) => void }) {
  const [comment, setComment] = useState('');
  const extension = session.pending_extension;
  const request = extension ? extension.approval : session.request;
  const decide = useAction(async (verb: 'approvals' | 'denials') => {
    // A denial needs a reason: without one the API says so.
    await call('POST', `/sessions/${session.id}/${verb}`, { reason: comment.trim() || null });
    setComment('');
    onDecided(`${verb === 'approvals' ? 'Approved' : 'Denied'} the request of ${session.user} for ${describe(session)}.`);
  });
  const commentId = `comment-${session.id}`;
  return (
    <article class="card" data-request={session.id} aria-label={`Request from ${session.user}`}>
      <h3>
        {session.user} asks for {extension ? `${duration(extension.duration_seconds)} more of ` : ''}
        {describe(session)}
      </h3>
      <dl>
        <AccessTerms session={session} />
        <dt>Why</dt>
        <dd>{extension ? extension.reason : session.reason}</dd>
        <dt>For how long</dt>
        <dd>
          {duration(extension ? extension.duration_seconds : session.duration_seconds)}
          {extension ? ` more (it now ends ${when(session.expires_at)})` : ''}
        </dd>
        {extension ? (
          <>
            <dt>Started</dt>
            <dd>
              {when(session.started_at)}, for “{session.reason}”
            </dd>
          </>
        ) : null}
        {session.break_glass ? (
          <>
            <dt>Break-glass</dt>
            <dd>started without approval, reviewed afterwards</dd>
          </>
        ) : null}
        {request ? <ApprovalTerms request={request} /> : null}
      </dl>
      <label for={commentId}>Comment (kept in the session's log; required to deny)</label>
      <textarea id={commentId} value={comment} onInput={(e) => setComment(e.currentTarget.value)} maxLength={500} rows={2} />
      <ProblemBox error={decide.error} />
      <div class="actions">
        <Busy busy={decide.busy} label="Recording the decision">
          <button type="button" class="primary" onClick={() => decide.run('approvals')}>
            Approve
          </button>
          <button type="button" class="danger" onClick={() => decide.run('denials')}>
            Deny
          </button>
        </Busy>
      </div>
    </article>
  );
}

function ReviewCard({ session, onReviewed, readsTimelines }: { session: Session; onReviewed: (what: string) => void; readsTimelines: boolean }) {
  const [note, setNote] = useState('');
  const review = useAction(async () => {
    await call('POST', `/sessions/${session.id}/review`, { note });
    onReviewed(`Recorded the review of ${session.user}'s break-glass session, ${describe(session)}.`);
  });
  const noteId = `note-${session.id}`;
  return (
    <article class="card" aria-label={`Break-glass session of ${session.user}`}>
      <h3>
        Break-glass: {session.user}, {describe(session)}
      </h3>
      <dl>
        <AccessTerms session={session} />
        <dt>Why</dt>
        <dd>{session.reason}</dd>
        <dt>Started</dt>
        <dd>
          {when(session.started_at)} for {duration(session.duration_seconds)}
        </dd>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={session.status} />
          {session.ended_at ? ` ${when(session.ended_at)}${session.end_reason ? `: ${session.end_reason}` : ''}` : ''}
        </dd>
        <ExtensionTerms session={session} />
      </dl>
      {/* Only admins and auditors may read another user's session. */}
      {readsTimelines ? (
        <p>
          <a href={`#/sessions/${session.id}`}>Everything about this session: timeline, activity</a>
        </p>
      ) : null}
      <form onSubmit={submitting(review.run)}>
        <label for={noteId}>Review note</label>
        <textarea id={noteId} value={note} onInput={(e) => setNote(e.currentTarget.value)} required minLength={3} maxLength={1000} rows={2} />
        <Submit action={review} label="Record review" progress="Recording the review" />
      </form>
    </article>
  );
}

export function ApprovalsPage({ readsTimelines }: { readsTimelines: boolean }) {
  const [requests, setRequests] = useState<Session[] | null>(null);
  const [reviews, setReviews] = useState<Session[] | null>(null);
  const load = useAction(async () => {
    const [r, v] = await Promise.all([get<Page<Session>>('/requests?limit=50'), get<Page<Session>>('/reviews?limit=50')]);
    setRequests(r.items);
    setReviews(v.items);
  });
  useEffect(() => {
    load.run();
  }, []);
  // What the last decision or review did, announced; the card it was made on is gone once the
  // lists are read again, so focus goes to the heading of its list rather than to the page's body.
  const [notice, setNotice] = useState<{ text: string; list: 'inbox' | 'reviews' } | null>(null);
  const inbox = useRef<HTMLHeadingElement>(null);
  const reviewsHeading = useRef<HTMLHeadingElement>(null);
  const done = async (text: string, list: 'inbox' | 'reviews') => {
    setNotice({ text, list });
    await load.run();
    (list === 'inbox' ? inbox : reviewsHeading).current?.focus();
  };
  return (
    <div>
      <h1>Approvals</h1>
      <ProblemBox error={load.error} />
      <section aria-labelledby="inbox-title">
        <h2 id="inbox-title" tabIndex={-1} ref={inbox}>
          Waiting for your decision
        </h2>
        <Notice text={notice?.list === 'inbox' ? notice.text : null} />
        {/* Not disabled while it reads: a disabled button would lose the keyboard's focus. */}
        <Busy busy={load.busy} label="Refreshing">
          <button type="button" onClick={() => load.run()}>
            Refresh
          </button>
        </Busy>
        <Loaded items={requests} loading="Loading requests…" empty="Nothing waits for your decision.">
          {(requests) => requests.map((s) => <RequestCard key={s.id} session={s} onDecided={(text) => done(text, 'inbox')} />)}
        </Loaded>
      </section>
      <section aria-labelledby="reviews-title">
        <h2 id="reviews-title" tabIndex={-1} ref={reviewsHeading}>
          Break-glass sessions to review
        </h2>
        <Notice text={notice?.list === 'reviews' ? notice.text : null} />
        <Loaded items={reviews} loading="Loading break-glass sessions…" empty="No break-glass session awaits your review.">
          {(reviews) =>
            reviews.map((s) => (
              <ReviewCard key={s.id} session={s} onReviewed={(text) => done(text, 'reviews')} readsTimelines={readsTimelines} />
            ))
          }
        </Loaded>
      </section>
    </div>
  );
}
