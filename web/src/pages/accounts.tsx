// Admins: registered accounts, registering one, and each account's JIT settings with the trust
// report the API makes for every allowed role when they are saved; its shell settings are in
// shell.tsx.

import { useEffect, useId, useState } from 'preact/hooks';
import { ProblemError, call, get } from '../api';
import type { Account, IssuedExternalId, JitSettings, Page } from '../types';
import { TrustReport } from '../trust';
import { Busy, CopyButton, Loaded, Notice, ProblemBox, Secret, Submit, submitting, useAction, when } from '../ui';
import { ShellForm } from './shell';

/**
 * The ExternalId the broker issued and the trust the role needs for it (AWS's confused-deputy
 * guidance: the broker, not the admin, picks each registration's ExternalId).
 */
function IssuedTrust({ issued }: { issued: IssuedExternalId }) {
  const policyId = useId();
  const trust = JSON.stringify(issued.trust_policy ?? issued.trust_condition, null, 2);
  return (
    <div class="issued" data-testid="issued-external-id">
      <Secret label="ExternalId" value={issued.external_id} />
      <p id={policyId}>
        {issued.trust_policy
          ? "The trust policy to put on the role (CloudIamBrokerAccess, or the name your deployment's TargetRoleName sets):"
          : "The condition to add to the role's statement trusting the broker's AWS account:"}
      </p>
      <pre tabIndex={0} aria-labelledby={policyId}>
        {trust}
      </pre>
      <CopyButton text={trust} label={issued.trust_policy ? 'trust policy' : 'trust condition'} />
      <p>Register the role with this ExternalId by {when(issued.expires_at)}: it registers one account.</p>
    </div>
  );
}

function RegisterForm({ onRegistered }: { onRegistered: (a: Account) => void }) {
  const [name, setName] = useState('');
  const [region, setRegion] = useState('us-east-1');
  const [type, setType] = useState<'access_key' | 'assume_role'>('assume_role');
  const [keyId, setKeyId] = useState('');
  const [secret, setSecret] = useState('');
  const [roleArn, setRoleArn] = useState('');
  const [issued, setIssued] = useState<IssuedExternalId | null>(null);
  const issue = useAction(async () => {
    const r = await call<IssuedExternalId>('POST', '/accounts/external-ids');
    setIssued(r.body);
  });
  const register = useAction(async () => {
    const externalId = issued?.external_id;
    if (type === 'assume_role' && !externalId) {
      throw new ProblemError({
        type: 'console:no-external-id',
        title: 'No ExternalId yet',
        status: 0,
        detail: 'Issue an ExternalId, put the trust it shows on the role, then register.',
      });
    }
    const credentials =
      type === 'access_key'
        ? { type, access_key_id: keyId, secret_access_key: secret }
        : { type, role_arn: roleArn, external_id: externalId };
    try {
      const r = await call<Account>('POST', '/accounts', { name, default_region: region, credentials });
      setSecret('');
      // Used up by the registration.
      if (type === 'assume_role') setIssued(null);
      onRegistered(r.body);
    } catch (e) {
      // Used or expired: only a new one can register. Any other refusal (the role's trust not
      // changed yet, say) may be mended and retried with the same one.
      if (e instanceof ProblemError && e.problem.type.endsWith('/external-id-not-issued')) setIssued(null);
      throw e;
    }
  });
  return (
    <form class="card" aria-labelledby="register-title" onSubmit={submitting(register.run)}>
      <h2 id="register-title">Register an account</h2>
      <p>The broker checks the credentials with STS before it keeps anything, and seals the secret with KMS.</p>
      <div class="fields">
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={64} />
        </label>
        <label>
          Default region
          <input value={region} onInput={(e) => setRegion(e.currentTarget.value)} required />
        </label>
        <fieldset>
          <legend>Credentials</legend>
          <label class="check">
            <input type="radio" name="cred-type" checked={type === 'assume_role'} onChange={() => setType('assume_role')} />
            A role with an ExternalId the broker issues (no long-lived key is kept)
          </label>
          <label class="check">
            <input type="radio" name="cred-type" checked={type === 'access_key'} onChange={() => setType('access_key')} />
            An IAM user's access key
          </label>
        </fieldset>
        {type === 'access_key' ? (
          <>
            <label>
              Access key id
              <input value={keyId} onInput={(e) => setKeyId(e.currentTarget.value)} required autocomplete="off" />
            </label>
            <label>
              Secret access key
              <input type="password" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} required autocomplete="off" />
            </label>
          </>
        ) : (
          <label>
            Role ARN
            <input value={roleArn} onInput={(e) => setRoleArn(e.currentTarget.value)} required />
          </label>
        )}
      </div>
      {type === 'assume_role' ? (
        <section class="external-id" aria-labelledby="external-id-title">
          <h3 id="external-id-title">ExternalId</h3>
          <p>
            The broker picks the ExternalId the role trusts, so that no one can point it at a role trusting someone
            else's.
          </p>
          <ProblemBox error={issue.error} />
          <Busy busy={issue.busy} label="Issuing an ExternalId">
            <button type="button" onClick={() => issue.run()}>
              {issued ? 'Issue a new ExternalId' : 'Issue ExternalId'}
            </button>
          </Busy>
          <Notice text={issued ? 'ExternalId issued: put the trust below on the role, then register.' : null} />
          {issued ? <IssuedTrust issued={issued} /> : null}
        </section>
      ) : null}
      <Submit action={register} label="Register" progress="Checking the credentials with STS" />
    </form>
  );
}

