// Requesters: what they may start (from /me) and the start itself. Every decision is the API's;
// the form offers what /me says a start would accept, and for shell sessions the targets the
// account's settings let them reach.

import { useEffect, useState } from 'preact/hooks';
import { ProblemError, call, get } from '../api';
import type { Grant, MeAccount, Offer, Session, ShellTargetList } from '../types';
import { ProblemBox, Submit, duration, durationChoices, roleName, submitting, useAction, useIdempotencyKey } from '../ui';

type Kind = Session['type'];

const KIND_LABELS: Record<Kind, string> = {
  jit: 'JIT role credentials and console link',
  console: 'Console sign-in with a password',
  shell: 'Shell on an instance (Session Manager)',
  identity_center: 'Identity Center permission set (access portal)',
};

function kindsOf(a: MeAccount): Kind[] {
  const kinds: Kind[] = [];
  if (a.jit_roles.length) kinds.push('jit');
  if (a.console) kinds.push('console');
  if (a.permissions.start_shell_sessions) kinds.push('shell');
  if (a.permission_sets?.length) kinds.push('identity_center');
  return kinds;
}

/** A permission set's ARN shortened to its id (`ps-…`): /me names no permission set. */
const permissionSetId = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

/**
 * The targets of the account's shell settings (`GET /accounts/{id}/shell/targets`): the list,
 * or null where the API has no such list (404: an older deployment), where the form asks for an
 * instance id.
 */
function useShellTargets(accountId: string, wanted: boolean) {
  const [targets, setTargets] = useState<ShellTargetList | null | undefined>(undefined);
  const load = useAction(async () => {
    try {
      setTargets(await get<ShellTargetList>(`/accounts/${accountId}/shell/targets`));
    } catch (e) {
      if (e instanceof ProblemError && e.problem.status === 404) setTargets(null);
      else throw e;
    }
  });
  useEffect(() => {
    setTargets(undefined);
    if (wanted && accountId) load.run();
  }, [accountId, wanted]);
  return { targets, error: load.error, busy: load.busy };
}

