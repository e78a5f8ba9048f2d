// The console's frame: who is signed in, what they may open (by their role), and the page the
// address names (`#/…`, so that static hosting needs no rewrite rules).

import { useEffect, useState } from 'preact/hooks';
import { get } from './api';
import { signOut } from './auth';
import { forgetAll } from './grants';
import type { Me } from './types';
import { ProblemBox } from './ui';
import { AccessPage } from './pages/access';
import { ApprovalsPage } from './pages/approvals';
import { AccountsPage } from './pages/accounts';
import { SessionsPage } from './pages/audit';
import { EvidencePage } from './pages/evidence';
import { GroupsPage } from './pages/groups';
import { OrganizationsPage } from './pages/organizations';
import { SessionPage } from './pages/session';
import { SlackPage } from './pages/slack';
import { UsersPage } from './pages/users';

interface Tab {
  path: string;
  label: string;
}

/** Whom the API shows every session (the API's `Role::reads_every_session`). */
const readsEverySession = (me: Me) => me.role === 'admin' || me.role === 'auditor';

function tabsFor(me: Me): Tab[] {
  const tabs: Tab[] = [];
  if (me.role !== 'auditor') tabs.push({ path: '#/access', label: 'My access' }, { path: '#/approvals', label: 'Approvals' });
  if (readsEverySession(me)) tabs.push({ path: '#/sessions', label: 'Sessions' });
  if (me.role === 'admin') {
    tabs.push(
      { path: '#/accounts', label: 'Accounts' },
      { path: '#/organizations', label: 'Organizations' },
      { path: '#/users', label: 'Users' },
      { path: '#/groups', label: 'Groups' },
    );
  }
  // The evidence check reads and changes nothing: the API's verifyEvidence is an auditor's too.
  if (readsEverySession(me)) tabs.push({ path: '#/evidence', label: 'Evidence' });
  if (me.role === 'admin') tabs.push({ path: '#/slack', label: 'Slack' });
  return tabs;
}

/** The tab the address names (a session's page is under Sessions, or one's own under My access), or the first. */
function currentTab(tabs: Tab[], hash: string): string | undefined {
  if (tabs.some((t) => t.path === hash)) return hash;
  if (hash.startsWith('#/sessions/')) return tabs.some((t) => t.path === '#/sessions') ? '#/sessions' : '#/access';
  return tabs[0]?.path;
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => {
      setHash(location.hash);
      // A new page: focus goes to it, as a page load would put it there.
      document.getElementById('main')?.focus();
    };
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function Page({ me, hash }: { me: Me; hash: string }) {
  const session = /^#\/sessions\/([0-9A-Za-z]+)$/.exec(hash);
  if (session) return <SessionPage key={session[1]} id={session[1]} email={me.email} readsAll={readsEverySession(me)} />;
  switch (currentTab(tabsFor(me), hash)) {
    case '#/access':
      return <AccessPage me={me} />;
    case '#/approvals':
      return <ApprovalsPage readsTimelines={readsEverySession(me)} />;
    case '#/sessions':
      return <SessionsPage />;
    case '#/accounts':
      return <AccountsPage />;
    case '#/organizations':
      return <OrganizationsPage />;
    case '#/evidence':
      return <EvidencePage />;
    case '#/users':
      return <UsersPage />;
    case '#/groups':
      return <GroupsPage />;
    case '#/slack':
      return <SlackPage />;
    default:
      return <p>There is nothing for this role here.</p>;
  }
}

export function App({ developmentSignIn, onSignedOut }: { developmentSignIn: boolean; onSignedOut: () => void }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  const hash = useHash();
  useEffect(() => {
    get<Me>('/me').then(setMe, setError);
  }, []);
  const tabs = me ? tabsFor(me) : [];
  const current = currentTab(tabs, hash);
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          // The address is the router's: move focus without changing it.
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to the page
      </a>
      <header>
        <span class="brand">Cloud IAM Broker</span>
        {developmentSignIn ? <span class="dev">development sign-in</span> : null}
        <nav aria-label="Pages">
          {tabs.map((t) => (
            <a key={t.path} href={t.path} aria-current={current === t.path ? 'page' : undefined}>
              {t.label}
            </a>
          ))}
        </nav>
        {me ? (
          <span class="who">
            {me.email} <span class="badge">{me.role}</span>
          </span>
        ) : null}
        <button
          type="button"
          onClick={() => {
            signOut();
            forgetAll();
            onSignedOut();
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <ProblemBox error={error} />
        {me ? <Page me={me} hash={hash} /> : error ? null : <p class="progress" role="status">Loading who you are…</p>}
      </main>
    </>
  );
}
