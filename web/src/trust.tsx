// The trust report the API makes when JIT or shell settings are saved: for each brokered role,
// the ways into it that bypass the broker (sessions no revocation reaches).

import type { TrustFinding } from './types';

interface Reviewed {
  trust_review?: TrustFinding[];
  role_trust_policy?: unknown;
}

export function TrustReport({ settings, id }: { settings: Reviewed; id: string }) {
  if (!settings.trust_review?.length && !settings.role_trust_policy) return null;
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>Trust report</h3>
      {settings.role_trust_policy ? (
        <details class="role-trust">
          <summary>The trust policy each brokered role needs (the same for every user; apply it once)</summary>
          <pre tabIndex={0}>{JSON.stringify(settings.role_trust_policy, null, 2)}</pre>
        </details>
      ) : null}
      <p>Ways into each role that bypass the broker: sessions through them are not revoked by it.</p>
      <ul class="trust">
        {(settings.trust_review ?? []).map((r) => (
          <li key={r.role_arn} data-role={r.role_arn}>
            <code>{r.role_arn}</code>:{' '}
            {r.error ? (
              <span class="bad">not reviewed: {r.error}</span>
            ) : r.findings.length === 0 ? (
              <span class="good">only the broker's users may assume it</span>
            ) : (
              <ul>
                {r.findings.map((f) => (
                  <li key={f.principal} class="bad">
                    <code>{f.principal}</code>: {f.why}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
