// Admins: each account's IAM users as the broker knows them, and what changes them: provisioning,
// importing the account's other users (never changed afterwards), rotating the key the broker
// keeps sealed, and deprovisioning. Secrets never reach this page: the API returns none.

import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import type { Account, User } from '../types';
import {
  Busy,
  ConfirmButton,
  Loaded,
  MoreButton,
  Notice,
  ProblemBox,
  StatusBadge,
  Submit,
  lines,
  submitting,
  useAction,
  useIdempotencyKey,
  usePaged,
  when,
} from '../ui';

const path = (account: Account, user?: User) =>
  `/accounts/${account.id}/users${user ? `/${encodeURIComponent(user.user_name)}` : ''}`;

function ProvisionForm({ account, onProvisioned }: { account: Account; onProvisioned: (u: User) => void }) {
  const [email, setEmail] = useState('');
  const [userName, setUserName] = useState('');
  const [consoleAccess, setConsoleAccess] = useState(false);
  const [credential, setCredential] = useState(true);
  const [policies, setPolicies] = useState('');
  const [groups, setGroups] = useState('');
  // A retry after a lost answer provisions once.
  const idem = useIdempotencyKey([email, userName, consoleAccess, credential, policies, groups]);
  const provision = useAction(async () => {
    const body = {
      email,
      user_name: userName.trim() || null,
      console_access: consoleAccess,
      credential,
      policy_arns: lines(policies),
      groups: lines(groups),
    };
    const r = await idem.settle(call<User>('POST', path(account), body, { idempotencyKey: idem.key }));
    setEmail('');
    setUserName('');
    onProvisioned(r.body);
  });
  return (
    <form class="card" aria-labelledby="provision-title" onSubmit={submitting(provision.run)}>
      <h2 id="provision-title">Provision a user in {account.name}</h2>
      <p>
        The broker creates the IAM user, tagged as its own, with what is asked below. A password is never shown: console
        sessions check one out. A failure rolls back.
      </p>
      <div class="fields">
        <label>
          E-mail of the platform user
          <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required maxLength={254} />
        </label>
        <label>
          IAM user name (empty: derived from the e-mail)
          <input value={userName} onInput={(e) => setUserName(e.currentTarget.value)} maxLength={64} pattern="[A-Za-z0-9+=,.@_\-]{1,64}" />
        </label>
        <label class="check">
          <input type="checkbox" checked={credential} onChange={(e) => setCredential(e.currentTarget.checked)} />
          An access key the broker keeps sealed, for JIT sessions
        </label>
        <label class="check">
          <input type="checkbox" checked={consoleAccess} onChange={(e) => setConsoleAccess(e.currentTarget.checked)} />
          A console login profile, for console sessions
        </label>
        <label class="wide">
          Managed policies (one ARN per line)
          <textarea value={policies} onInput={(e) => setPolicies(e.currentTarget.value)} rows={2} />
        </label>
        <label class="wide">
          IAM groups (existing, one per line)
          <textarea value={groups} onInput={(e) => setGroups(e.currentTarget.value)} rows={2} />
        </label>
      </div>
      <Submit action={provision} label="Provision" progress="Provisioning in IAM" />
    </form>
  );
}

type Act = (doing: string, done: string, run: () => Promise<User>) => void;

function UserRow({ account, user, act, busy }: { account: Account; user: User; act: Act; busy: boolean }) {
  const managed = user.status !== 'imported' && user.status !== 'unprovisioned';
  // One rotation until it is answered: a retry after a lost answer does not make a third key.
  const rotation = useIdempotencyKey([]);
  return (
    <tr>
      <th scope="row">{user.user_name}</th>
      <td>{user.email ?? '—'}</td>
      <td>
        <StatusBadge status={user.status} />
        {user.failure ? <p class="bad">{user.failure}</p> : null}
        {user.status === 'imported' ? <p>Never changed by the broker; cannot start sessions.</p> : null}
      </td>
      <td>{user.console_access ? 'yes' : 'no'}</td>
      <td>{user.credential ? `${user.credential.access_key_id} (${when(user.credential.created_at)})` : '—'}</td>
      <td>
        {[...user.policy_arns, ...user.groups.map((g) => `group ${g}`)].map((p) => (
          <div key={p}>
            <code>{p}</code>
          </div>
        ))}
      </td>
      <td>
        {user.status === 'provisioned' ? (
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              act(`Rotating the key of ${user.user_name}`, `New key for ${user.user_name}; the old one is deleted`, () =>
                rotation
                  .settle(call<User>('POST', `${path(account, user)}/credentials`, undefined, { idempotencyKey: rotation.key }))
                  .then((r) => r.body),
              )
            }
          >
            {user.credential ? 'Rotate key' : 'Create key'}
            <span class="visually-hidden"> of {user.user_name}</span>
          </button>
        ) : null}{' '}
        {managed ? (
          <ConfirmButton
            label={`Deprovision ${user.user_name}`}
            question={`Delete ${user.user_name} from IAM, with its keys, password and policies?`}
            disabled={busy}
            onConfirm={() =>
              act(`Deprovisioning ${user.user_name}`, `Deprovisioned ${user.user_name}`, () => call<User>('DELETE', path(account, user)).then((r) => r.body))
            }
          />
        ) : null}
      </td>
    </tr>
  );
}

