// Sign-in: OIDC authorization code with PKCE (RFC 7636, S256), kept for the working day by
// refresh tokens. The token and the refresh token live in this module's memory only, never in
// localStorage or sessionStorage (which any script on the origin could read): a reload signs in
// again (the identity provider's own session makes that quick). Only the PKCE verifier and state
// cross the redirect, in sessionStorage, and are removed as soon as the answer comes back.

import type { ConsoleConfig } from './config';

const PENDING = 'cib.pending-sign-in';

interface Current {
  token: string;
  /** When the token stops working (ms since the epoch). */
  expiresAt: number;
  /** When to ask for the next one: a while before `expiresAt`. */
  refreshAt: number;
  /** Null when the identity provider gave none: the sign-in then ends with the token. */
  refreshToken: string | null;
}

let current: Current | null = null;
let oidc: ConsoleConfig['oidc'] | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
/** The refresh under way: one at a time, since each refresh token may be used once. */
let refreshing: Promise<boolean> | null = null;

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
  oidc = config.oidc;
  if (!response.ok || !accept(body, null)) {
    throw new SignInError(`The identity provider gave no token: ${String(body.error_description ?? body.error ?? response.status)}`);
  }
  return true;
}

/**
 * Takes a token answer (the code's or a refresh's): true when it carries the API's token. A
 * refresh answer without a new refresh token leaves the old one in use (RFC 6749 §6).
 */
function accept(body: Record<string, unknown>, previousRefresh: string | null): boolean {
  const token = oidc ? body[oidc.api_token] : undefined;
  if (typeof token !== 'string') return false;
  const expiresAt = expiry(token, body.expires_in);
  const issuedAt = Date.now();
  const lifetime = Math.max(0, expiresAt - issuedAt);
  // At 80% of the lifetime or 30 s before the end, whichever is sooner, but never in the first
  // half (a very short token would otherwise be refreshed at once, over and over).
  const lead = Math.max(lifetime * 0.2, Math.min(30_000, lifetime * 0.5));
  const refreshToken = typeof body.refresh_token === 'string' ? body.refresh_token : previousRefresh;
  current = { token, expiresAt, refreshAt: expiresAt - lead, refreshToken };
  schedule();
  return true;
}

function schedule() {
  clearTimeout(timer);
  if (!current?.refreshToken) return;
  // Timers of a hidden tab may fire late: `freshBearer` also refreshes when one is due.
  timer = setTimeout(() => void refresh(), Math.max(0, current.refreshAt - Date.now()));
}

/**
 * Trades the refresh token for a new token (and a new refresh token: each is used once). True
 * when a new token is held; false when the sign-in cannot be kept (no refresh token, or the
 * identity provider refused it), after which the current token serves until it expires.
 */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const held = current;
    if (!held?.refreshToken || !oidc) return false;
    let response: Response;
    try {
      response = await fetch(oidc.token_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: held.refreshToken, client_id: oidc.client_id }),
        cache: 'no-store',
      });
    } catch {
      // No answer: most likely the identity provider was not reached, so try again soon. Had it
      // rotated the token before the answer was lost, the retry is a replay and the provider
      // ends the sign-in (RFC 9700 §4.14.2): the user then signs in again, nothing worse.
      if (current === held) retryLater(held);
      return false;
    }
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    // Signed out (or in as someone else) meanwhile: this answer is not for the sign-in now held.
    if (current !== held) return current !== null;
    if (response.ok && accept(body, held.refreshToken)) return true;
    // Refused (used, revoked, or the sign-in's day is over): the token serves until it expires.
    held.refreshToken = null;
    return false;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function retryLater(held: Current) {
  const left = held.expiresAt - Date.now();
  if (left <= 0) return;
  clearTimeout(timer);
  timer = setTimeout(() => void refresh(), Math.min(10_000, left / 2));
}

/** The token to call the API with, refreshed first when its refresh is due; null once signed out. */
export async function freshBearer(): Promise<string | null> {
  if (current?.refreshToken && current.refreshAt <= Date.now()) await refresh();
  return bearer();
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
  clearTimeout(timer);
}
