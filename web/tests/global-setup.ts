// Starts the whole system the way a developer does, with `scripts/dev`, on free ports and its
// own state folder, and hands its addresses to the tests through the environment. With
// `CIB_LOCAL_RUNNER` (a built runner) it starts that binary directly, serving `web/dist` as it is
// built, so that the journeys run where cargo may not be run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** How long a development sign-in's token lives: short, so that a journey sees one expire. */
export const TOKEN_SECONDS = 60;

export default async function globalSetup() {
  const state = mkdtempSync(join(tmpdir(), 'cib-console-'));
  // This run's screenshots only.
  rmSync(join(ROOT, 'target', 'console-screenshots'), { recursive: true, force: true });
  const args = ['--port', '0', '--expirer-seconds', '60', '--console-token-seconds', String(TOKEN_SECONDS)];
  const runner = process.env.CIB_LOCAL_RUNNER;
  const child = spawn(runner ?? join(ROOT, 'scripts', 'dev'), runner ? [...args, '--console-dist', 'web/dist'] : args, {
    cwd: ROOT,
    env: { ...process.env, CIB_LOCAL_DIR: state },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const name = runner ?? 'scripts/dev';
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
  process.env.CIB_API = grab(/running on (http:\/\/\S+)/);
  process.env.CIB_CONSOLE = grab(/Web console: (http:\/\/\S+)/);
  process.env.CIB_AWS = grab(/Local AWS \(moto\): (http:\/\/\S+)/);
  process.env.CIB_ADMIN_TOKEN = grab(/export ADMIN_TOKEN=(\S+)/);
  process.env.CIB_PERMISSION_SET = grab(/export PERMISSION_SET=(\S+)/);
  process.env.CIB_SHELL_INSTANCE = grab(/EC2 instance (i-[0-9a-f]+)/);
  process.env.CIB_SHELL_BUCKET = grab(/transcript bucket (\S+)/);
  process.env.CIB_ORGANIZATION = readFileSync(join(state, 'organization.json'), 'utf8');
  process.env.CIB_ORGANIZATION_ADMIN = readFileSync(join(state, 'organization-admin.json'), 'utf8');
  process.env.CIB_DEMO_ACCOUNT = readFileSync(join(state, 'demo-account.json'), 'utf8');
  return async () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
}
