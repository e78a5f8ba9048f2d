// What a session gives and how its approval stands, in the words an approver and an auditor
// read: the same terms on the approvals page and on a session's page.

import type { ApprovalRequest, Session } from './types';
import { KINDS, duration, when } from './ui';

/** The kind, account and what exactly it reaches: role, permission set or shell target. */
export function AccessTerms({ session }: { session: Session }) {
  const ic = session.identity_center;
  return (
    <>
      <dt>Kind</dt>
      <dd>{KINDS[session.type] ?? session.type}</dd>
      <dt>AWS account</dt>
      <dd>{session.aws_account_id}</dd>
      {session.type === 'shell' ? (
        <>
          <dt>Target</dt>
          <dd>
            <code>{session.target}</code>
          </dd>
        </>
      ) : null}
      {ic ? (
        <>
          <dt>Permission set</dt>
          <dd>
            {ic.permission_set_name} <code>{ic.permission_set_arn}</code>
          </dd>
          <dt>Identity-store user</dt>
          <dd>{ic.user_name}</dd>
          {ic.outside ? (
            <>
              <dt>Had it already</dt>
              <dd>{ic.outside}</dd>
            </>
          ) : null}
        </>
      ) : null}
      {session.role_arn ? (
        <>
          <dt>{session.type === 'shell' ? 'Shell role' : 'Role'}</dt>
          <dd>
            <code>{session.role_arn}</code>
          </dd>
        </>
      ) : null}
      {session.iam_user ? (
        <>
          <dt>IAM user</dt>
          <dd>{session.iam_user}</dd>
        </>
      ) : null}
    </>
  );
}

/** Who approved so far (with what they said), how many more are needed, and until when. */
export function ApprovalTerms({ request }: { request: ApprovalRequest }) {
  const left = Math.max(0, request.approvals_required - request.approvals.length);
  return (
    <>
      <dt>Asked</dt>
      <dd>{when(request.requested_at)}</dd>
      <dt>Approvals</dt>
      <dd>
        {request.approvals.length} of {request.approvals_required}
        {request.decision ? '' : left ? `: ${left} more needed` : ''}
        {request.approvals.length ? (
          <ul class="approvals">
            {request.approvals.map((a) => (
              <li key={a.by + a.at}>
                {a.by}
                {a.via ? ` (through ${a.via})` : ''}, {when(a.at)}
                {a.reason ? `: “${a.reason}”` : ''}
              </li>
            ))}
          </ul>
        ) : null}
      </dd>
      {request.decision ? (
        <>
          <dt>Decision</dt>
          <dd>
            {request.decision.outcome} by {request.decision.by}, {when(request.decision.at)}
            {request.decision.reason ? `: “${request.decision.reason}”` : ''}
          </dd>
        </>
      ) : (
        <>
          <dt>Lapses</dt>
          <dd>{when(request.lapses_at)}</dd>
        </>
      )}
    </>
  );
}

/** The extensions a session had, and the one waiting, if any. */
export function ExtensionTerms({ session }: { session: Session }) {
  if (!session.extensions.length && !session.pending_extension) return null;
  const waiting = session.pending_extension;
  return (
    <>
      {session.extensions.length ? (
        <>
          <dt>Extended</dt>
          <dd>
            <ul class="approvals">
              {session.extensions.map((x) => (
                <li key={x.at}>
                  {duration(x.duration_seconds)} more by {x.by}, {when(x.at)} (to {when(x.expires_at)}): “{x.reason}”
                </li>
              ))}
            </ul>
          </dd>
        </>
      ) : null}
      {waiting ? (
        <>
          <dt>Extension asked</dt>
          <dd>
            {duration(waiting.duration_seconds)} more, by {waiting.requested_by}: “{waiting.reason}”
          </dd>
        </>
      ) : null}
    </>
  );
}
