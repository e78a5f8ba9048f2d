// Issue 32: every action can be done from the keyboard. These journeys use the keyboard only:
// Tab, Shift+Tab, Enter, Space, Escape, arrow keys and typing into whatever has focus. Locators
// here only say what must have focus or be shown; nothing is clicked, filled or selected through
// them. Every stop Tab makes must show where focus is (a focus ring), and after each action focus
// must be somewhere that makes sense, not lost to the page's body.
import { type Locator, type Page, expect, test } from '@playwright/test';
import { aws, call, consoleUrl, jitUser, screenshot, tokenFor, watch } from './system';

/** What has focus, in words, for a failure's message. */
const focusedNow = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return '(the page body)';
    const name = el.getAttribute('aria-label') ?? (el as HTMLElement).innerText?.trim().slice(0, 60) ?? '';
    return `<${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}> ${name}`;
  });

const hasFocus = (target: Locator) => target.evaluate((el) => el === document.activeElement);

/**
 * Presses Tab (Shift+Tab with `back`) until `target` has focus, failing with the stops it made if
 * it is not reached in `max` presses; the target must show that it has focus.
 */
async function tabTo(page: Page, target: Locator, { max = 40, back = false } = {}) {
  await expect(target).toBeVisible();
  const stops: string[] = [];
  for (let i = 0; i <= max; i++) {
    if (await hasFocus(target)) {
      const ring = await target.evaluate((el) => {
        const s = getComputedStyle(el);
        return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
      });
      expect(ring, `${await focusedNow(page)} shows no focus ring`).toBe(true);
      return;
    }
    if (i === max) break;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    stops.push(await focusedNow(page));
  }
  throw new Error(`${back ? 'Shift+Tab' : 'Tab'} did not reach ${target} in ${max} presses; it stopped at:\n  ${stops.join('\n  ')}`);
}

/** Picks `option` (its text) in the focused select with the arrow keys, as a closed select takes them. */
async function choose(page: Page, select: Locator, option: string | RegExp) {
  await expect(select).toBeFocused();
  const shown = () => select.evaluate((s: HTMLSelectElement) => s.selectedOptions[0]?.textContent?.trim() ?? '');
  const wanted = (text: string) => (typeof option === 'string' ? text === option : option.test(text));
  await page.keyboard.press('Home');
  const count = await select.locator('option').count();
  for (let i = 0; i < count; i++) {
    if (wanted(await shown())) return;
    await page.keyboard.press('ArrowDown');
  }
  expect(await shown(), `no option ${option} in ${select}`).toMatch(option);
}

/** Signs in from the console's sign-in screen and the development sign-in's form, by keyboard. */
async function signInByKeyboard(page: Page, email: string, role: 'user' | 'admin' | 'auditor') {
  await page.goto(consoleUrl());
  await tabTo(page, page.getByRole('button', { name: 'Sign in (development)' }));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Development sign-in' })).toBeVisible();
  const field = page.getByLabel('E-mail');
  await tabTo(page, field);
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type(email);
  await expect(field).toHaveValue(email);
  const roles = page.getByLabel('Role');
  await tabTo(page, roles);
  await choose(page, roles, role);
  await expect(roles).toHaveValue(role);
  await tabTo(page, page.getByRole('button', { name: 'Sign in' }));
  await page.keyboard.press('Enter');
  await expect(page.locator('header .who')).toContainText(email);
}

/** Opens one of the console's pages from its navigation; focus goes to the page. */
async function openPage(page: Page, name: string) {
  await tabTo(page, page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name }));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(page.locator('main')).toBeFocused();
}

