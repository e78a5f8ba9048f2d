// A sign-in that outlives its token: the development sign-in's tokens live 60 s here
// (global-setup.ts), and the console refreshes them with rotating refresh tokens, kept in memory
// only; a token the API refuses is refreshed once and the request sent again. Meanwhile the
// requester pages through more sessions than one page holds.
import { expect, test } from '@playwright/test';
import { TOKEN_SECONDS } from './runner';
import { call, consoleUrl, jitUser, screenshot, signIn, tokenFor, watch } from './system';

const SESSIONS = 53;

test('a session outlives a token expiry without a new sign-in', async ({ page }) => {
  test.setTimeout(4 * TOKEN_SECONDS * 1000);
  // The one 401 below is the journey's own (a route), answered for the retry's sake.
  const clean = watch(page, [/\/sessions\?limit=50&cursor=/]);
  const approvers = await call('POST', '/groups', { name: 'Pager approvers', accounts: 'all', permissions: {} });
  const { accountId, roleArn } = await jitUser('pager@example.com', 'ConsolePager', {
    approval: { approvals_required: 1, approver_group_ids: [approvers.id] },
  });

  // What the identity provider answers, and what the console sends it and the API.
  const config = await (await page.request.get(`${consoleUrl()}/config.json`)).json();
  const answers: { id_token: string; refresh_token: string; expires_in: number }[] = [];
  const sentRefreshTokens: string[] = [];
  const bearers = new Set<string>();
  page.on('request', (r) => {
    if (r.url() === config.oidc.token_endpoint) {
      const form = new URLSearchParams(r.postData() ?? '');
      if (form.get('grant_type') === 'refresh_token') sentRefreshTokens.push(form.get('refresh_token')!);
    } else if (r.url().startsWith(config.api_base)) {
      const auth = r.headers().authorization;
      if (auth) bearers.add(auth.slice('Bearer '.length));
    }
  });
  page.on('response', async (r) => {
    if (r.url() === config.oidc.token_endpoint && r.ok()) answers.push(await r.json());
  });
  // The sign-in screen itself, before anyone is signed in.
  await page.goto(consoleUrl());
  await expect(page.getByRole('button', { name: 'Sign in (development)' })).toBeVisible();
  await screenshot(page, 'sign-in');
  await signIn(page, 'pager@example.com', 'user');
  await expect.poll(() => answers.length).toBe(1);
  const first = answers[0];
  const firstExpires = JSON.parse(Buffer.from(first.id_token.split('.')[1], 'base64url').toString()).exp * 1000;
  expect(firstExpires - Date.now()).toBeLessThanOrEqual(TOKEN_SECONDS * 1000);

  // Requests waiting for approval, withdrawn: cheap sessions, more than a page of them.
  let token = await tokenFor('pager@example.com', 'user');
  for (let i = 0; i < SESSIONS; i++) {
    if (i % 20 === 19) token = await tokenFor('pager@example.com', 'user');
    const started = await call(
      'POST',
      '/sessions',
      { account_id: accountId, type: 'jit', role_arn: roleArn, duration_seconds: 900, reason: `PAGE-${i}: fill the list` },
      token,
    );
    await call('POST', `/sessions/${started.session.id}/cancel`, { reason: 'only for the list' }, token);
  }

  // Two refreshes (at half the 60 s life, then again), each spending the refresh token the one
  // before handed out; then the first token has expired.
  await expect.poll(() => sentRefreshTokens.length, { timeout: 2 * TOKEN_SECONDS * 1000 }).toBeGreaterThanOrEqual(2);
  expect(sentRefreshTokens[0]).toBe(first.refresh_token);
  expect(sentRefreshTokens[1]).toBe(answers[1].refresh_token);
  expect(new Set(sentRefreshTokens).size).toBe(sentRefreshTokens.length);
  await expect.poll(() => Date.now(), { timeout: TOKEN_SECONDS * 1000 }).toBeGreaterThan(firstExpires);

  // Still signed in, with a fresh token: the page reads its sessions again and pages through all.
  await page.getByRole('link', { name: 'Approvals' }).click();
  await expect(page.getByRole('heading', { name: 'Approvals' })).toBeVisible();
  await page.getByRole('link', { name: 'My access' }).click();
  const rows = page.getByRole('row', { name: /ConsolePager/ });
  await expect(rows).toHaveCount(50);
  await expect(page.getByRole('button', { name: 'Sign in (development)' })).toHaveCount(0);
  const latest = answers.at(-1)!.id_token;
  expect(bearers.has(latest)).toBe(true);

  // A token the API refuses anyway (a clock ahead, say): one refresh, the same request again.
  let refused = false;
  await page.route(/\/sessions\?limit=50&cursor=/, async (route) => {
    if (refused) return route.fallback();
    refused = true;
    await route.fulfill({
      status: 401,
      json: { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'the token expired' },
      headers: { 'access-control-allow-origin': new URL(consoleUrl()).origin },
    });
  });
  const refreshes = sentRefreshTokens.length;
  await page.getByRole('button', { name: 'Show older sessions' }).click();
  await expect(rows).toHaveCount(SESSIONS);
  expect(refused).toBe(true);
  expect(sentRefreshTokens.length).toBe(refreshes + 1);
  await expect(page.getByText(`All ${SESSIONS} of your sessions are shown.`)).toBeVisible();
  await screenshot(page, 'requester-all-sessions');

  // None of it is where scripts could read it later.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  for (const a of answers) {
    expect(stored).not.toContain(a.refresh_token);
    expect(stored).not.toContain(a.id_token);
  }
  clean();
});
