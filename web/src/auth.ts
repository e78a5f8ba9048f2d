// Sign-in: OIDC authorization code with PKCE (RFC 7636, S256). The token lives in this module's
// memory only, never in localStorage or sessionStorage: a reload signs in again (the identity
// provider's own session makes that quick). Only the PKCE verifier and state cross the
// redirect, in sessionStorage, and are removed as soon as the answer comes back.

import type { ConsoleConfig } from './config';

const PENDING = 'cib.pending-sign-in';

let current: { token: string; expiresAt: number } | null = null;

function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function redirectUri(): string {
  return `${location.origin}/`;
}

/** Sends the browser to the identity provider; comes back to `completeSignIn`. */
export async function beginSignIn(config: ConsoleConfig): Promise<void> {
  const verifier = randomString(48);
  const state = randomString(24);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const url = new URL(config.oidc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.oidc.client_id,
    redirect_uri: redirectUri(),
    scope: config.oidc.scope,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

export class SignInError extends Error {}

/**
 * Finishes a sign-in when the page is the identity provider's answer (`?code=…&state=…`).
 * Returns false when it is not.
 */
export async function completeSignIn(config: ConsoleConfig): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return false;
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const pending = raw ? (JSON.parse(raw) as { verifier: string; state: string; hash: string }) : null;
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', `/${pending?.hash ?? ''}`);
  // The state first: an answer this page did not ask for is not shown, whatever it says.
  if (!pending || params.get('state') !== pending.state) {
    throw new SignInError('This sign-in answer was not asked for by this page; sign in again.');
  }
  if (params.has('error')) {
    throw new SignInError(`The identity provider refused: ${params.get('error_description') ?? params.get('error')}`);
  }
  const response = await fetch(config.oidc.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: redirectUri(),
      client_id: config.oidc.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  const token = body[config.oidc.api_token];
  if (!response.ok || typeof token !== 'string') {
    throw new SignInError(`The identity provider gave no token: ${String(body.error_description ?? body.error ?? response.status)}`);
  }
  current = { token, expiresAt: expiry(token, body.expires_in) };
  return true;
}

/** When `token` stops working: its own `exp` (an ID token's differs from `expires_in`, which is the access token's). */
function expiry(token: string, expiresIn: unknown): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
    if (typeof payload.exp === 'number') return payload.exp * 1000;
  } catch {
    // Not a JWT the console can read: the token answer's lifetime below.
  }
  return Date.now() + (typeof expiresIn === 'number' ? expiresIn : 3600) * 1000;
}

export function bearer(): string | null {
  if (current && current.expiresAt <= Date.now()) current = null;
  return current?.token ?? null;
}

export function signOut(): void {
  current = null;
}
