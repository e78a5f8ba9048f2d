// Admins: which Slack member is which platform user. The Slack `/jit` command acts for a member
// only through this link, once the user it names has confirmed it, for that user under their
// groups (docs/identity.md).

import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import type { SlackLink } from '../types';
import { Loaded, MoreButton, Notice, ProblemBox, Submit, submitting, useAction, usePaged } from '../ui';

export function SlackPage() {
  const links = usePaged<SlackLink>('/chatops/slack/users', (l) => l.slack_user_id);
  const [member, setMember] = useState('');
  const [email, setEmail] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => {
    links.reload.run();
  }, []);
  const link = useAction(async () => {
    const r = await call<SlackLink>('PUT', `/chatops/slack/users/${encodeURIComponent(member)}`, { email });
    // A member has one link: a new one replaces theirs.
    links.setItems((list) => [r.body, ...(list ?? []).filter((l) => l.slack_user_id !== r.body.slack_user_id)]);
    setNotice(
      r.body.status === 'confirmed'
        ? `${r.body.slack_user_id} acts as ${r.body.email} (already confirmed).`
        : `${r.body.slack_user_id} is linked to ${r.body.email}, pending: it acts once ${r.body.email} confirms it.`,
    );
    setMember('');
    setEmail('');
  });
  const unlink = useAction(async (l: SlackLink) => {
    await call('DELETE', `/chatops/slack/users/${encodeURIComponent(l.slack_user_id)}`);
    links.setItems((list) => (list ?? []).filter((x) => x.slack_user_id !== l.slack_user_id));
    setNotice(`${l.slack_user_id} is no longer linked.`);
  });
  return (
    <div>
      <h1>Slack links</h1>
      <p>
        A Slack member can use <code>/jit</code> only once linked here to a platform user and the link confirmed by that
        user (signed in, or with <code>/jit confirm</code> when their Slack e-mail is theirs): the command then acts for
        that user, under their groups, and its replies carry a console link, never a key.
      </p>
      <ProblemBox error={links.error ?? unlink.error} />
      <Notice text={notice} />
      <Loaded items={links.items} loading="Loading links…" empty="No Slack member is linked.">
        {(items) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Slack member</th>
                <th scope="col">Platform user</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((l) => (
                <tr key={l.slack_user_id}>
                  <th scope="row">
                    <code>{l.slack_user_id}</code>
                  </th>
                  <td>{l.email}</td>
                  <td>
                    {l.status === 'confirmed'
                      ? `confirmed${l.confirmed_by ? ` by ${l.confirmed_by}` : ''}`
                      : `pending: awaits ${l.email}`}
                    {l.linked_by ? ` (linked by ${l.linked_by})` : ''}
                  </td>
                  <td>
                    <button type="button" onClick={() => unlink.run(l)} disabled={unlink.busy}>
                      Unlink<span class="visually-hidden"> {l.slack_user_id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
      <MoreButton list={links} label="links" />
      <form class="card" aria-labelledby="link-title" onSubmit={submitting(link.run)}>
        <h2 id="link-title">Link a Slack member</h2>
        <div class="fields">
          <label>
            Slack member id (in their Slack profile: ⋮ → Copy member ID)
            <input value={member} onInput={(e) => setMember(e.currentTarget.value.trim())} required pattern="[UW][A-Z0-9]{2,23}" placeholder="U012AB3CD" />
          </label>
          <label>
            E-mail of the platform user
            <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required maxLength={254} />
          </label>
        </div>
        <Submit action={link} label="Link" progress="Linking" />
      </form>
    </div>
  );
}

// Anyone signed in: confirm the Slack link an admin made for you, so that the member acts as you
// (the API takes it from the person the link names only).
export function ConfirmSlackLink() {
  const [member, setMember] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const confirm = useAction(async () => {
    const r = await call<SlackLink>('POST', `/chatops/slack/users/${encodeURIComponent(member)}/confirmation`);
    setNotice(`${r.body.slack_user_id} now acts as you (${r.body.email}) in Slack.`);
    setMember('');
  });
  return (
    <form class="card" aria-labelledby="confirm-slack-title" onSubmit={submitting(confirm.run)}>
      <h2 id="confirm-slack-title">Confirm my Slack link</h2>
      <p>
        An admin's link of a Slack member to you acts only once you confirm it here (or with <code>/jit confirm</code> in
        Slack, when your Slack e-mail is this one). Confirm only your own Slack member id.
      </p>
      <Notice text={notice} />
      <div class="fields">
        <label>
          Your Slack member id (in your Slack profile: ⋮ → Copy member ID)
          <input value={member} onInput={(e) => setMember(e.currentTarget.value.trim())} required pattern="[UW][A-Z0-9]{2,23}" placeholder="U012AB3CD" />
        </label>
      </div>
      <Submit action={confirm} label="Confirm" progress="Confirming" />
    </form>
  );
}