function TargetPicker({
  list: targets,
  target,
  setTarget,
}: {
  list: ReturnType<typeof useShellTargets>;
  target: string;
  setTarget: (t: string) => void;
}) {
  if (targets.error) return <ProblemBox error={targets.error} />;
  if (targets.targets === undefined) {
    return (
      <p class="progress" role="status">
        Finding the instances you may reach…
      </p>
    );
  }
  if (targets.targets === null) {
    return (
      <label class="wide" data-testid="shell-targets">
        Target instance id (an instance or managed node the account's shell settings allow)
        <input value={target} onInput={(e) => setTarget(e.currentTarget.value.trim())} required pattern="^(i|mi)-[0-9a-f]{8,17}$" placeholder="i-0123456789abcdef0" />
      </label>
    );
  }
  const list = targets.targets;
  const listed = list.targets.some((t) => t.instance_id === target);
  return (
    <fieldset class="wide targets" data-testid="shell-targets">
      <legend>Target (in {list.region})</legend>
      {list.targets.length === 0 ? <p>The account's shell settings reach no instance now.</p> : null}
      {list.targets.map((t) => {
        // Unchecked (AWS did not answer for it): the start checks it again, so it may be picked.
        const pickable = t.reachable || t.problem === 'unchecked';
        const about = [t.name, t.state].filter(Boolean).join(', ');
        return (
          <label class="check" key={t.instance_id}>
            <input
              type="radio"
              name="shell-target"
              value={t.instance_id}
              checked={target === t.instance_id}
              disabled={!pickable}
              onChange={() => setTarget(t.instance_id)}
              required
            />
            <span>
              <code>{t.instance_id}</code> {about ? `(${about})` : ''}
              {t.reachable ? '' : ` — ${t.problem === 'unchecked' ? 'not checked' : 'not reachable'}: ${t.reason ?? t.problem ?? 'unknown'}`}
            </span>
          </label>
        );
      })}
      {list.truncated ? (
        <label>
          More than 50 instances match: another instance id
          <input value={listed ? '' : target} onInput={(e) => setTarget(e.currentTarget.value.trim())} pattern="^(i|mi)-[0-9a-f]{8,17}$" />
        </label>
      ) : null}
    </fieldset>
  );
}

export function StartForm({ accounts, onStarted }: { accounts: MeAccount[]; onStarted: (s: Session, g: Grant | null) => void }) {
  const startable = accounts.filter((a) => kindsOf(a).length);
  const [accountId, setAccountId] = useState(startable[0]?.account_id ?? '');
  const account = startable.find((a) => a.account_id === accountId);
  const kinds = account ? kindsOf(account) : [];
  // What was picked, where the account offers it; otherwise its first offer.
  const [pickedKind, setKind] = useState<Kind>('jit');
  const kind = kinds.includes(pickedKind) ? pickedKind : (kinds[0] ?? 'jit');
  const [pickedRole, setRole] = useState('');
  const role = account?.jit_roles.some((r) => r.role_arn === pickedRole) ? pickedRole : (account?.jit_roles[0]?.role_arn ?? '');
  const [pickedSet, setPermissionSet] = useState('');
  const sets = account?.permission_sets ?? [];
  const permissionSet = sets.some((p) => p.permission_set_arn === pickedSet) ? pickedSet : (sets[0]?.permission_set_arn ?? '');
  const [target, setTarget] = useState('');
  const targets = useShellTargets(accountId, kind === 'shell');
  // Shell sessions have no offer in /me: their limits are the shell settings', which the API applies.
  const offer: Offer | null | undefined =
    kind === 'jit'
      ? account?.jit_roles.find((r) => r.role_arn === role)
      : kind === 'identity_center'
        ? sets.find((p) => p.permission_set_arn === permissionSet)
        : kind === 'console'
          ? account?.console
          : null;
  const [seconds, setSeconds] = useState(3600);
  const [reason, setReason] = useState('');
  const [wantsBreakGlass, setBreakGlass] = useState(false);
  // Only where the chosen access allows it: a box hidden by a change of role is not ticked.
  const breakGlass = wantsBreakGlass && !!offer?.break_glass_max_seconds;
  const max = offer ? (breakGlass && offer.break_glass_max_seconds ? offer.break_glass_max_seconds : offer.max_duration_seconds) : 43200;
  const chosen = Math.min(seconds, max);
  const waits = !!offer && !breakGlass && (offer.automatic_max_seconds === null || chosen > offer.automatic_max_seconds);
  // One key per request as filled in: a retry after a lost answer is the same start, not a
  // second one; any change, or an answer, makes it a new request.
  const idem = useIdempotencyKey([accountId, kind, role, permissionSet, target, chosen, reason, breakGlass]);
  const start = useAction(async () => {
    const reply = await idem.settle(
      call<{ session: Session } & Grant>(
        'POST',
        '/sessions',
        {
          account_id: accountId,
          type: kind,
          role_arn: kind === 'jit' ? role : null,
          target: kind === 'shell' ? target : null,
          permission_set_arn: kind === 'identity_center' ? permissionSet : null,
          duration_seconds: chosen,
          reason,
          break_glass: breakGlass,
        },
        { idempotencyKey: idem.key },
      ),
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
          <select id="start-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {KIND_LABELS[k]}
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
        {kind === 'identity_center' ? (
          <div class="field">
            <label for="start-permission-set">Permission set</label>
            <select id="start-permission-set" value={permissionSet} onChange={(e) => setPermissionSet(e.currentTarget.value)}>
              {sets.map((p) => (
                <option key={p.permission_set_arn} value={p.permission_set_arn}>
                  {permissionSetId(p.permission_set_arn)}
                  {p.needs_approval ? ' (needs approval)' : ''}
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
        {kind === 'shell' ? <TargetPicker list={targets} target={target} setTarget={setTarget} /> : null}
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
      {kind === 'identity_center' ? (
        <p class="note">
          Permission set <code>{permissionSet}</code>: you sign in with your own identity through the access portal; no
          credential is handed out.
        </p>
      ) : null}
      {kind === 'shell' ? (
        <p class="note">
          At most the account's longest shell session; the shell may wait for approval where your group's policy says so.
        </p>
      ) : null}
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
