// A shell session's transcripts: each Session Manager session its credentials opened, read on
// demand (a transcript may hold whatever was typed) and shown as text with every control
// character made visible, as `cat -v` shows them, so that nothing typed or printed hides.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from './api';
import type { Session, SsmSession, Transcript } from './types';
import { Busy, ProblemBox, useAction, when } from './ui';

const NAMES: Record<number, string> = {
  0x00: 'null',
  0x07: 'bell',
  0x08: 'backspace',
  0x0b: 'vertical tab',
  0x0c: 'form feed',
  0x0d: 'carriage return',
  0x1b: 'escape',
  0x7f: 'delete',
};

/** `cat -v`'s notation: ^X for C0 controls, ^? for DEL, M-^X for C1 controls. */
function caret(code: number): string {
  if (code === 0x7f) return '^?';
  if (code >= 0x80) return `M-${caret(code - 0x80)}`;
  return `^${String.fromCharCode(code + 0x40)}`;
}

/**
 * The transcript's text with each control character (but line breaks and tabs) as a marked
 * `^X`. A line break is `\n` or `\r\n`, as a terminal writes it; a carriage return alone (which
 * would let later text overwrite a line on a terminal) is shown.
 */
export function visibleControls(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let plain = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const control = (code < 0x20 && code !== 0x0a && code !== 0x09) || (code >= 0x7f && code <= 0x9f);
    if (code === 0x0d && text.charCodeAt(i + 1) === 0x0a) continue;
    if (!control) {
      plain += text[i];
      continue;
    }
    if (plain) out.push(plain);
    plain = '';
    const hex = code.toString(16).toUpperCase().padStart(4, '0');
    out.push(
      <abbr class="control" title={`${NAMES[code] ?? 'control character'}, U+${hex}`} key={i}>
        {caret(code)}
      </abbr>,
    );
  }
  if (plain) out.push(plain);
  return out;
}

function Integrity({ transcript }: { transcript: Transcript }) {
  const r = transcript.recorded;
  if (transcript.matches_log === false) {
    return (
      <p class="unverified" role="alert">
        <strong>Changed:</strong> this transcript is not the one the session's end recorded
        {r ? ` (${r.bytes} bytes${r.sha256 ? `, SHA-256 ${r.sha256}` : ''}, at ${when(r.at)})` : ''}: it was changed,
        replaced or removed since.
      </p>
    );
  }
  if (transcript.matches_log === true) {
    return (
      <p class="verified">
        <strong>Unchanged:</strong> the same {r?.bytes} bytes the session's end recorded in its verified log
        {r?.sha256 ? ` (SHA-256 ${r.sha256})` : ''}.
      </p>
    );
  }
  return <p class="note">Nothing to compare it with: the session's log recorded no size for it (or does not verify).</p>;
}

function TranscriptView({ session, ssm }: { session: Session; ssm: SsmSession }) {
  const [transcript, setTranscript] = useState<Transcript | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const read = useAction(async () => {
    setTranscript(await get<Transcript>(`/sessions/${session.id}/transcripts/${encodeURIComponent(ssm.id)}`));
  });
  // The text just read gets the focus, so that it is read next.
  useEffect(() => {
    if (transcript) heading.current?.focus();
  }, [transcript]);
  const titleId = `transcript-${ssm.id}`;
  return (
    <li class="transcript" data-ssm-session={ssm.id}>
      <p>
        <code>{ssm.id}</code> on <code>{ssm.target}</code>, {when(ssm.started_at)} to {when(ssm.ended_at)}
        {ssm.transcript ? (
          <>
            {' '}
            — <code>{ssm.transcript}</code>
          </>
        ) : null}
      </p>
      <ProblemBox error={read.error} />
      {transcript ? null : (
        <Busy busy={read.busy} label="Reading the transcript">
          <button type="button" onClick={() => read.run()}>
            Read transcript<span class="visually-hidden"> of {ssm.id}</span>
          </button>
        </Busy>
      )}
      {transcript ? (
        <section aria-labelledby={titleId}>
          <h3 id={titleId} tabIndex={-1} ref={heading}>
            Transcript of {ssm.id}
          </h3>
          <Integrity transcript={transcript} />
          <p class="muted">
            Control characters are shown as <code>^X</code> (escape as <code>^[</code>), as <code>cat -v</code> shows
            them; hover one for its name.
            {transcript.truncated ? ` Only the first 1 MiB is shown; the whole transcript is at ${transcript.location}.` : ''}
          </p>
          <pre class="terminal" tabIndex={0} data-testid="transcript">
            {visibleControls(transcript.content)}
          </pre>
        </section>
      ) : null}
    </li>
  );
}

export function Transcripts({ session }: { session: Session }) {
  const ssm = session.ssm_sessions ?? [];
  return (
    <section aria-labelledby="transcripts-title">
      <h2 id="transcripts-title">Transcripts</h2>
      {ssm.length ? (
        <ul class="transcripts">
          {ssm.map((s) => (
            <TranscriptView key={s.id} session={session} ssm={s} />
          ))}
        </ul>
      ) : (
        <p>
          {session.status === 'active' || session.status === 'pending'
            ? 'The Session Manager sessions are recorded when the session ends: their transcripts are listed then.'
            : 'No Session Manager session was opened with this session.'}
        </p>
      )}
    </section>
  );
}
