// Starts a whole system the way a developer does, with `scripts/dev`, on free ports and its own
// state folder, and reads its addresses from its banner. With `CIB_LOCAL_RUNNER` (a built runner)
// it starts that binary directly, serving `web/dist` as it is built, so that the journeys run
// where cargo may not be run. global-setup.ts starts the one every journey shares; a journey that
// needs a system set up otherwise (shell-audit.spec.ts: a broker clock it moves ahead of AWS's) starts its
// own beside it.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { System } from './system';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** How long a development sign-in's token lives: short, so that a journey sees one expire. */
export const TOKEN_SECONDS = 60;

export interface Runner {
  system: System;
  /** Stops the runner and everything it started (its process group), and waits for it to exit. */
  stop: () => Promise<void>;
}

/**
 * A runner started with `args` (`--port 0` and the like) and `env` besides the environment, in a
 * state folder of its own, once its banner says it is up (up to 10 minutes: `scripts/dev` may
 * build first).
 */
export async function startRunner(args: string[], env: Record<string, string> = {}): Promise<Runner> {
  const dir = mkdtempSync(join(tmpdir(), 'cib-console-'));
  const runner = process.env.CIB_LOCAL_RUNNER;
  const name = runner ?? 'scripts/dev';
  const child = spawn(runner ?? join(ROOT, 'scripts', 'dev'), runner ? [...args, '--console-dist', 'web/dist'] : args, {
    cwd: ROOT,
    env: { ...process.env, ...env, CIB_LOCAL_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const banner = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start in 10 minutes:\n${out}\n${err}`)), 600_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops everything.')) {
        clearTimeout(timer);
        done(out);
      }
    });
    child.on('exit', (code) => fail(new Error(`${name} exited (${code}):\n${out}\n${err}`)));
  });
  const grab = (re: RegExp) => {
    const m = re.exec(banner);
    if (!m) throw new Error(`${name}'s banner has no ${re}:\n${banner}`);
    return m[1];
  };
  const system: System = {
    dir,
    api: grab(/running on (http:\/\/\S+)/),
    console: grab(/Web console: (http:\/\/\S+)/),
    aws: grab(/Local AWS \(moto\): (http:\/\/\S+)/),
    adminToken: grab(/export ADMIN_TOKEN=(\S+)/),
    permissionSet: grab(/export PERMISSION_SET=(\S+)/),
    shellInstance: grab(/EC2 instance (i-[0-9a-f]+)/),
    shellBucket: grab(/transcript bucket (\S+)/),
    clockControl: /Broker clock control: (\S+)/.exec(banner)?.[1],
  };
  const stop = async () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      return; // Already gone.
    }
    const killed = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }, 10_000);
    await exited;
    clearTimeout(killed);
  };
  return { system, stop };
}
