// The dashboard in headless Chromium against a real hive with real agents
// (started by dashboard_browser_e2e.py). Every scenario of issue 18's proof:
// tasks submitted through the API appear within 1 s and change status live, a
// task's detail shows its result, a workflow's DAG follows its run (paused and
// resumed from the page), draining
// an agent and reloading a plugin from the UI, an api swap that drops the
// WebSocket while tasks change (the view catches up without a reload and
// without losing an event), no console error, axe-core finds nothing serious
// or critical, and the page reads at 360 px. Exits non-zero on any failure.
//
//   node browser_test.mjs --url http://127.0.0.1:PORT --modules WEB_DIR [--chromium PATH] [--screenshots DIR]
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string' },
    modules: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    screenshots: { type: 'string' },
    capability: { type: 'string', default: 'py' },
    scenario: { type: 'string', default: 'live' },
    'viewer-key': { type: 'string' },
    'operator-key': { type: 'string' },
    'local-token': { type: 'string' },
  },
});
if (!options.url || !options.modules) {
  console.error('usage: node browser_test.mjs --url URL --modules WEB_DIR [--chromium PATH] [--screenshots DIR]');
  process.exit(2);
}
const require = createRequire(join(options.modules, 'package.json'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = options.url.replace(/\/$/, '');

const failures = [];
const figures = {};
const consoleErrors = [];
const say = (text) => console.log(`browser: ${text}`);
function check(condition, text) {
  if (!condition) {
    failures.push(text);
    say(`FAIL ${text}`);
  }
  return condition;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(what, condition, timeoutMs = 10_000, everyMs = 25) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
    } catch {
      // not yet (a swapping api may refuse a connection)
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

// Without an auth provider the admin routes need the local token (the api's
// local_token file); it goes with every call, as the dashboard sends it.
const tokenHeader = options['local-token'] ? { Authorization: `Bearer ${options['local-token']}` } : {};

async function api(method, path, body, headers = {}) {
  const response = await fetch(base + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...tokenHeader, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

let submitted = 0;
// Retried through a swapping api with the same Idempotency-Key: never twice.
async function submit(payload) {
  const key = `browser-${process.pid}-${++submitted}`;
  const answer = await until(`task ${key} acknowledged`, async () => {
    const a = await api('POST', '/api/v2/tasks', { type: 'echo', capabilities: [options.capability], payload },
      { 'Idempotency-Key': key });
    return a.status === 201 || a.status === 200 ? a : null;
  }, 20_000, 50);
  return answer.body.id;
}

const browser = await chromium.launch({
  executablePath: options.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
page.on('console', (message) => {
  if (message.type() === 'error') consoleErrors.push(message.text());
});
page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));

async function shot(name) {
  if (!options.screenshots) return;
  mkdirSync(options.screenshots, { recursive: true });
  await page.screenshot({ path: join(options.screenshots, `${name}.png`), fullPage: false });
}

async function axe(view) {
  // Through the DevTools protocol, not a <script>: the page's CSP stays on.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')}`);
  });
  check(violations.length === 0, `axe on ${view}: ${violations.join(' | ')}`);
}

async function go(section) {
  await page.locator(`nav a[href="#/${section}"]`).click();
  await page.waitForFunction((s) => location.hash === `#/${s}`, section);
}

async function run() {
  // ---- without the local token, the admin views say where it is ------------
  // (a page of its own: the 401s it gets are the point, not console errors)
  if (options['local-token']) {
    const bare = await browser.newPage();
    await bare.goto(`${base}/dashboard/#/plugins`);
    const refused = bare.locator('[data-outcome]');
    await refused.waitFor({ timeout: 10_000 });
    const text = await refused.textContent();
    check(text.includes('local token') && text.includes('local_token'), `the Plugins view without the token: ${text}`);
    await bare.close();
    // Opened as `hive dashboard` prints it: the token leaves the address bar.
    await page.goto(`${base}/dashboard/#token=${options['local-token']}`);
    await page.waitForFunction(() => location.hash === '#/');
    check(!page.url().includes(options['local-token']), `the token stays in the address bar: ${page.url()}`);
  }

  // ---- the shell, live ---------------------------------------------------
  const started = Date.now();
  await page.goto(`${base}/dashboard/#/tasks`);
  await page.locator('[data-live="open"]').waitFor({ timeout: 10_000 });
  figures.liveAfterMs = Date.now() - started;
  await page.evaluate(() => (window.__notReloaded = true));

  // ---- tasks appear within 1 s and change status live ----------------------
  const ids = [];
  const appearMs = [];
  const seen = new Map();
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    const id = await submit({ sleep_ms: 700, n: i });
    ids.push(id);
    await page.locator(`li[data-id="${id}"]`).waitFor({ timeout: 1000 }).then(
      () => appearMs.push(Date.now() - t0),
      () => check(false, `task ${id} not in the list within 1 s of its submission`),
    );
    seen.set(id, new Set());
  }
  figures.appearMs = appearMs;
  await until('the 5 tasks succeed in the list', async () => {
    let done = 0;
    for (const id of ids) {
      const status = await page.locator(`li[data-id="${id}"] [data-status]`).getAttribute('data-status', { timeout: 500 });
      seen.get(id).add(status);
      if (status === 'succeeded') done++;
    }
    return done === ids.length;
  }, 20_000, 30);
  for (const [id, statuses] of seen)
    check([...statuses].some((s) => s !== 'succeeded'), `task ${id}: the list showed only ${[...statuses]} (no live change seen)`);
  await shot('tasks');
  await axe('tasks');

  // ---- a task's detail shows its result and its events ---------------------
  await page.locator(`li[data-id="${ids[0]}"] a`).click();
  await until('the detail shows the result', async () =>
    (await page.locator('pre[data-result]').textContent()).includes('"echo"'));
  const result = await page.locator('pre[data-result]').textContent();
  check(result.includes('"sleep_ms": 700'), `the detail's result is the agent's echo: ${result}`);
  await until('the timeline shows task.succeeded', async () =>
    (await page.locator('ol.timeline').textContent()).includes('task.succeeded'));
  await shot('task-detail');
  await axe('task detail');

  // ---- overview ------------------------------------------------------------
  await go('overview');
  await page.locator('hive-sparkline').first().waitFor();
  await until('the overview counts the agents', async () =>
    (await page.locator('[aria-label="Agents by status"]').textContent()).includes(':'));
  await shot('overview');
  await axe('overview');

  // ---- a workflow's DAG follows its run ------------------------------------
  const definition = {
    name: 'diamond',
    steps: [
      { name: 'a', task: { type: 'echo', capabilities: [options.capability], payload: { sleep_ms: 800 } } },
      { name: 'b', depends_on: ['a'], task: { type: 'echo', capabilities: [options.capability], payload: { sleep_ms: 800 } } },
      { name: 'c', depends_on: ['a'], task: { type: 'echo', capabilities: [options.capability], payload: { sleep_ms: 800 } } },
      { name: 'd', depends_on: ['b', 'c'], task: { type: 'echo', capabilities: [options.capability] } },
    ],
  };
  const applied = await api('POST', '/api/v2/workflows', definition);
  if (check(applied.status === 201 || applied.status === 200, `workflow registered: ${applied.status}`)) {
    await go('workflows');
    const runAnswer = await api('POST', '/api/v2/workflows/diamond/runs', { params: {} });
    const runId = runAnswer.body.id;
    await page.locator(`a[href="#/workflows/${runId}"]`).click({ timeout: 5000 });
    // Paused while early steps run: they finish, nothing new starts (d at
    // least stays pending); resumed, the run goes on.
    const runBadge = page.locator('div.row span.badge').first();
    await page.getByRole('button', { name: 'Pause' }).click({ timeout: 5000 });
    await until('the run shows paused', async () => (await runBadge.textContent()).trim() === 'paused', 5000, 30);
    await until('what ran when paused finishes', async () => {
      const run = (await api('GET', `/api/v2/workflows/runs/${runId}`)).body;
      return run.steps.every((step) => step.status !== 'running');
    }, 10_000, 50);
    const paused = (await api('GET', `/api/v2/workflows/runs/${runId}`)).body;
    check(paused.status === 'paused' && paused.steps[3].status === 'pending',
      `nothing new starts while paused: run ${paused.status}, steps ${paused.steps.map((s) => s.status)}`);
    await page.getByRole('button', { name: 'Resume' }).click({ timeout: 5000 });
    const stepStates = new Set();
    await until('every step of the DAG succeeds on screen', async () => {
      const states = await page.locator('g.node').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-status')));
      states.forEach((s) => stepStates.add(s));
      return states.length === 4 && states.every((s) => s === 'succeeded');
    }, 20_000, 30);
    check(stepStates.size > 1, `the DAG changed live (states seen: ${[...stepStates]})`);
    const edges = await page.locator('path.edge').count();
    check(edges === 4, `the DAG draws the diamond's 4 dependencies: ${edges} edges`);
    await shot('workflow');
    await axe('workflow run');
  }

  // ---- reconnect: swap api while tasks change ------------------------------
  await go('tasks');
  await page.evaluate(() => {
    window.__events = {};
    window.hive.tasks.addEventListener('task', (e) => {
      const { event, task } = e.detail.payload;
      (window.__events[task.id] ??= []).push(event);
    });
    window.__reconnectsBefore = window.hive.live.reconnects;
  });
  const swapIds = [];
  for (let i = 0; i < 3; i++) swapIds.push(await submit({ sleep_ms: 300, phase: 'before' }));
  const reload = await api('POST', '/api/v2/admin/plugins/api/reload', {});
  check(reload.status === 202, `POST /api/v2/admin/plugins/api/reload answers 202: ${reload.status}`);
  for (let i = 0; i < 6; i++) {
    swapIds.push(await submit({ sleep_ms: 300, phase: 'during' }));
    await sleep(100);
  }
  const record = await until('the api swap is done', async () => {
    const r = await api('GET', `/api/v2/admin/reloads/${reload.body.id}`);
    return r.body && (r.body.state === 'swapped' || r.body.state === 'failed') ? r.body : null;
  }, 30_000, 100);
  check(record.state === 'swapped', `api swapped: ${JSON.stringify(record)}`);
  for (let i = 0; i < 3; i++) swapIds.push(await submit({ sleep_ms: 300, phase: 'after' }));
  await until('every task of the swap phase succeeded in the list', async () => {
    for (const id of swapIds)
      if ((await page.locator(`li[data-id="${id}"] [data-status]`).getAttribute('data-status', { timeout: 300 })) !== 'succeeded')
        return false;
    return true;
  }, 30_000, 50);
  const state = await page.evaluate(() => ({
    notReloaded: window.__notReloaded === true,
    reconnects: window.hive.live.reconnects - window.__reconnectsBefore,
    events: window.__events,
  }));
  check(state.notReloaded, 'the page was not reloaded');
  check(state.reconnects >= 1, `the WebSocket was dropped and reconnected (${state.reconnects} reconnects)`);
  figures.reconnects = state.reconnects;
  // The durable log has every change: the page must have received each one,
  // once. Compared as multisets: the bus may publish a task's assigned before
  // its created when an agent claims it at once (seen here; the log keeps
  // commit order), and the page keeps the newer copy by updated_at_ms anyway.
  const log = await api('GET', '/api/v2/tasks/events?after=0&limit=10000');
  const expected = {};
  for (const item of log.body.items) {
    const data = typeof item.data === 'string' ? JSON.parse(item.data) : item.data;
    if (data?.task && swapIds.includes(data.task.id)) (expected[data.task.id] ??= []).push(data.event);
  }
  let compared = 0;
  for (const id of swapIds) {
    const want = [...(expected[id] ?? [])].sort().join(',');
    const got = [...(state.events[id] ?? [])].sort().join(',');
    compared += (expected[id] ?? []).length;
    check(want === got, `task ${id}: events in the page ${got || '(none)'} != durable log ${want}`);
  }
  figures.swapEventsCompared = compared;

  // ---- drain an agent from the UI -------------------------------------------
  await go('agents');
  const agents = (await api('GET', '/api/v2/agents')).body.items;
  const target = agents.find((a) => !a.draining);
  await shot('agents');
  await axe('agents');
  if (check(target !== undefined, 'an agent to drain')) {
    await page.locator(`button[aria-label="Drain ${target.name}"]`).click();
    await until(`the API shows ${target.name} draining`, async () => {
      const a = await api('GET', `/api/v2/agents/${encodeURIComponent(target.id)}`);
      return a.body.draining === true;
    }, 5000, 50);
    await page.locator(`tr[data-agent="${target.id}"] [data-draining]`).waitFor({ timeout: 3000 });
  }

  // ---- reload a plugin from the UI ------------------------------------------
  await go('plugins');
  const before = (await api('GET', '/api/v2/admin/plugins/dashboard')).body.generation;
  await page.locator('button[aria-label="Reload dashboard"]').click();
  await until('the UI shows the outcome', async () =>
    (await page.locator('[data-outcome]').textContent()).includes('swapped'), 30_000, 50);
  const after = (await api('GET', '/api/v2/admin/plugins/dashboard')).body.generation;
  check(after > before, `dashboard's generation grew: ${before} -> ${after}`);
  await until('the table shows the new generation', async () =>
    Number(await page.locator('tr[data-plugin="dashboard"] [data-generation]').textContent()) === after, 5000);
  await shot('plugins');
  await axe('plugins');

  // ---- alerts and audit views (whatever their APIs answer) ------------------
  await go('alerts');
  await page.locator('hive-alerts h2').waitFor();
  await shot('alerts');
  await axe('alerts');

  // A view appears when its API does: no messaging plugin runs here.
  const sections = await page.locator('nav a').allTextContents();
  check(!sections.includes('Messages'), `no Messages view without its API: ${sections}`);
  check(sections.includes('Workflows') && sections.includes('Alerts'), `views of the APIs that run: ${sections}`);

  // ---- keyboard: the sections are reachable with Tab and Enter ---------------
  await page.evaluate(() => document.activeElement?.blur());
  await page.locator('nav a[href="#/overview"]').focus();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await until('Tab, Tab, Enter from Overview opens Agents', async () =>
    (await page.evaluate(() => location.hash)) === '#/agents', 3000);

  // ---- PWA: the manifest, and a service worker that keeps the shell ----------
  const manifest = await api('GET', '/dashboard/manifest.webmanifest');
  check(manifest.body.start_url === '/dashboard/' && manifest.body.icons.length > 0, 'the manifest names the app');
  const cached = await until('the service worker keeps the shell', () =>
    page.evaluate(async () => {
      const registration = await navigator.serviceWorker.getRegistration('/dashboard/');
      if (!registration?.active) return null;
      const names = await caches.keys();
      if (names.length === 0) return null;
      const cache = await caches.open(names[0]);
      return (await cache.keys()).map((r) => new URL(r.url).pathname);
    }), 10_000, 100);
  check(cached.includes('/dashboard/') && cached.some((p) => p.endsWith('.js')), `the shell is cached: ${cached}`);
  // Offline, a new tab still opens the console (its API calls fail, as they must).
  const offline = await context.newPage();
  await context.setOffline(true);
  try {
    await offline.goto(`${base}/dashboard/`);
    await offline.locator('hive-app .brand').waitFor({ timeout: 5000 });
  } catch (error) {
    check(false, `the shell opens offline: ${error.message}`);
  } finally {
    await context.setOffline(false);
    await offline.close();
  }

  // ---- dark theme, 360 px ---------------------------------------------------
  await page.locator('button[aria-pressed]').click();
  await page.setViewportSize({ width: 360, height: 740 });
  await go('tasks');
  await sleep(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no horizontal scroll at 360 px (${overflow} px too wide)`);
  await shot('tasks-360-dark');
  await axe('tasks at 360 px, dark');
}

// Against a hive with security_manager: sign-in with an API key, a refused
// key, a viewer's key (no write button, no admin view) whose WebSocket is
// authenticated through the hive.bearer subprotocol, sign-out.
async function signIn() {
  const operator = { Authorization: `Bearer ${options['operator-key']}` };
  await page.goto(`${base}/dashboard/`);
  const key = page.locator('input[name="key"]');
  await key.waitFor({ timeout: 10_000 });
  await shot('sign-in');
  await axe('sign-in');
  await key.fill('hive_0000000000000000_wrong');
  await page.locator('form.signin button[type="submit"]').click();
  await page.locator('form.signin [role="alert"]').waitFor({ timeout: 5000 });
  check((await page.evaluate(() => sessionStorage.length)) === 0, 'a refused key is not kept');

  await key.fill(options['viewer-key']);
  await Promise.all([page.waitForEvent('load'), page.locator('form.signin button[type="submit"]').click()]);
  await page.locator('[data-live="open"]').waitFor({ timeout: 10_000 });
  const kept = await page.evaluate(() => Object.values(sessionStorage));
  check(kept.includes(options['viewer-key']), 'the key is kept in session storage');
  check((await page.evaluate(() => Object.values(localStorage))).every((v) => !v.startsWith('hive_')), 'the key is not in local storage');
  const links = await page.locator('nav a').allTextContents();
  check(links.includes('Tasks') && links.includes('Agents'), `a viewer sees tasks and agents: ${links}`);
  check(!links.includes('Plugins') && !links.includes('Audit'), `a viewer sees no admin or security view: ${links}`);
  await go('tasks');
  await page.locator('hive-tasks h2').waitFor();
  check((await page.locator('hive-tasks button', { hasText: 'Submit a task' }).count()) === 0, 'a viewer has no submit button');
  // Submitted with the operator's key: the viewer's live list shows it.
  const submittedAt = Date.now();
  const answer = await api('POST', '/api/v2/tasks', { type: 'echo', capabilities: ['nobody'], payload: {} }, operator);
  check(answer.status === 201, `the operator submits: ${answer.status}`);
  await page.locator(`li[data-id="${answer.body.id}"]`).waitFor({ timeout: 2000 });
  figures.signedInAppearMs = Date.now() - submittedAt;
  await page.locator(`li[data-id="${answer.body.id}"] a`).click();
  await page.locator('hive-task-detail h2').waitFor();
  check((await page.locator('hive-task-detail button').count()) === 0, 'a viewer has no cancel button');
  await shot('signed-in-viewer');
  await axe('signed in as a viewer');
  await Promise.all([page.waitForEvent('load'), page.locator('button', { hasText: 'Sign out' }).click()]);
  await key.waitFor({ timeout: 10_000 });
  check((await page.evaluate(() => sessionStorage.length)) === 0, 'signing out forgets the key');
}

try {
  if (options.scenario === 'signin') await signIn();
  else await run();
} catch (error) {
  failures.push(`aborted: ${error.message}`);
  await shot('failure').catch(() => undefined);
} finally {
  await browser.close();
}
check(consoleErrors.length === 0, `${consoleErrors.length} console errors: ${[...new Set(consoleErrors)].slice(0, 5).join(' | ')}`);
console.log(`browser: figures ${JSON.stringify(figures)}`);
if (failures.length) {
  console.log(`browser: ${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('browser: PASS');
