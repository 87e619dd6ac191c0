// examples/todo-web in a real browser (Debian's Chromium, driven by
// playwright-core) against topgun-server: two browser profiles edit one list,
// one goes offline and both keep editing, it comes back and the lists
// converge; a reload with the server gone shows the list from IndexedDB, and
// its search box filters it with local search.
// Screenshots land in build/browser-artifacts/.
//
// TOPGUN_SERVER_BINARY names the server (default: the dev preset's build);
// the example must be built first (scripts/test-wasm.sh does both).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serverBinary, startServer as startProcess, stopServer } from '../support/topgun_server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const site = join(root, 'examples/todo-web/dist');
const artifacts = join(root, 'build/browser-artifacts');
serverBinary(); // fails early, naming the path, when the server is not built
if (!existsSync(join(site, 'app.js'))) throw new Error(`missing ${site}/app.js: run scripts/test-wasm.sh (it builds the example)`);
mkdirSync(artifacts, { recursive: true });
const dataDir = mkdtempSync(join(tmpdir(), 'topgun-browser-test-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const startServer = (port = 0) =>
  startProcess({ args: ['--port', String(port), '--data-dir', dataDir], env: { TOPGUN_NO_AUTH: '1' } });

// The built example on 127.0.0.1 only.
function serveSite() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(site, path === '/' ? 'index.html' : path);
    if (!file.startsWith(site) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const titles = (page) => page.$$eval('#list li span', (spans) => spans.map((s) => s.textContent).sort());
const doneTitles = (page) => page.$$eval('#list li.done span', (spans) => spans.map((s) => s.textContent).sort());
const stateOf = (page) => page.getAttribute('#state', 'data-state');

async function add(page, title) {
  await page.fill('#title', title);
  await page.press('#title', 'Enter');
}

test('two browsers edit one list, one offline, and converge; a reload restores the list from IndexedDB', async () => {
  let server = await startServer();
  const port = server.port;
  const http = await serveSite();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const url = `http://127.0.0.1:${http.address().port}/?server=ws://127.0.0.1:${port}/ws`;
    const [contextA, contextB] = [await browser.newContext(), await browser.newContext()]; // separate IndexedDBs
    const [a, b] = [await contextA.newPage(), await contextB.newPage()];
    const errors = [];
    for (const page of [a, b]) page.on('pageerror', (e) => errors.push(e.message));
    await a.goto(url);
    await b.goto(url);
    for (const page of [a, b]) await page.waitForFunction(() => document.getElementById('state').dataset.state === 'CONNECTED');

    await add(a, 'milk');
    await add(b, 'bread');
    for (const page of [a, b]) await page.waitForFunction(() => document.querySelectorAll('#list li').length === 2);
    assert.deepEqual(await titles(a), ['bread', 'milk']);

    await contextB.setOffline(true);
    await b.waitForFunction(() => document.getElementById('state').dataset.state !== 'CONNECTED');
    await add(a, 'eggs');
    await add(b, 'jam');
    await b.click('#list li:has-text("milk") input[type=checkbox]');
    await a.waitForFunction(() => document.querySelectorAll('#list li').length === 3);
    assert.deepEqual(await titles(b), ['bread', 'jam', 'milk']); // nothing from A while offline
    await b.screenshot({ path: join(artifacts, 'todo-offline.png') });

    await contextB.setOffline(false);
    for (const page of [a, b]) {
      await page.waitForFunction(() => document.querySelectorAll('#list li').length === 4 && document.querySelectorAll('#list li.done').length === 1);
    }
    assert.deepEqual(await titles(a), ['bread', 'eggs', 'jam', 'milk']);
    assert.deepEqual(await titles(b), await titles(a));
    assert.deepEqual(await doneTitles(a), ['milk']);
    await b.waitForFunction(() => document.getElementById('summary').textContent.includes('all synced'));
    await a.screenshot({ path: join(artifacts, 'todo-synced.png') });

    // The server goes away; a reload shows the list from IndexedDB alone. The
    // page saves on pagehide too, but a reload does not wait for that to finish.
    await b.evaluate(() => globalThis.todoClient.flush());
    await stopServer(server.child);
    server = undefined;
    await b.reload();
    await b.waitForFunction(() => document.body.dataset.ready === 'true');
    assert.deepEqual(await titles(b), ['bread', 'eggs', 'jam', 'milk']);
    assert.notEqual(await stateOf(b), 'CONNECTED');
    await b.screenshot({ path: join(artifacts, 'todo-reloaded-offline.png') });
    // Local search filters the list offline, by prefix while typing.
    await b.fill('#filter', 'mi');
    await b.waitForFunction(() => document.querySelectorAll('#list li').length === 1);
    assert.deepEqual(await titles(b), ['milk']);
    await b.fill('#filter', '');
    await b.waitForFunction(() => document.querySelectorAll('#list li').length === 4);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    http.close();
    if (server) await stopServer(server.child);
  }
});