function AccountUsers({ account }: { account: Account }) {
  const users = usePaged<User>(path(account), (u) => u.user_name);
  const [notice, setNotice] = useState<string | null>(null);
  const [doing, setDoing] = useState('Working');
  useEffect(() => {
    users.reload.run();
  }, []);
  const put = (u: User) =>
    users.setItems((list) => (list?.some((x) => x.user_name === u.user_name) ? list.map((x) => (x.user_name === u.user_name ? u : x)) : [u, ...(list ?? [])]));
  const action = useAction(async (done: string, run: () => Promise<User>) => {
    setNotice(null);
    const u = await run();
    put(u);
    setNotice(`${done} (${u.status}).`);
  });
  const act: Act = (doing, done, run) => {
    if (action.busy) return;
    setDoing(doing);
    action.run(done, run);
  };
  const importing = useAction(async () => {
    setNotice(null);
    const r = await call<{ imported: User[]; already_known: number }>('POST', `/accounts/${account.id}/user-imports`);
    r.body.imported.forEach(put);
    setNotice(`Imported ${r.body.imported.length} IAM users; ${r.body.already_known} were already known.`);
  });
  return (
    <>
      <section aria-labelledby="users-title">
        <h2 id="users-title">IAM users of {account.name}</h2>
        <ProblemBox error={users.error ?? action.error ?? importing.error} />
        <Notice text={notice} />
        <Busy busy={action.busy} label={doing}>
          {null}
        </Busy>
        <Loaded items={users.items} loading="Loading users…" empty="The broker knows no IAM user in this account yet.">
          {(items) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">IAM user</th>
                  <th scope="col">E-mail</th>
                  <th scope="col">Status</th>
                  <th scope="col">Console</th>
                  <th scope="col">Key the broker keeps</th>
                  <th scope="col">Policies and groups</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((u) => (
                  <UserRow key={u.user_name} account={account} user={u} act={act} busy={action.busy} />
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
        <MoreButton list={users} label="users" />
        <p>
          <Busy busy={importing.busy} label="Listing the account's IAM users">
            <button type="button" onClick={() => importing.run()}>
              Import the account's other IAM users
            </button>
          </Busy>
        </p>
      </section>
      <ProvisionForm
        account={account}
        onProvisioned={(u) => {
          put(u);
          setNotice(`Provisioned ${u.user_name} (${u.status}).`);
        }}
      />
    </>
  );
}

/**
 * The first token with an e-mail binds it to that sign-in (issuer and subject); releasing lets
 * a person whose address moved to another sign-in, or the address's new owner, use it.
 */
function ReleaseIdentity() {
  const [email, setEmail] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const release = useAction(async () => {
    setNotice(null);
    await call('DELETE', `/identities/${encodeURIComponent(email.trim())}`);
    setNotice(`Released ${email.trim()}: the next sign-in with it binds it again.`);
    setEmail('');
  });
  return (
    <form class="card" aria-labelledby="release-title" onSubmit={submitting(release.run)}>
      <h2 id="release-title">Release an e-mail's sign-in binding</h2>
      <p>
        An e-mail belongs to the first sign-in (identity provider and subject) that used it; a token pairing it with
        another is refused (<code>identity-conflict</code>). Release it when a person's sign-in changed, or the address
        passed to someone else. Their groups and sessions stay.
      </p>
      <label>
        E-mail to release
        <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required maxLength={254} />
      </label>{' '}
      <Submit action={release} label="Release" progress="Releasing" kind="danger" />
      <Notice text={notice} />
    </form>
  );
}

export function UsersPage() {
  const accounts = usePaged<Account>('/accounts', (a) => a.id);
  const [selected, setSelected] = useState('');
  useEffect(() => {
    accounts.reload.run();
  }, []);
  const account = accounts.items?.find((a) => a.id === selected) ?? accounts.items?.[0] ?? null;
  return (
    <div>
      <h1>Users</h1>
      <ProblemBox error={accounts.error} />
      <Loaded items={accounts.items} loading="Loading accounts…" empty="Register an account first (Accounts).">
        {(items) => (
          <label>
            Account
            <select value={account?.id} onChange={(e) => setSelected(e.currentTarget.value)}>
              {items.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name} ({a.aws_account_id})
                </option>
              ))}
            </select>
          </label>
        )}
      </Loaded>
      <MoreButton list={accounts} label="accounts" />
      {account ? <AccountUsers key={account.id} account={account} /> : null}
      <ReleaseIdentity />
    </div>
  );
}