test('a requester starts, copies and ends a JIT session with the keyboard only', async ({ page }) => {
  const clean = watch(page);
  // Two roles to choose between.
  await jitUser('keys@example.com', 'KeyboardRead');
  const { roleArn } = await jitUser('keys@example.com', 'KeyboardOps');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(consoleUrl()).origin });

  await signInByKeyboard(page, 'keys@example.com', 'user');
  // The skip link comes first and takes focus to the page.
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to the page' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await openPage(page, 'My access');

  const form = page.getByRole('form', { name: 'Start a session' });
  const accountField = form.getByLabel('Account');
  await tabTo(page, accountField);
  await choose(page, accountField, /\(210000000001\)$/);
  await tabTo(page, form.getByLabel('Kind'));
  await expect(form.getByLabel('Kind')).toHaveValue('jit');
  const roleField = form.getByLabel('Role', { exact: true });
  await tabTo(page, roleField);
  await choose(page, roleField, 'KeyboardOps');
  await expect(roleField).toHaveValue(roleArn);
  const durationField = form.getByLabel('Duration');
  await tabTo(page, durationField);
  await choose(page, durationField, '30 min');
  await expect(durationField).toHaveValue('1800');
  await tabTo(page, form.getByLabel(/Reason/));
  await page.keyboard.type('KEY-32: only the keyboard');
  await screenshot(page, 'requester-start-form');
  await tabTo(page, form.getByRole('button', { name: 'Start session' }));
  await page.keyboard.press('Enter');

  // What was handed out is announced: its heading takes focus.
  const handed = page.getByRole('region', { name: /JIT KeyboardOps .* shown once/ });
  await expect(handed.getByRole('heading')).toBeFocused();
  // Each value is reachable (and selectable) by keyboard, and its copy button works by keyboard.
  const value = (label: string) => handed.getByLabel(label, { exact: true });
  await tabTo(page, value('Access key id'));
  // Its name says what it did: Copy, then Copied (or Select and copy, where the clipboard is refused).
  const copy = (label: string) => handed.getByRole('button', { name: new RegExp(`^(Copy|Copied|Select and copy) ${label}$`) });
  const copied: Record<string, string> = {};
  for (const label of ['Access key id', 'Secret access key', 'Session token']) {
    await tabTo(page, copy(label));
    await page.keyboard.press(label === 'Secret access key' ? 'Space' : 'Enter');
    await expect(copy(label)).toHaveText(/^Copied/);
    copied[label] = await page.evaluate(() => navigator.clipboard.readText());
    await expect(value(label)).toHaveValue(copied[label]);
  }
  await screenshot(page, 'requester-credentials');
  // The credentials copied are real.
  const who = await aws('sts', { Action: 'GetCallerIdentity' }, {
    accessKeyId: copied['Access key id'],
    secretAccessKey: copied['Secret access key'],
    sessionToken: copied['Session token'],
  });
  expect(who).toContain('assumed-role/KeyboardOps/');

  // Hidden, they are gone for good, and focus goes to the session they belong to.
  await tabTo(page, handed.getByRole('button', { name: 'I have copied them: hide' }));
  await page.keyboard.press('Enter');
  await expect(handed).toHaveCount(0);
  await expect(page.locator('body')).not.toContainText(copied['Secret access key']);
  const row = page.getByRole('row', { name: /JIT KeyboardOps/ });
  await expect(row).toContainText('active');
  await expect(row.getByRole('link', { name: /JIT KeyboardOps/ })).toBeFocused();

  // Ending asks for a reason in place; Escape takes the question back, focus returning to End….
  const end = row.getByRole('button', { name: /^End JIT KeyboardOps/ });
  await tabTo(page, end);
  await page.keyboard.press('Enter');
  const reason = row.getByLabel('Reason');
  await expect(reason).toBeFocused();
  await page.keyboard.type('not yet');
  await page.keyboard.press('Escape');
  await expect(reason).toHaveCount(0);
  await expect(end).toBeFocused();
  await page.keyboard.press('Space');
  await expect(reason).toBeFocused();
  await expect(reason).toHaveValue('');
  await page.keyboard.type('KEY-32: done');
  await screenshot(page, 'requester-end');
  await tabTo(page, row.getByRole('button', { name: 'End now' }));
  await page.keyboard.press('Enter');
  // The end is announced, and focus stays with the session.
  await expect(row).toContainText(/ending|ended/);
  await expect(page.getByRole('status').filter({ hasText: /JIT KeyboardOps on \d+ (ended|is ending)/ })).toBeVisible();
  await expect(row.getByRole('link', { name: /JIT KeyboardOps/ })).toBeFocused();
  await screenshot(page, 'requester-ended');
  const { items } = await call('GET', '/sessions?limit=100');
  const ended = items.find((s: any) => s.user === 'keys@example.com' && s.reason === 'KEY-32: only the keyboard');
  expect(ended).toMatchObject({ status: expect.stringMatching(/^(ending|ended)$/), duration_seconds: 1800, role_arn: roleArn });
  clean();
});

