// Admins: access groups (who may start what, on which accounts, under which grant policy) and
// their members. The API checks every rule (approver groups exist, durations within bounds);
// the form only says what it sends.

import { useEffect, useRef, useState } from 'preact/hooks';
import { call } from '../api';
import type { Account, Group, GrantPolicy, Member, Permissions } from '../types';
import {
  Busy,
  ConfirmButton,
  Loaded,
  MoreButton,
  Notice,
  ProblemBox,
  Submit,
  duration,
  lines,
  submitting,
  useAction,
  usePaged,
  when,
} from '../ui';

const PERMISSIONS: [keyof Permissions, string][] = [
  ['start_jit_sessions', 'Start JIT sessions (role credentials)'],
  ['start_sessions', 'Start console sessions (password checkout)'],
  ['start_shell_sessions', 'Start shell sessions (Session Manager)'],
  ['start_identity_center_sessions', 'Start Identity Center sessions (permission sets)'],
];

/** An OU id of a registered organization, which a group may name instead of accounts. */
const isOu = (id: string) => id.startsWith('ou-');

/** The grant policy in words, as a requester would meet it. */
function policyInWords(policy: GrantPolicy, groups: Group[]): string {
  const name = (id: string) => groups.find((g) => g.id === id)?.name ?? id;
  const parts = [
    policy.approval
      ? `${policy.approval.approvals_required} approval${policy.approval.approvals_required === 1 ? '' : 's'} from ${policy.approval.approver_group_ids.map(name).join(', ')}`
      : 'automatic',
  ];
  if (policy.max_duration_seconds) parts.push(`at most ${duration(policy.max_duration_seconds)}`);
  if (policy.jit_role_arns) parts.push(`roles: ${policy.jit_role_arns.map((r) => r.slice(r.lastIndexOf('/') + 1)).join(', ') || 'none'}`);
  if (policy.permission_set_arns?.length) parts.push(`permission sets: ${policy.permission_set_arns.map((r) => r.slice(r.lastIndexOf('/') + 1)).join(', ')}`);
  if (policy.break_glass) parts.push(`break-glass up to ${duration(policy.break_glass.max_duration_seconds)}`);
  return parts.join('; ');
}

