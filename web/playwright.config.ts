// The console's browser tests: Debian's Chromium, headless, driven by Playwright against the
// whole system as `scripts/dev` starts it (tests/global-setup.ts). Nothing is downloaded: the
// browser is the system's (`CHROMIUM`, default /usr/bin/chromium).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'tests',
  globalSetup: './tests/global-setup.ts',
  // One system, one browser at a time: the machine has two cores and the journeys share accounts.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  outputDir: '../target/console-test-results',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      // No sandbox as root; no background connections (the network is closed and Chromium's
      // own calls would only fail).
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    trace: 'retain-on-failure',
    actionTimeout: 20_000,
  },
});
