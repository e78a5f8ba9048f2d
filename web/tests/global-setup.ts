// Starts the whole system the way a developer does, with `scripts/dev`, on free ports and its
// own state folder, and hands its addresses to the tests through the environment.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

export default async function globalSetup() {
  const state = mkdtempSync(join(tmpdir(), 'cib-console-'));
  // This run's screenshots only.
  rmSync(join(ROOT, 'target', 'console-screenshots'), { recursive: true, force: true });
  const child = spawn(join(ROOT, 'scripts', 'dev'), ['--port', '0', '--expirer-seconds', '60'], {
    cwd: ROOT,
    env: { ...process.env, CIB_LOCAL_DIR: state },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const banner = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`scripts/dev did not start in 10 minutes:\n${out}\n${err}`)), 600_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops everything.')) {
        clearTimeout(timer);
        done(out);
      }
    });
    child.on('exit', (code) => fail(new Error(`scripts/dev exited (${code}):\n${out}\n${err}`)));
  });
  const grab = (re: RegExp) => {
    const m = re.exec(banner);
    if (!m) throw new Error(`scripts/dev's banner has no ${re}:\n${banner}`);
    return m[1];
  };
  process.env.CIB_API = grab(/running on (http:\/\/\S+)/);
  process.env.CIB_CONSOLE = grab(/Web console: (http:\/\/\S+)/);
  process.env.CIB_AWS = grab(/Local AWS \(moto\): (http:\/\/\S+)/);
  process.env.CIB_ADMIN_TOKEN = grab(/export ADMIN_TOKEN=(\S+)/);
  process.env.CIB_DEMO_ACCOUNT = readFileSync(join(state, 'demo-account.json'), 'utf8');
  return async () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
}