function GroupForm({
  group,
  groups,
  accounts,
  onSaved,
}: {
  group: Group | null;
  groups: Group[];
  accounts: Account[];
  onSaved: (g: Group) => void;
}) {
  const p = group?.policy;
  const [name, setName] = useState(group?.name ?? '');
  const [description, setDescription] = useState(group?.description ?? '');
  const [allAccounts, setAllAccounts] = useState(group ? group.accounts === 'all' : false);
  const scope = group && group.accounts !== 'all' ? group.accounts : [];
  const [chosen, setChosen] = useState<string[]>(scope.filter((id) => !isOu(id)));
  const [units, setUnits] = useState(scope.filter(isOu).join('\n'));
  const [permissions, setPermissions] = useState<Permissions>({
    start_sessions: false,
    start_jit_sessions: !group,
    start_shell_sessions: false,
    start_identity_center_sessions: false,
    ...group?.permissions,
  });
  const [roles, setRoles] = useState((p?.jit_role_arns ?? []).join('\n'));
  const [permissionSets, setPermissionSets] = useState((p?.permission_set_arns ?? []).join('\n'));
  const [maxDuration, setMaxDuration] = useState(p?.max_duration_seconds ? String(p.max_duration_seconds) : '');
  const [approval, setApproval] = useState(!!p?.approval);
  const [approvals, setApprovals] = useState(String(p?.approval?.approvals_required ?? 1));
  const [approvers, setApprovers] = useState<string[]>(p?.approval?.approver_group_ids ?? []);
  const [breakGlass, setBreakGlass] = useState(!!p?.break_glass);
  const [breakGlassMax, setBreakGlassMax] = useState(String(p?.break_glass?.max_duration_seconds ?? 3600));
  const toggle = (list: string[], id: string, on: boolean) => (on ? [...list, id] : list.filter((x) => x !== id));
  const save = useAction(async () => {
    const policy = {
      approval: approval ? { approvals_required: Number(approvals), approver_group_ids: approvers } : null,
      max_duration_seconds: maxDuration ? Number(maxDuration) : null,
      jit_role_arns: lines(roles).length ? lines(roles) : null,
      permission_set_arns: lines(permissionSets).length ? lines(permissionSets) : null,
      break_glass: breakGlass ? { max_duration_seconds: Number(breakGlassMax) } : null,
    };
    const automatic = Object.values(policy).every((v) => v === null);
    const body = {
      name,
      // On a change, null would keep the old description: an emptied field clears it.
      description: group ? description : description || null,
      accounts: allAccounts ? 'all' : [...chosen, ...lines(units)],
      permissions,
      policy: automatic ? null : policy,
    };
    const r = group ? await call<Group>('PATCH', `/groups/${group.id}`, body) : await call<Group>('POST', '/groups', body);
    onSaved(r.body);
  });
  const title = group ? `Change ${group.name}` : 'New group';
  const titleId = group ? `group-form-${group.id}` : 'group-form-new';
  // A group opened (or just created) takes the focus to its form.
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (group) heading.current?.focus();
  }, []);
  return (
    <form class="card" aria-labelledby={titleId} onSubmit={submitting(save.run)}>
      <h2 id={titleId} tabIndex={-1} ref={heading}>
        {title}
      </h2>
      <div class="fields">
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={64} />
        </label>
        <label class="wide">
          Description
          <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} maxLength={256} />
        </label>
        <fieldset>
          <legend>Accounts</legend>
          <label class="check">
            <input type="checkbox" checked={allAccounts} onChange={(e) => setAllAccounts(e.currentTarget.checked)} />
            Every account, also those registered later
          </label>
          {allAccounts
            ? null
            : accounts.map((a) => (
                <label class="check" key={a.id}>
                  <input type="checkbox" checked={chosen.includes(a.id)} onChange={(e) => setChosen(toggle(chosen, a.id, e.currentTarget.checked))} />
                  {a.name} ({a.aws_account_id})
                </label>
              ))}
          {allAccounts ? null : (
            <label>
              Organizational units (one OU id per line: every enabled account under it, now and later)
              <textarea value={units} onInput={(e) => setUnits(e.currentTarget.value)} rows={2} placeholder="ou-ab12-11111111" />
            </label>
          )}
        </fieldset>
        <fieldset>
          <legend>Members may</legend>
          {PERMISSIONS.map(([key, label]) => (
            <label class="check" key={key}>
              <input
                type="checkbox"
                checked={permissions[key]}
                onChange={(e) => setPermissions({ ...permissions, [key]: e.currentTarget.checked })}
              />
              {label}
            </label>
          ))}
        </fieldset>
        <fieldset class="wide">
          <legend>Grant policy</legend>
          <label>
            JIT roles (one ARN per line; empty: every role the account allows)
            <textarea value={roles} onInput={(e) => setRoles(e.currentTarget.value)} rows={3} />
          </label>
          <label>
            Identity Center permission sets (one ARN per line; for Identity Center sessions)
            <textarea value={permissionSets} onInput={(e) => setPermissionSets(e.currentTarget.value)} rows={2} />
          </label>
          <label>
            Longest session (seconds, 900 to 43 200; empty: the account's maximum)
            <input type="number" min={900} max={43200} value={maxDuration} onInput={(e) => setMaxDuration(e.currentTarget.value)} />
          </label>
          <label class="check">
            <input type="checkbox" checked={approval} onChange={(e) => setApproval(e.currentTarget.checked)} />
            Sessions wait for approval
          </label>
          {approval ? (
            <>
              <label>
                Approvals needed
                <input type="number" min={1} max={10} value={approvals} onInput={(e) => setApprovals(e.currentTarget.value)} required />
              </label>
              <fieldset>
                <legend>Approvers: members of</legend>
                {groups.map((g) => (
                  <label class="check" key={g.id}>
                    <input
                      type="checkbox"
                      checked={approvers.includes(g.id)}
                      onChange={(e) => setApprovers(toggle(approvers, g.id, e.currentTarget.checked))}
                    />
                    {g.name}
                  </label>
                ))}
              </fieldset>
            </>
          ) : null}
          <label class="check">
            <input type="checkbox" checked={breakGlass} onChange={(e) => setBreakGlass(e.currentTarget.checked)} />
            Break-glass: members may start at once, flagged for review
          </label>
          {breakGlass ? (
            <label>
              Longest break-glass session (seconds)
              <input type="number" min={900} max={43200} value={breakGlassMax} onInput={(e) => setBreakGlassMax(e.currentTarget.value)} required />
            </label>
          ) : null}
        </fieldset>
      </div>
      <Submit action={save} label={group ? 'Save group' : 'Create group'} progress="Saving the group" />
    </form>
  );
}