test('an approver refreshes the inbox and decides requests with the keyboard only', async ({ page }) => {
  // The denial without a comment is the journey's own: the API refuses it.
  const clean = watch(page, [/\/sessions\/[^/]+\/denials$/]);
  const approvers = await call('POST', '/groups', { name: 'Keyboard approvers', accounts: 'all', permissions: {} });
  await call('PUT', `/groups/${approvers.id}/members/kb-approver@example.com`, {});
  const { accountId, roleArn } = await jitUser('kb-asker@example.com', 'KeyboardDeploy', {
    approval: { approvals_required: 1, approver_group_ids: [approvers.id] },
  });

  await signInByKeyboard(page, 'kb-approver@example.com', 'user');
  await openPage(page, 'Approvals');
  await expect(page.getByText('Nothing waits for your decision.')).toBeVisible();

  // Two requests come in meanwhile; Refresh shows them and keeps focus.
  const asker = await tokenFor('kb-asker@example.com', 'user');
  const ask = (reason: string) =>
    call('POST', '/sessions', { account_id: accountId, type: 'jit', role_arn: roleArn, duration_seconds: 900, reason }, asker);
  const first = (await ask('KEY-1: deploy the fix')).session;
  const second = (await ask('KEY-2: deploy it again')).session;
  const refresh = page.getByRole('button', { name: /Refresh/ });
  await tabTo(page, refresh);
  await page.keyboard.press('Enter');
  const cards = page.getByRole('article', { name: 'Request from kb-asker@example.com' });
  await expect(cards).toHaveCount(2);
  await expect(refresh).toBeFocused();
  await screenshot(page, 'approver-inbox');

  const card = (reason: string) => cards.filter({ hasText: reason });
  await tabTo(page, card('KEY-1').getByLabel(/Comment/));
  await page.keyboard.type('Go ahead');
  await tabTo(page, card('KEY-1').getByRole('button', { name: 'Approve' }));
  await page.keyboard.press('Enter');
  // The decision is announced, and focus goes to the inbox (the card it was on is gone).
  await expect(page.getByRole('status').filter({ hasText: 'Approved the request of kb-asker@example.com' })).toBeVisible();
  await expect(cards).toHaveCount(1);
  const inbox = page.getByRole('heading', { name: 'Waiting for your decision' });
  await expect(inbox).toBeFocused();
  await screenshot(page, 'approver-approved');
  expect((await call('GET', `/sessions/${first.id}`)).status).toBe('active');

  // A denial needs a comment: without one the problem is shown and focus stays to try again.
  const deny = card('KEY-2').getByRole('button', { name: 'Deny' });
  await tabTo(page, deny);
  await page.keyboard.press('Space');
  await expect(card('KEY-2').getByRole('alert')).toBeVisible();
  await expect(deny).toBeFocused();
  await tabTo(page, card('KEY-2').getByLabel(/Comment/), { back: true });
  await page.keyboard.type('Once is enough');
  await tabTo(page, deny);
  await page.keyboard.press('Space');
  await expect(page.getByRole('status').filter({ hasText: 'Denied the request of kb-asker@example.com' })).toBeVisible();
  await expect(page.getByText('Nothing waits for your decision.')).toBeVisible();
  await expect(inbox).toBeFocused();
  await screenshot(page, 'approver-denied');
  const denied = await call('GET', `/sessions/${second.id}`);
  expect(denied.status).toBe('denied');
  clean();
});
