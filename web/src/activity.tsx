// A session's activity: the AWS calls made with its access, as CloudTrail recorded them (or, a
// while after its end, as copied into its log), newest first, a page at a time, with the time
// window and the Region looked in stated, since calls outside either are not listed.

import { useEffect, useState } from 'preact/hooks';
import { get } from './api';
import type { ActivityEvent, Session, SessionActivity } from './types';
import { Busy, ProblemBox, submitting, useAction, when } from './ui';

const PAGE = 50;

function Window({ activity }: { activity: SessionActivity }) {
  return (
    <p data-testid="activity-window">
      {activity.from ? (
        <>
          Calls from <strong>{when(activity.from)}</strong> to <strong>{when(activity.to)}</strong>
        </>
      ) : (
        'No window: the session was never granted'
      )}{' '}
      in {activity.region}, whose user name is <code>{activity.lookup.value}</code>, read from{' '}
      {activity.source === 'session-log' ? "the session's log" : "the account's CloudTrail event history"}.
      {activity.source === 'session-log' && activity.verified !== null
        ? activity.verified
          ? ' The log verifies.'
          : ' The log does NOT verify: these calls may have been altered.'
        : ''}
    </p>
  );
}

function Calls({ events }: { events: ActivityEvent[] }) {
  return (
    <table>
      <caption class="visually-hidden">AWS calls made with the session</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Call</th>
          <th scope="col">Outcome</th>
          <th scope="col">Resources</th>
          <th scope="col">By</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.event_id}>
            <td>{when(e.event_time)}</td>
            <td>
              <code>
                {e.event_source.replace(/\.amazonaws\.com$/, '')}:{e.event_name}
              </code>
              {e.read_only ? <span class="muted"> (read)</span> : null}
              {e.aws_region ? <span class="muted"> in {e.aws_region}</span> : null}
            </td>
            <td>{e.error_code ? <span class="bad">refused: {e.error_code}</span> : 'done'}</td>
            <td>
              {e.resources
                .map((r) => [r.type, r.name].filter(Boolean).join(' '))
                .filter(Boolean)
                .join(', ') || '—'}
            </td>
            <td>
              {e.principal_arn ? <code>{e.principal_arn}</code> : (e.username ?? '')}
              {e.access_key_id ? <span class="muted"> key {e.access_key_id}</span> : null}
              {e.source_ip_address ? <span class="muted"> from {e.source_ip_address}</span> : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Activity({ session }: { session: Session }) {
  const [activity, setActivity] = useState<SessionActivity | null>(null);
  const [events, setEvents] = useState<ActivityEvent[]>([]);
  const [region, setRegion] = useState('');
  const read = (cursor: string | null) => {
    const q = new URLSearchParams({ limit: String(PAGE), ...(region.trim() ? { region: region.trim() } : {}), ...(cursor ? { cursor } : {}) });
    return get<SessionActivity>(`/sessions/${session.id}/activity?${q}`);
  };
  const load = useAction(async () => {
    const a = await read(null);
    setActivity(a);
    setEvents(a.events);
  });
  const more = useAction(async () => {
    if (!activity?.next_cursor) return;
    const a = await read(activity.next_cursor);
    setActivity(a);
    setEvents((list) => [...list, ...a.events.filter((e) => !list.some((x) => x.event_id === e.event_id))]);
  });
  useEffect(() => {
    load.run();
  }, [session.id]);
  return (
    <section aria-labelledby="activity-title">
      <h2 id="activity-title">Activity</h2>
      <form class="filters" aria-label="Activity Region" onSubmit={submitting(() => load.run())}>
        <label>
          Region (empty: the account's default; IAM and other global services log in us-east-1)
          <input value={region} onInput={(e) => setRegion(e.currentTarget.value)} placeholder="us-east-1" pattern="^[a-z]{2}(-[a-z]+){1,3}-[0-9]{1,2}$" />
        </label>
        <Busy busy={load.busy} label="Looking up the session's calls">
          <button type="submit">Look up</button>
        </Busy>
      </form>
      <ProblemBox error={load.error ?? more.error} />
      {activity ? (
        <>
          <Window activity={activity} />
          {events.length ? <Calls events={events} /> : <p>No call was made with this session's access in that window.</p>}
          {activity.partial ? <p class="note">CloudTrail slowed the lookup down before the page was full: there may be more.</p> : null}
          {activity.next_cursor ? (
            <Busy busy={more.busy} label="Loading older calls">
              <button type="button" onClick={() => more.run()}>
                Show older calls
              </button>
            </Busy>
          ) : null}
          {activity.snapshot ? (
            <p class="muted">
              Copied into the session's log {when(activity.snapshot.at)}: {activity.snapshot.events} calls
              {activity.snapshot.truncated ? ' (a Region had more; the newest were kept)' : ''}
              {activity.snapshot.error ? `; not copied: ${activity.snapshot.error}` : ''}.
            </p>
          ) : null}
          <p class="muted">{activity.note}</p>
        </>
      ) : null}
    </section>
  );
}
