// Admins: AWS organizations registered through their read-only role (docs/organizations.md):
// registering one, its OUs and the member accounts discovery found, enabling an account, a sync
// now with what it changed, its IAM Identity Center set-up (docs/identity-center.md), and
// removing its registration.

import { useEffect, useRef, useState } from 'preact/hooks';
import { call, get } from '../api';
import type { IdentityCenter, IssuedExternalId, Organization, OrganizationAccount, OrganizationSummary, SyncReport } from '../types';
import { Busy, ConfirmButton, Loaded, Notice, ProblemBox, Secret, Submit, submitting, useAction, when } from '../ui';

function RegisterForm({ onRegistered }: { onRegistered: (o: Organization) => void }) {
  const [name, setName] = useState('');
  const [region, setRegion] = useState('us-east-1');
  const [roleArn, setRoleArn] = useState('');
  const [externalId, setExternalId] = useState('');
  const [issued, setIssued] = useState<IssuedExternalId | null>(null);
  const [enableNew, setEnableNew] = useState(false);
  const issue = useAction(async () => {
    const r = await call<IssuedExternalId>('POST', '/accounts/external-ids');
    setIssued(r.body);
    setExternalId(r.body.external_id);
  });
  const register = useAction(async () => {
    const r = await call<Organization>('POST', '/organizations', {
      name,
      default_region: region,
      role_arn: roleArn.trim(),
      external_id: externalId.trim(),
      enable_new_accounts: enableNew,
    });
    // Used up by the registration.
    setExternalId('');
    setIssued(null);
    onRegistered(r.body);
  });
  return (
    <form class="card" aria-labelledby="org-register-title" onSubmit={submitting(register.run)}>
      <h2 id="org-register-title">Register an organization</h2>
      <p>
        Through its read-only role in the management account (or a delegated administrator), trusting the broker with an
        ExternalId it issued; the member accounts' role (deployed by the StackSet) trusts the same one. The broker reads
        the organization before it keeps anything.
      </p>
      <div class="fields">
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={64} />
        </label>
        <label>
          Default region of its accounts
          <input value={region} onInput={(e) => setRegion(e.currentTarget.value)} required />
        </label>
        <label class="wide">
          Organization role ARN
          <input value={roleArn} onInput={(e) => setRoleArn(e.currentTarget.value)} required placeholder="arn:aws:iam::111122223333:role/CloudIamBrokerOrganizationReader" />
        </label>
        <label class="wide">
          ExternalId (issued by the broker, within 7 days, used once)
          <input value={externalId} onInput={(e) => setExternalId(e.currentTarget.value)} required autocomplete="off" />
        </label>
        <label class="check">
          <input type="checkbox" checked={enableNew} onChange={(e) => setEnableNew(e.currentTarget.checked)} />
          Each sync enables the active accounts it finds
        </label>
      </div>
      <ProblemBox error={issue.error} />
      <Busy busy={issue.busy} label="Issuing an ExternalId">
        <button type="button" onClick={() => issue.run()}>
          Issue an ExternalId
        </button>
      </Busy>
      {issued ? (
        <div class="issued">
          <Notice text="ExternalId issued and filled in: put this trust on the organization role and the member role, then register." />
          <Secret label="Trust policy" value={JSON.stringify(issued.trust_policy ?? issued.trust_condition, null, 2)} />
        </div>
      ) : null}
      <Submit action={register} label="Register organization" progress="Reading the organization through its role" />
    </form>
  );
}

