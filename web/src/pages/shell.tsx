// Admins: an account's shell settings (docs/shell-sessions.md): which targets shell sessions may
// reach, the role they assume, run-as and recording; and whether the account's Session Manager
// preferences document still says what they say (its drift, field by field), which a start
// refuses otherwise and which saving puts back.

import { useEffect, useRef, useState } from 'preact/hooks';
import { ProblemError, call, get } from '../api';
import { TrustReport } from '../trust';
import type { Account, ShellSettings } from '../types';
import { Busy, Notice, ProblemBox, Submit, lines, submitting, useAction } from '../ui';

/** `Key=Value` lines to an object, and back. */
const pairs = (text: string) =>
  Object.fromEntries(
    lines(text).map((l) => {
      const at = l.indexOf('=');
      return at < 0 ? [l, ''] : [l.slice(0, at).trim(), l.slice(at + 1).trim()];
    }),
  );
const unpairs = (o: Record<string, string>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');

const show = (v: unknown) => (v === null || v === undefined ? 'absent' : JSON.stringify(v));

function Preferences({ settings, onCheck, checking }: { settings: ShellSettings; onCheck: () => void; checking: boolean }) {
  const p = settings.preferences;
  return (
    <section aria-labelledby="preferences-title" data-testid="preferences">
      <h3 id="preferences-title">
        Session Manager preferences (<code>{p.document}</code> in {p.region})
      </h3>
      {p.error ? (
        <p class="unverified" role="alert">
          <strong>Not read:</strong> {p.error}. Starts wait until it can be read and matches; saving again retries.
        </p>
      ) : p.in_sync ? (
        <p class="verified">
          <strong>In sync:</strong> the document records sessions as these settings say
          {p.status ? ` (${p.status === 'unchanged' ? 'it already did' : `${p.status} by this save`})` : ''}.
        </p>
      ) : (
        <>
          <p class="unverified" role="alert">
            <strong>Drift:</strong> the document no longer says what these settings ask for, so shell sessions are
            refused (<code>shell-preferences-drift</code>) until the settings are saved again, which puts it back.
          </p>
          <table>
            <caption class="visually-hidden">Differences between the settings and the document</caption>
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">The settings ask for</th>
                <th scope="col">The document says</th>
              </tr>
            </thead>
            <tbody>
              {p.drift.map((d) => (
                <tr key={d.field}>
                  <td>
                    <code>{d.field}</code>
                  </td>
                  <td>
                    <code>{show(d.expected)}</code>
                  </td>
                  <td>
                    <code>{show(d.actual)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <Busy busy={checking} label="Reading the document">
        <button type="button" onClick={onCheck}>
          Check the document again
        </button>
      </Busy>
    </section>
  );
}

export function ShellForm({ account }: { account: Account }) {
  const [settings, setSettings] = useState<ShellSettings | null>(null);
  const [found, setFound] = useState<boolean | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [enabled, setEnabled] = useState(true);
  const [role, setRole] = useState('');
  const [tags, setTags] = useState('');
  const [instances, setInstances] = useState('');
  const [defaultUser, setDefaultUser] = useState('');
  const [users, setUsers] = useState('');
  const [maxSeconds, setMaxSeconds] = useState('3600');
  const [idle, setIdle] = useState('20');
  const [bucket, setBucket] = useState('');
  const [prefix, setPrefix] = useState('');
  const [encryption, setEncryption] = useState(false);
  const [kms, setKms] = useState('');
  const [logGroup, setLogGroup] = useState('');
  const [streaming, setStreaming] = useState(false);
  const fill = (s: ShellSettings) => {
    setSettings(s);
    setEnabled(s.enabled);
    setRole(s.role_arn);
    setTags(unpairs(s.targets.tags));
    setInstances(s.targets.instance_ids.join('\n'));
    setDefaultUser(s.run_as.default_user ?? '');
    setUsers(unpairs(s.run_as.users));
    setMaxSeconds(String(s.max_duration_seconds));
    setIdle(String(s.idle_timeout_minutes));
    setBucket(s.recording.s3_bucket);
    setPrefix(s.recording.s3_key_prefix);
    setEncryption(s.recording.s3_encryption);
    setKms(s.recording.kms_key_id ?? '');
    setLogGroup(s.recording.cloudwatch_log_group ?? '');
    setStreaming(s.recording.cloudwatch_streaming);
  };
  const load = useAction(async () => {
    try {
      const s = await get<ShellSettings>(`/accounts/${account.id}/shell`);
      fill(s);
      setFound(true);
    } catch (e) {
      // None yet: the form starts empty.
      if (e instanceof ProblemError && e.problem.status === 404) setFound(false);
      else throw e;
    }
  });
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    load.run().then(() => heading.current?.focus());
  }, []);
  const save = useAction(async () => {
    const runAs = defaultUser.trim() || lines(users).length ? { default_user: defaultUser.trim() || null, users: pairs(users) } : null;
    const body = {
      enabled,
      role_arn: role.trim(),
      targets: { tags: lines(tags).length ? pairs(tags) : null, instance_ids: lines(instances).length ? lines(instances) : null },
      run_as: runAs,
      max_duration_seconds: Number(maxSeconds),
      idle_timeout_minutes: Number(idle),
      recording: {
        s3_bucket: bucket.trim(),
        s3_key_prefix: prefix.trim() || null,
        s3_encryption: encryption,
        kms_key_id: kms.trim() || null,
        cloudwatch_log_group: logGroup.trim() || null,
        cloudwatch_streaming: streaming,
      },
    };
    const r = await call<ShellSettings>('PUT', `/accounts/${account.id}/shell`, body);
    fill(r.body);
    setFound(true);
    const sync = r.body.policy_sync;
    setNotice(
      `Saved.${sync ? ` ${sync.updated} provisioned users' policies updated${sync.failed.length ? `; ${sync.failed.length} could not be` : ''}.` : ''}`,
    );
  });
  const titleId = `shell-title-${account.id}`;
  return (
    <form class="card" aria-labelledby={titleId} onSubmit={submitting(save.run)}>
      <h2 id={titleId} tabIndex={-1} ref={heading}>
        Shell settings of {account.name}
      </h2>
      <ProblemBox error={load.error} />
      {found === null && !load.error ? (
        <p class="progress" role="status">
          Reading the settings and the account's preferences document…
        </p>
      ) : null}
      {found === false ? <p>No shell settings yet: shell sessions are off for this account.</p> : null}
      <div class="fields">
        <label class="check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          Shell sessions enabled
        </label>
        <label class="wide">
          Shell role ARN (in account {account.aws_account_id}; its trust as for JIT roles)
          <input value={role} onInput={(e) => setRole(e.currentTarget.value)} required />
        </label>
        <label>
          Targets by tag (one Key=Value per line; an instance needs them all)
          <textarea value={tags} onInput={(e) => setTags(e.currentTarget.value)} rows={2} placeholder="Environment=staging" />
        </label>
        <label>
          Targets by instance id (one per line)
          <textarea value={instances} onInput={(e) => setInstances(e.currentTarget.value)} rows={2} placeholder="i-0123456789abcdef0" />
        </label>
        <label>
          Run as (OS user; empty: Session Manager's ssm-user)
          <input value={defaultUser} onInput={(e) => setDefaultUser(e.currentTarget.value)} />
        </label>
        <label>
          Run as, per user (one e-mail=OS user per line)
          <textarea value={users} onInput={(e) => setUsers(e.currentTarget.value)} rows={2} />
        </label>
        <label>
          Longest shell session (seconds, 900 to 43 200)
          <input type="number" min={900} max={43200} value={maxSeconds} onInput={(e) => setMaxSeconds(e.currentTarget.value)} required />
        </label>
        <label>
          Idle timeout (minutes, 1 to 60)
          <input type="number" min={1} max={60} value={idle} onInput={(e) => setIdle(e.currentTarget.value)} required />
        </label>
        <fieldset class="wide">
          <legend>Recording</legend>
          <label>
            Transcript bucket (S3, in the account)
            <input value={bucket} onInput={(e) => setBucket(e.currentTarget.value)} required />
          </label>
          <label>
            Key prefix
            <input value={prefix} onInput={(e) => setPrefix(e.currentTarget.value)} />
          </label>
          <label class="check">
            <input type="checkbox" checked={encryption} onChange={(e) => setEncryption(e.currentTarget.checked)} />
            The bucket has default encryption (Session Manager then requires it)
          </label>
          <label>
            KMS key id or ARN (encrypts session data; empty: none)
            <input value={kms} onInput={(e) => setKms(e.currentTarget.value)} />
          </label>
          <label>
            CloudWatch Logs group (empty: none)
            <input value={logGroup} onInput={(e) => setLogGroup(e.currentTarget.value)} />
          </label>
          <label class="check">
            <input type="checkbox" checked={streaming} onChange={(e) => setStreaming(e.currentTarget.checked)} />
            Stream to CloudWatch as the session runs
          </label>
        </fieldset>
      </div>
      <Submit action={save} label="Save shell settings" progress="Saving and bringing the preferences document in line" />
      <Notice text={notice} />
      {settings ? <Preferences settings={settings} onCheck={() => load.run()} checking={load.busy} /> : null}
      {settings ? <TrustReport settings={settings} id={`shell-trust-${account.id}`} /> : null}
    </form>
  );
}
