// The console's one way to the API: bearer token, JSON in and out, and every error as the API's
// RFC 9457 problem detail, which the pages show as it is.

import { freshBearer, refresh, signOut } from './auth';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[];
}

export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.title}: ${problem.detail}`);
  }
}

let base = '';
let onSignedOut: () => void = () => {};

export function configureApi(apiBase: string, signedOut: () => void): void {
  base = apiBase;
  onSignedOut = signedOut;
}

export interface Reply<T> {
  status: number;
  body: T;
}

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  options: { idempotencyKey?: string } = {},
): Promise<Reply<T>> {
  const send = async (token: string) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    try {
      return await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ProblemError({
        type: 'console:unreachable',
        title: 'The API could not be reached',
        status: 0,
        detail: e instanceof Error ? e.message : String(e),
      });
    }
  };
  const token = await freshBearer();
  if (!token) {
    onSignedOut();
    throw new ProblemError({ type: 'console:signed-out', title: 'Signed out', status: 401, detail: 'Sign in again.' });
  }
  let response = await send(token);
  // A token refused before its time (a clock ahead of this one, a key rotated): one refresh and
  // one retry, the same request (with its idempotency key), before sending the user to sign in.
  if (response.status === 401 && (await refresh())) {
    const again = await freshBearer();
    if (again) response = await send(again);
  }
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page, say): the text itself is the detail below.
  }
  if (!response.ok) {
    if (response.status === 401) {
      signOut();
      onSignedOut();
    }
    const problem = (parsed && typeof parsed === 'object' ? parsed : null) as Partial<Problem> | null;
    throw new ProblemError({
      type: problem?.type ?? 'about:blank',
      title: problem?.title ?? response.statusText,
      status: response.status,
      detail: problem?.detail ?? text,
      errors: problem?.errors,
    });
  }
  if (parsed === null && text) {
    throw new ProblemError({ type: 'console:not-json', title: 'The API answered something else than JSON', status: response.status, detail: text.slice(0, 200) });
  }
  return { status: response.status, body: parsed as T };
}

export const get = <T,>(path: string) => call<T>('GET', path).then((r) => r.body);
