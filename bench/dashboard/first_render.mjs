// The dashboard's first load and its task list with many tasks in the store,
// measured in headless Chromium (run.py starts hive and fills the store).
// Prints one line of JSON with the figures.
//
//   node first_render.mjs --url http://127.0.0.1:PORT --modules WEB_DIR [--chromium PATH]
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string' },
    modules: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const require = createRequire(join(options.modules, 'package.json'));
const { chromium } = require('playwright-core');
const base = options.url.replace(/\/$/, '');

const browser = await chromium.launch({
  executablePath: options.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, serviceWorkers: 'block' });
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
const requests = new Map();
const loaded = [];
cdp.on('Network.responseReceived', (e) =>
  requests.set(e.requestId, { url: e.response.url, encoding: e.response.headers['content-encoding'] || '' }),
);
cdp.on('Network.loadingFinished', (e) => {
  const request = requests.get(e.requestId);
  if (request) loaded.push({ ...request, bytes: e.encodedDataLength });
});

const figures = {};
await page.goto(`${base}/dashboard/#/tasks`);
// Both measured in the page, from the start of the navigation.
figures.first_row_ms = await (
  await page.waitForFunction(
    () =>
      document
        .querySelector('hive-app')
        ?.shadowRoot?.querySelector('hive-tasks')
        ?.shadowRoot?.querySelector('li[data-id]') && performance.now(),
    null,
    { polling: 'raf', timeout: 120_000 },
  )
).jsonValue();
const shell = loaded.filter((r) => !new URL(r.url).pathname.startsWith('/api/'));
figures.first_load_bytes_on_wire = shell.reduce((sum, r) => sum + r.bytes, 0);
figures.first_load_files = shell.map((r) => `${new URL(r.url).pathname} ${r.encoding || 'identity'} ${r.bytes}`);
figures.all_tasks_loaded_ms = await (
  await page.waitForFunction(() => window.hive.tasks.loadedAll && performance.now(), null, {
    polling: 100,
    timeout: 600_000,
  })
).jsonValue();
figures.tasks_in_browser = await page.evaluate(() => window.hive.tasks.size);
figures.api_pages_bytes = loaded.filter((r) => new URL(r.url).pathname.startsWith('/api/v2/tasks')).reduce((s, r) => s + r.bytes, 0);

// Scroll through the whole list, one jump per frame, and time the frames.
const scroll = await page.evaluate(async () => {
  const list = document.querySelector('hive-app').shadowRoot.querySelector('hive-tasks');
  const viewport = list.shadowRoot.querySelector('.viewport');
  const frames = [];
  let last = performance.now();
  const steps = 300;
  for (let i = 1; i <= steps; i++) {
    viewport.scrollTop = (viewport.scrollHeight * i) / steps;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  frames.sort((a, b) => a - b);
  return {
    frames: steps,
    p50_ms: frames[Math.floor(steps * 0.5)],
    p95_ms: frames[Math.floor(steps * 0.95)],
    max_ms: frames[steps - 1],
    rows_in_dom: list.shadowRoot.querySelectorAll('li').length,
  };
});
figures.scroll = scroll;

// Filter 100,000 tasks by status (the select), until the list shows the result.
figures.filter_ms = await page.evaluate(async () => {
  const list = document.querySelector('hive-app').shadowRoot.querySelector('hive-tasks');
  const select = list.shadowRoot.querySelector('select');
  const started = performance.now();
  select.value = 'pending';
  select.dispatchEvent(new Event('change'));
  await list.updateComplete;
  await new Promise((resolve) => requestAnimationFrame(resolve));
  return performance.now() - started;
});
await browser.close();
console.log(JSON.stringify(figures));