function Members({ group }: { group: Group }) {
  const members = usePaged<Member>(`/groups/${group.id}/members`, (m) => m.email);
  const [email, setEmail] = useState('');
  useEffect(() => {
    members.reload.run();
  }, []);
  const add = useAction(async () => {
    await call('PUT', `/groups/${group.id}/members/${encodeURIComponent(email)}`);
    setEmail('');
    await members.refresh();
  });
  const remove = useAction(async (m: Member) => {
    await call('DELETE', `/groups/${group.id}/members/${encodeURIComponent(m.email)}`);
    members.setItems((list) => (list ?? []).filter((x) => x.email !== m.email));
  });
  const titleId = `members-${group.id}`;
  return (
    <section class="card" aria-labelledby={titleId}>
      <h2 id={titleId}>Members of {group.name}</h2>
      <ProblemBox error={members.error ?? remove.error} />
      <Loaded items={members.items} loading="Loading members…" empty="No members yet.">
        {(items) => (
          <ul class="members">
            {items.map((m) => (
              <li key={m.email}>
                {m.email} <span class="muted">since {when(m.added_at)}</span>{' '}
                <button type="button" onClick={() => remove.run(m)} disabled={remove.busy}>
                  Remove<span class="visually-hidden"> {m.email}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <MoreButton list={members} label="members" />
      <form onSubmit={submitting(add.run)}>
        <label>
          Add a member by e-mail
          <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required maxLength={254} />
        </label>{' '}
        <Submit action={add} label="Add member" progress="Adding" kind="plain" />
      </form>
    </section>
  );
}

export function GroupsPage() {
  const groups = usePaged<Group>('/groups', (g) => g.id);
  const accounts = usePaged<Account>('/accounts', (a) => a.id);
  const [selected, setSelected] = useState<string | null>(null);
  // Remounts the new-group form (emptied) after each creation.
  const [created, setCreated] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => {
    groups.reload.run();
    accounts.reload.run();
  }, []);
  const remove = useAction(async (g: Group) => {
    await call('DELETE', `/groups/${g.id}`);
    groups.setItems((list) => (list ?? []).filter((x) => x.id !== g.id));
    setSelected(null);
    setNotice(`Deleted ${g.name} and its memberships.`);
  });
  const saved = (g: Group, isNew: boolean) => {
    groups.setItems((list) => (isNew ? [...(list ?? []), g] : (list ?? []).map((x) => (x.id === g.id ? g : x))));
    setNotice(isNew ? `Created ${g.name}.` : `Saved ${g.name}.`);
    if (isNew) {
      setCreated((n) => n + 1);
      setSelected(g.id);
    }
  };
  const accountName = (id: string) => accounts.items?.find((a) => a.id === id)?.name ?? id;
  const group = groups.items?.find((g) => g.id === selected) ?? null;
  // The API lets a group go that others name as approvers: the question says so.
  const approving = (groups.items ?? []).filter((g) => group && g.policy.approval?.approver_group_ids.includes(group.id));
  return (
    <div>
      <h1>Groups</h1>
      <ProblemBox error={groups.error ?? accounts.error ?? remove.error} />
      <Notice text={notice} />
      <Loaded items={groups.items} loading="Loading groups…" empty="No group yet: nobody may start a session.">
        {(items) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Group</th>
                <th scope="col">Accounts</th>
                <th scope="col">Members may</th>
                <th scope="col">Policy</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((g) => (
                <tr key={g.id}>
                  <th scope="row">
                    {g.name}
                    {g.description ? <p class="muted">{g.description}</p> : null}
                  </th>
                  <td>
                    {g.accounts === 'all' ? 'all' : g.accounts.map(accountName).join(', ') || 'none'}
                    {g.resolved_account_ids && g.accounts !== 'all' && g.accounts.some(isOu) ? (
                      <p class="muted">now: {g.resolved_account_ids.map(accountName).join(', ') || 'no enabled account'}</p>
                    ) : null}
                  </td>
                  <td>{PERMISSIONS.filter(([k]) => g.permissions[k]).map(([, label]) => label.split(' (')[0]).join(', ') || 'start nothing'}</td>
                  <td>{policyInWords(g.policy, items)}</td>
                  <td>
                    <button type="button" onClick={() => setSelected(g.id)}>
                      Open {g.name}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
      <MoreButton list={groups} label="groups" />
      {group && accounts.items ? (
        <div key={group.id}>
          <GroupForm group={group} groups={groups.items ?? []} accounts={accounts.items} onSaved={(g) => saved(g, false)} />
          <Members group={group} />
          <p>
            <Busy busy={remove.busy} label="Deleting the group">
              <ConfirmButton
                label={`Delete ${group.name}`}
                question={`Delete ${group.name}? Its members lose what it grants; live sessions run to their end.${
                  approving.length
                    ? ` ${approving.map((g) => g.name).join(', ')} name${approving.length === 1 ? 's' : ''} it as approvers: their requests could no longer be approved.`
                    : ''
                }`}
                onConfirm={() => remove.run(group)}
              />
            </Busy>
          </p>
        </div>
      ) : null}
      {accounts.items && groups.items ? (
        <GroupForm key={`new-${created}`} group={null} groups={groups.items} accounts={accounts.items} onSaved={(g) => saved(g, true)} />
      ) : null}
    </div>
  );
}
