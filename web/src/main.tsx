// Starts the console: reads config.json, finishes a sign-in coming back from the identity
// provider, and shows either the sign-in screen or the app.

import { render } from 'preact';
import { useState } from 'preact/hooks';
import './styles.css';
import { configureApi } from './api';
import { beginSignIn, bearer, completeSignIn } from './auth';
import { type ConsoleConfig, loadConfig } from './config';
import { App } from './app';
import { ProblemBox } from './ui';

function SignIn({ config, error }: { config: ConsoleConfig; error: unknown }) {
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="sign-in">
      <h1>Cloud IAM Broker</h1>
      <p>Just-in-time access to AWS, approved, time-bounded and logged.</p>
      <ProblemBox error={error} />
      {config.development_sign_in ? (
        <p class="dev-note">
          This console runs under <code>scripts/dev</code>: its sign-in is a local development stand-in where anyone can
          pick any e-mail and role. A deployment signs in with your identity provider.
        </p>
      ) : null}
      <button
        type="button"
        class="primary"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          beginSignIn(config).catch(() => setBusy(false));
        }}
      >
        {busy ? 'Going to the sign-in…' : config.development_sign_in ? 'Sign in (development)' : 'Sign in'}
      </button>
    </main>
  );
}

function Root({ config, initialError }: { config: ConsoleConfig; initialError: unknown }) {
  const [signedIn, setSignedIn] = useState(bearer() !== null);
  configureApi(config.api_base, () => setSignedIn(false));
  return signedIn ? (
    <App developmentSignIn={!!config.development_sign_in} onSignedOut={() => setSignedIn(false)} />
  ) : (
    <SignIn config={config} error={initialError} />
  );
}

async function boot() {
  const root = document.getElementById('app')!;
  let config: ConsoleConfig;
  try {
    config = await loadConfig();
  } catch (e) {
    render(<ProblemBox error={e} />, root);
    return;
  }
  let error: unknown = null;
  try {
    await completeSignIn(config);
  } catch (e) {
    error = e;
  }
  root.textContent = '';
  render(<Root config={config} initialError={error} />, root);
}

boot();
