// Starts the system the journeys share (runner.ts), and hands it to them through the
// environment (system.ts reads it back).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TOKEN_SECONDS, startRunner } from './runner';

export default async function globalSetup() {
  // This run's screenshots only.
  rmSync(join(ROOT, 'target', 'console-screenshots'), { recursive: true, force: true });
  const runner = await startRunner(['--port', '0', '--expirer-seconds', '60', '--console-token-seconds', String(TOKEN_SECONDS)]);
  process.env.CIB_SYSTEM = JSON.stringify(runner.system);
  return runner.stop;
}