function JitForm({ account }: { account: Account }) {
  const [settings, setSettings] = useState<JitSettings | null>(null);
  const [saved, setSaved] = useState<JitSettings | null>(null);
  const [roles, setRoles] = useState('');
  // Never configured, the API answers its defaults (inactive, no roles).
  const load = useAction(async () => {
    const s = await get<JitSettings>(`/accounts/${account.id}/jit`);
    setSettings(s);
    setRoles(s.allowed_role_arns.join('\n'));
  });
  // One form per account (keyed by it): loaded once.
  useEffect(() => {
    load.run();
  }, []);
  const save = useAction(async () => {
    if (!settings) return;
    const body = {
      active: settings.active,
      description: settings.description || null,
      jit_enabled: settings.jit_enabled,
      max_duration_seconds: settings.max_duration_seconds,
      allowed_role_arns: roles
        .split('\n')
        .map((r) => r.trim())
        .filter(Boolean),
    };
    const r = await call<JitSettings>('PUT', `/accounts/${account.id}/jit`, body);
    setSettings(r.body);
    setSaved(r.body);
  });
  if (!settings) return <ProblemBox error={load.error} />;
  const set = (patch: Partial<JitSettings>) => setSettings({ ...settings, ...patch });
  return (
    <form class="card" aria-labelledby="jit-title" onSubmit={submitting(save.run)}>
      <h2 id="jit-title">JIT settings of {account.name}</h2>
      <div class="fields">
        <label class="check">
          <input type="checkbox" checked={settings.active} onChange={(e) => set({ active: e.currentTarget.checked })} />
          Access to this account is active
        </label>
        <label class="check">
          <input type="checkbox" checked={settings.jit_enabled} onChange={(e) => set({ jit_enabled: e.currentTarget.checked })} />
          JIT sessions enabled
        </label>
        <label>
          Maximum session (seconds, 900 to 43 200)
          <input
            type="number"
            min={900}
            max={43200}
            step={1}
            value={settings.max_duration_seconds}
            onInput={(e) => set({ max_duration_seconds: Number(e.currentTarget.value) })}
            required
          />
        </label>
        <label class="wide">
          Description
          <input value={settings.description} onInput={(e) => set({ description: e.currentTarget.value })} maxLength={500} />
        </label>
        <label class="wide">
          Allowed roles (one ARN per line, roles of account {account.aws_account_id})
          <textarea value={roles} onInput={(e) => setRoles(e.currentTarget.value)} rows={4} />
        </label>
      </div>
      <Submit action={save} label="Save JIT settings" progress="Saving and reviewing each role's trust" />
      {saved ? (
        <p class="notice" role="status">
          Saved. {saved.policy_sync ? `${saved.policy_sync.updated} provisioned users' policies updated` : ''}
          {saved.policy_sync?.failed.length ? `; ${saved.policy_sync.failed.length} could not be updated` : ''}.
        </p>
      ) : null}
      <TrustReport settings={settings} id={`trust-${account.id}`} />
    </form>
  );
}

export function AccountsPage() {
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [settings, setSettings] = useState<'jit' | 'shell'>('jit');
  const open = (id: string, what: 'jit' | 'shell') => {
    setSelected(id);
    setSettings(what);
  };
  const load = useAction(async () => {
    const page = await get<Page<Account>>('/accounts?limit=100');
    setAccounts(page.items);
  });
  useEffect(() => {
    load.run();
  }, []);
  const account = accounts?.find((a) => a.id === selected) ?? null;
  return (
    <div>
      <h1>Accounts</h1>
      <ProblemBox error={load.error} />
      <Loaded items={accounts} loading="Loading accounts…" empty="No account is registered yet.">
        {(accounts) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">AWS account</th>
                <th scope="col">Region</th>
                <th scope="col">Credentials</th>
                <th scope="col">Registered</th>
                <th scope="col"></th>
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => (
                <tr key={a.id}>
                  <td>{a.name}</td>
                  <td>{a.aws_account_id}</td>
                  <td>{a.default_region}</td>
                  <td>
                    {a.credentials.type === 'access_key' ? `key ${a.credentials.access_key_id}` : `role ${a.credentials.role_arn}`}
                    {a.organization ? <p class="muted">from organization {a.organization.id} ({a.organization.state})</p> : null}
                  </td>
                  <td>{when(a.created_at)}</td>
                  <td>
                    <button type="button" onClick={() => open(a.id, 'jit')} aria-pressed={selected === a.id && settings === 'jit'}>
                      JIT settings of {a.name}
                    </button>
                    <button type="button" onClick={() => open(a.id, 'shell')} aria-pressed={selected === a.id && settings === 'shell'}>
                      Shell settings of {a.name}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
      {account && settings === 'jit' ? <JitForm key={account.id} account={account} /> : null}
      {account && settings === 'shell' ? <ShellForm key={account.id} account={account} /> : null}
      <RegisterForm
        onRegistered={(a) => {
          setAccounts((list) => [...(list ?? []), a]);
          open(a.id, 'jit');
        }}
      />
    </div>
  );
}
