// Small pieces every page uses: the API's problem shown as it is, buttons that show progress,
// copy buttons, durations and times.

import type { ComponentChildren } from 'preact';
import { useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import { ProblemError, get } from './api';
import type { Page, Session } from './types';

export function ProblemBox({ error }: { error: unknown }) {
  if (!error) return null;
  const problem =
    error instanceof ProblemError
      ? error.problem
      : { title: 'Something went wrong', detail: error instanceof Error ? error.message : String(error), status: 0, type: '' };
  return (
    <div class="problem" role="alert">
      <strong>{problem.title}</strong>
      {problem.status ? <span class="status"> ({problem.status})</span> : null}
      <p>{problem.detail}</p>
      {'errors' in problem && problem.errors?.length ? (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.field}>
              <code>{e.field}</code>: {e.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** Runs `action` once at a time, showing `busy` meanwhile and the problem if it fails. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...args: A) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action(...args);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

/**
 * The buttons of an action, and its progress in a live region that is always there (so it is
 * announced); the buttons stay, so focus stays on them (`useAction` runs one at a time).
 */
export function Busy({ busy, children, label }: { busy: boolean; children: ComponentChildren; label: string }) {
  return (
    <span class="busy" aria-busy={busy}>
      {children}
      <span class="progress" role="status" aria-live="polite">
        {busy ? `${label}…` : ''}
      </span>
    </span>
  );
}

/**
 * A form's ending: the problem its action met, if any, and its submit button with the action's
 * progress (`children`: more buttons beside it).
 */
export function Submit({
  action,
  label,
  progress,
  kind = 'primary',
  children,
}: {
  action: { busy: boolean; error: unknown };
  label: string;
  progress: string;
  kind?: 'primary' | 'danger' | 'plain';
  children?: ComponentChildren;
}) {
  return (
    <>
      <ProblemBox error={action.error} />
      <Busy busy={action.busy} label={progress}>
        <button type="submit" class={kind === 'plain' ? undefined : kind}>
          {label}
        </button>
        {children}
      </Busy>
    </>
  );
}

/** What the last action did, announced. */
export function Notice({ text }: { text: string | null }) {
  return text ? (
    <p class="notice" role="status">
      {text}
    </p>
  ) : null;
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      // Some browsers refuse the clipboard to pages; the value stays selectable.
      setState('failed');
    }
  };
  return (
    <button type="button" class="copy" onClick={copy}>
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : 'Copy'}
      <span class="visually-hidden"> {label}</span>
    </button>
  );
}

/** A secret or long value with its copy button; read-only but reachable and selectable by keyboard. */
export function Secret({ label, value }: { label: string; value: string }) {
  const id = useId();
  return (
    <div class="secret">
      <label class="label" for={id}>
        {label}
      </label>
      <textarea id={id} class="value" readOnly rows={Math.min(6, Math.ceil(value.length / 90) + value.split('\n').length - 1)} value={value} />
      <CopyButton text={value} label={label} />
    </div>
  );
}

export function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  if (h && m) return `${h} h ${m} min`;
  if (h) return `${h} h`;
  return `${m} min`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Durations a form offers: common lengths up to `max`, and `max` itself. */
export function durationChoices(max: number): number[] {
  const common = [900, 1800, 3600, 7200, 14400, 28800, 43200].filter((s) => s < max);
  return [...common, max];
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

/** A random key so that a repeated click or a retry starts one session, not two. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}

/**
 * The `Idempotency-Key` of a form's request. It is kept while the outcome is unknown (no answer,
 * or a server error the API does not keep), so that a retry is the same request; it is new when
 * `form` (what the form says) changes, and once the API has answered for good (a success, or a
 * 4xx it would replay for this key even after its cause is mended).
 */
export function useIdempotencyKey(form: unknown[]) {
  const [attempt, setAttempt] = useState(0);
  const key = useMemo(() => idempotencyKey(), [...form, attempt]);
  const settle = async <T,>(request: Promise<T>): Promise<T> => {
    try {
      const answer = await request;
      setAttempt((a) => a + 1);
      return answer;
    } catch (e) {
      if (e instanceof ProblemError && e.problem.status >= 400 && e.problem.status < 500) setAttempt((a) => a + 1);
      throw e;
    }
  };
  return { key, settle };
}

export function roleName(arn: string | null): string {
  if (!arn) return '';
  return arn.slice(arn.lastIndexOf('/') + 1);
}

export const KINDS: Record<Session['type'], string> = {
  jit: 'JIT',
  console: 'Console',
  shell: 'Shell',
  identity_center: 'Identity Center',
};

/** What a session gives: its role, its shell's target or its permission set. */
export function subject(s: Session): string {
  if (s.type === 'shell') return s.target ?? '';
  if (s.type === 'identity_center') return s.identity_center?.permission_set_name ?? '';
  return roleName(s.role_arn);
}

/** What a session gives access to, in one line: "JIT OnCall on 123456789012", "Shell i-0abc on …". */
export function describe(s: Session): string {
  return [KINDS[s.type] ?? s.type, subject(s), 'on', s.aws_account_id].filter(Boolean).join(' ');
}

/** A form's submit handler: the page's code does the work, the browser submits nothing. */
export function submitting(run: () => void) {
  return (e: Event) => {
    e.preventDefault();
    run();
  };
}

/** A list that is loading, empty, or shown by `children`. */
export function Loaded<T>({
  items,
  loading,
  empty,
  children,
}: {
  items: T[] | null;
  loading: string;
  empty: string;
  children: (items: T[]) => ComponentChildren;
}) {
  if (items === null) {
    return (
      <p class="progress" role="status">
        {loading}
      </p>
    );
  }
  return items.length ? <>{children(items)}</> : <p>{empty}</p>;
}

/**
 * A list read a page at a time: `reload` reads the first page, `more` the next while the API
 * names one (`next_cursor`). `path` carries no `limit` or `cursor` of its own. `refresh` reads
 * the first page again even while a read is under way (after a change the page made): only the
 * latest read's answer is kept, so an older one coming back later cannot undo it.
 */
export function usePaged<T>(path: string, keyOf: (item: T) => string) {
  const [items, setItems] = useState<T[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const latest = useRef(0);
  const read = (after: string | null) => {
    const query = new URLSearchParams({ limit: '100', ...(after ? { cursor: after } : {}) });
    return get<Page<T>>(`${path}${path.includes('?') ? '&' : '?'}${query}`);
  };
  const refresh = async () => {
    const ticket = ++latest.current;
    const page = await read(null);
    if (ticket !== latest.current) return;
    setItems(page.items);
    setCursor(page.next_cursor ?? null);
  };
  const reload = useAction(refresh);
  const more = useAction(async () => {
    if (!cursor) return;
    const ticket = latest.current;
    const page = await read(cursor);
    if (ticket !== latest.current) return;
    // What the page added meanwhile (a provisioned user, a new group) may come again.
    setItems((list) => {
      const shown = new Set((list ?? []).map(keyOf));
      return [...(list ?? []), ...page.items.filter((i) => !shown.has(keyOf(i)))];
    });
    setCursor(page.next_cursor ?? null);
  });
  return { items, setItems, hasMore: cursor !== null, reload, refresh, more, error: reload.error ?? more.error };
}

/** "Show more" under a paged list, while there is more. */
export function MoreButton({ list, label }: { list: { hasMore: boolean; more: { busy: boolean; run: () => Promise<void> } }; label: string }) {
  if (!list.hasMore) return null;
  return (
    <Busy busy={list.more.busy} label={`Loading more ${label}`}>
      <button type="button" onClick={() => list.more.run()}>
        Show more {label}
      </button>
    </Busy>
  );
}

/**
 * A button for what cannot be undone (deprovisioning, deleting): it asks once more, in place,
 * with focus on the answer, before `onConfirm` runs; focus comes back to it after a "No".
 */
export function ConfirmButton({
  label,
  question,
  onConfirm,
  disabled = false,
}: {
  label: string;
  question: string;
  onConfirm: () => void;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState<boolean | null>(null);
  const yes = useRef<HTMLButtonElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  const questionId = useId();
  useEffect(() => {
    if (asking) yes.current?.focus();
    else if (asking === false) first.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class="danger" ref={first} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-labelledby={questionId}>
      <span id={questionId}>{question}</span>{' '}
      <button
        type="button"
        class="danger"
        ref={yes}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        Yes, {label[0].toLowerCase() + label.slice(1)}
      </button>{' '}
      <button type="button" aria-describedby={questionId} onClick={() => setAsking(false)}>
        No
      </button>
    </span>
  );
}

/** Lines of a text area, trimmed, without the empty ones. */
export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