function IdentityCenterForm({ org, onSaved }: { org: Organization; onSaved: (o: Organization) => void }) {
  const ic = org.identity_center;
  const [region, setRegion] = useState(ic?.region ?? org.default_region);
  const [adminAccount, setAdminAccount] = useState(ic && ic.admin_account_id !== org.management_account_id ? ic.admin_account_id : '');
  const [instance, setInstance] = useState('');
  const [attribute, setAttribute] = useState<IdentityCenter['user_attribute']>(ic?.user_attribute ?? 'emails.value');
  const [startUrl, setStartUrl] = useState('');
  const save = useAction(async () => {
    const r = await call<Organization>('PUT', `/organizations/${org.id}/identity-center`, {
      region,
      admin_account_id: adminAccount.trim() || null,
      instance_arn: instance.trim() || null,
      user_attribute: attribute,
      start_url: startUrl.trim() || null,
    });
    onSaved(r.body);
  });
  return (
    <form class="card" aria-labelledby="ic-title" onSubmit={submitting(save.run)}>
      <h3 id="ic-title">IAM Identity Center</h3>
      {ic ? (
        <dl data-testid="identity-center">
          <dt>Instance</dt>
          <dd>
            <code>{ic.instance_arn}</code> (identity store {ic.identity_store_id})
          </dd>
          <dt>Region</dt>
          <dd>{ic.region}</dd>
          <dt>Administered from</dt>
          <dd>{ic.admin_account_id}</dd>
          <dt>Users found by</dt>
          <dd>{ic.user_attribute}</dd>
          <dt>Access portal</dt>
          <dd>{ic.start_url}</dd>
        </dl>
      ) : (
        <p>Not set up: groups cannot grant its permission sets yet.</p>
      )}
      <div class="fields">
        <label>
          Region of the instance
          <input value={region} onInput={(e) => setRegion(e.currentTarget.value)} required />
        </label>
        <label>
          Administering account (empty: the management account)
          <input value={adminAccount} onInput={(e) => setAdminAccount(e.currentTarget.value)} pattern="^[0-9]{12}$" />
        </label>
        <label>
          Instance ARN (empty: its only one)
          <input value={instance} onInput={(e) => setInstance(e.currentTarget.value)} />
        </label>
        <div class="field">
          <label for={`ic-attribute-${org.id}`}>Identity-store attribute holding the e-mail</label>
          <select id={`ic-attribute-${org.id}`} value={attribute} onChange={(e) => setAttribute(e.currentTarget.value as IdentityCenter['user_attribute'])}>
            <option value="emails.value">emails.value</option>
            <option value="userName">userName</option>
          </select>
        </div>
        <label class="wide">
          Access portal URL (empty: https://&lt;identity store&gt;.awsapps.com/start)
          <input value={startUrl} onInput={(e) => setStartUrl(e.currentTarget.value)} />
        </label>
      </div>
      <Submit action={save} label={ic ? 'Set up Identity Center again' : 'Set up Identity Center'} progress="Finding the instance through the broker's role" />
    </form>
  );
}

function Units({ org, onEnable, enabling }: { org: Organization; onEnable: (a: OrganizationAccount) => void; enabling: boolean }) {
  const below = (parent: string) => (
    <>
      {org.accounts
        .filter((a) => a.parent_id === parent)
        .map((a) => (
          <li key={a.aws_account_id} data-account={a.aws_account_id}>
            {a.name} <code>{a.aws_account_id}</code> <span class={`badge badge-${a.state}`}>{a.state.replace('_', ' ')}</span>{' '}
            {a.account_id ? (
              <span class="good">enabled</span>
            ) : a.state === 'active' ? (
              <button type="button" onClick={() => onEnable(a)} disabled={enabling}>
                Enable {a.name}
              </button>
            ) : (
              <span class="muted">not enabled</span>
            )}
          </li>
        ))}
      {org.units
        .filter((u) => u.parent_id === parent)
        .map((u) => (
          <li key={u.id} data-unit={u.id}>
            <strong>{u.name}</strong> <code>{u.id}</code>
            <ul>{below(u.id)}</ul>
          </li>
        ))}
    </>
  );
  return (
    <section aria-labelledby="units-title">
      <h3 id="units-title">OUs and accounts</h3>
      <ul class="tree" data-testid="organization-tree">
        <li>
          Root <code>{org.root_id}</code>
          <ul>{below(org.root_id)}</ul>
        </li>
      </ul>
    </section>
  );
}

function SyncSummary({ report }: { report: SyncReport }) {
  const list = (ids: string[]) => (ids.length ? ids.join(', ') : 'none');
  return (
    <p class="notice" role="status">
      Synced {when(report.synced_at)}: {report.accounts} accounts in {report.units} OUs; new {list(report.discovered)}; no
      longer active {list(report.closed)}; moved {list(report.moved)}; enabled {list(report.enabled)}; {report.groups_updated}{' '}
      groups updated; {report.sessions_ended.length} sessions ended.
    </p>
  );
}

function OrganizationView({ id, onDeleted }: { id: string; onDeleted: () => void }) {
  const [org, setOrg] = useState<Organization | null>(null);
  const [report, setReport] = useState<SyncReport | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const load = useAction(async () => setOrg(await get<Organization>(`/organizations/${id}`)));
  useEffect(() => {
    load.run().then(() => heading.current?.focus());
  }, [id]);
  const act = useAction(async (what: 'sync' | 'delete' | OrganizationAccount) => {
    if (what === 'sync') {
      setReport((await call<SyncReport>('POST', `/organizations/${id}/sync`)).body);
      await load.run();
    } else if (what === 'delete') {
      await call('DELETE', `/organizations/${id}`);
      onDeleted();
    } else {
      await call('POST', `/organizations/${id}/accounts/${what.aws_account_id}/enable`);
      setNotice(`Enabled ${what.name}: it is a registered account now (Accounts).`);
      await load.run();
    }
  });
  if (!org) return <ProblemBox error={load.error} />;
  return (
    <section class="card" aria-labelledby="org-title">
      <h2 id="org-title" tabIndex={-1} ref={heading}>
        {org.name} <code>{org.id}</code>
      </h2>
      <dl>
        <dt>Management account</dt>
        <dd>{org.management_account_id}</dd>
        <dt>Read through</dt>
        <dd>
          <code>{org.role_arn}</code>
        </dd>
        <dt>Member role</dt>
        <dd>{org.member_role_name}</dd>
        <dt>Default region</dt>
        <dd>{org.default_region}</dd>
        <dt>New accounts</dt>
        <dd>{org.enable_new_accounts ? 'enabled by each sync' : 'enabled one by one'}</dd>
        <dt>Last read</dt>
        <dd>{when(org.synced_at)}</dd>
      </dl>
      <ProblemBox error={act.error ?? load.error} />
      <Notice text={notice} />
      {report ? <SyncSummary report={report} /> : null}
      <Busy busy={act.busy} label="Working">
        <button type="button" onClick={() => act.run('sync')}>
          Sync now
        </button>
      </Busy>
      <Units org={org} onEnable={(a) => act.run(a)} enabling={act.busy} />
      <IdentityCenterForm org={org} onSaved={setOrg} />
      <p>
        <ConfirmButton
          label={`Remove ${org.name}`}
          question={`Remove the registration of ${org.name}? Its enabled accounts stay registered; groups naming its OUs must be changed first.`}
          onConfirm={() => act.run('delete')}
        />
      </p>
    </section>
  );
}

export function OrganizationsPage() {
  const [orgs, setOrgs] = useState<OrganizationSummary[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = useAction(async () => setOrgs((await get<{ items: OrganizationSummary[] }>('/organizations')).items));
  useEffect(() => {
    load.run();
  }, []);
  return (
    <div>
      <h1>Organizations</h1>
      <ProblemBox error={load.error} />
      <Notice text={notice} />
      <Loaded items={orgs} loading="Loading organizations…" empty="No organization is registered.">
        {(items) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Organization</th>
                <th scope="col">Management account</th>
                <th scope="col">Last read</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((o) => (
                <tr key={o.id}>
                  <td>
                    {o.name} <code>{o.id}</code>
                  </td>
                  <td>{o.management_account_id}</td>
                  <td>{when(o.synced_at)}</td>
                  <td>
                    <button type="button" onClick={() => setSelected(o.id)} aria-pressed={selected === o.id}>
                      Open {o.name}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
      {selected ? (
        <OrganizationView
          key={selected}
          id={selected}
          onDeleted={() => {
            setSelected(null);
            setNotice('The registration was removed.');
            load.run();
          }}
        />
      ) : null}
      <RegisterForm
        onRegistered={(o) => {
          setOrgs((list) => [...(list ?? []), o]);
          setSelected(o.id);
        }}
      />
    </div>
  );
}
