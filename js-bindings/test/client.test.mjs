// TopGunClient against a real topgun-server process: two clients converge, and
// writes made on both sides while the server is down converge once it is back.
//
// TOPGUN_SERVER_BINARY names the binary (default: the dev preset's build, which
// scripts/test.sh builds before this runs).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'fake-indexeddb/auto';
import WebSocket from 'ws';
import { TopGunClient, ConnectionState, MemoryStorage, IndexedDBStorage, LwwReplica } from '../src/index.js';
import { signJwt, startServer as startProcess, stopServer } from '../../tests/support/topgun_server.mjs';

const dataDir = mkdtempSync(join(tmpdir(), 'topgun-client-test-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const SECRET = 'client-test-secret';
const jwt = (sub) => signJwt(SECRET, { sub, exp: Math.floor(Date.now() / 1000) + 3600 });

// One data directory for the whole file, so a restart on the same port keeps the data.
const startServer = (port = 0, auth = { TOPGUN_NO_AUTH: '1' }) =>
  startProcess({ args: ['--port', String(port), '--data-dir', dataDir], env: auth });

async function until(condition, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A process's state letter from /proc ('T': stopped).
const processState = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)[0];

function client(port, nodeId, options = {}) {
  return new TopGunClient({
    serverUrl: `ws://127.0.0.1:${port}/ws`,
    nodeId,
    WebSocket,
    backoff: { initialDelayMs: 50, maxDelayMs: 200 },
    ...options,
  });
}
const allConnected = (...clients) => clients.every((c) => c.getConnectionState() === ConnectionState.CONNECTED);

// Starts the clients and waits until every one is CONNECTED.
async function connect(...clients) {
  for (const c of clients) await c.start();
  await until(() => allConnected(...clients), 'every client connected');
}
const sorted = (map) => map.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

test('two clients converge through the server, and subscribers hear remote changes', async () => {
  const server = await startServer();
  const a = client(server.port, 'alice');
  const b = client(server.port, 'bob');
  try {
    await a.start();
    await b.start();
    const todosA = a.getMap('todos');
    const todosB = b.getMap('todos');
    await until(() => allConnected(a, b), 'both connected');
    const heardByB = [];
    todosB.subscribe((keys) => heardByB.push(...keys));

    todosA.set('t1', { title: 'milk', done: false });
    todosB.setMany([{ key: 't2', value: { title: 'bread', done: true } }, { key: 't3', value: { title: 'eggs' } }]);
    await until(() => todosA.get('t3') !== undefined, "bob's write at alice");
    todosA.remove('t3'); // after seeing it, so the remove is later in HLC order
    await until(() => todosA.entries().length === 2 && todosB.entries().length === 2 && todosB.get('t3') === undefined, 'both lists equal');
    assert.deepEqual(sorted(todosA), sorted(todosB));
    assert.deepEqual(todosB.get('t1'), { title: 'milk', done: false });
    assert.ok(heardByB.includes('t1'));
    await until(() => a.getPendingOpsCount() === 0 && b.getPendingOpsCount() === 0, 'every op acked');
  } finally {
    await a.close();
    await b.close();
    await stopServer(server.child);
  }
});

test('offline writes on both sides converge after the server comes back', async () => {
  let server = await startServer();
  const port = server.port;
  const a = client(port, 'carol');
  const b = client(port, 'dave');
  try {
    await a.start();
    await b.start();
    const notesA = a.getMap('notes');
    const notesB = b.getMap('notes');
    notesA.set('shared', 'from carol, online');
    await until(() => notesB.get('shared') === 'from carol, online', 'the first write to arrive');

    await stopServer(server.child);
    await until(() => a.getConnectionState() !== ConnectionState.CONNECTED && b.getConnectionState() !== ConnectionState.CONNECTED, 'both offline');
    for (let i = 0; i < 20; i++) notesA.set(`a${i}`, i);
    for (let i = 0; i < 20; i++) notesB.set(`b${i}`, i);
    notesB.set('shared', 'from dave, offline'); // the later write wins everywhere
    assert.equal(notesA.get('b0'), undefined); // nothing crosses while the server is down
    assert.equal(a.getPendingOpsCount(), 20);

    server = await startServer(port); // same port and data directory: clients reconnect by themselves
    await until(() => notesA.entries().length === 41 && notesB.entries().length === 41, 'both sides hold all 41 keys', 20000);
    await until(() => notesA.get('shared') === 'from dave, offline', 'the later write on both sides');
    assert.deepEqual(sorted(notesA), sorted(notesB));
    await until(() => a.getPendingOpsCount() === 0 && b.getPendingOpsCount() === 0, 'the op logs drained');
  } finally {
    await a.close();
    await b.close();
    await stopServer(server.child);
  }
});

test('a client that connects later gets earlier writes through the Merkle walk alone', async () => {
  const server = await startServer();
  const writer = client(server.port, 'erin');
  const late = client(server.port, 'frank');
  try {
    await writer.start();
    const items = writer.getMap('items');
    items.setMany(Array.from({ length: 300 }, (_, i) => ({ key: `item-${i}`, value: { i } })));
    items.remove('item-7');
    await until(() => writer.getPendingOpsCount() === 0, 'the writes acked');

    await late.start(); // no SERVER_EVENT can carry these: they happened before it connected
    const copy = late.getMap('items');
    await until(() => copy.entries().length === 299, 'the late client holds every live key', 20000);
    assert.deepEqual(sorted(copy), sorted(items));
    assert.equal(copy.replica.rootHash(), items.replica.rootHash()); // tombstone included
  } finally {
    await writer.close();
    await late.close();
    await stopServer(server.child);
  }
});

test('live queries: local writes show at once, remote ones as they merge; settled once the server answered and the map synced', async () => {
  const server = await startServer();
  const writer = client(server.port, 'gina');
  const reader = client(server.port, 'hank');
  try {
    await connect(writer, reader);
    const tasks = writer.getMap('tasks');
    tasks.setMany(Array.from({ length: 40 }, (_, i) => ({ key: `t${i}`, value: { title: `task ${i}`, prio: i % 10, open: i % 3 !== 0 } })));
    await until(() => writer.getPendingOpsCount() === 0, 'the writes acked');

    // A fresh reader: its replica is empty until the Merkle walk has run, so
    // settling must wait for the walk, not just for QUERY_RESP.
    const top = reader.query('tasks', { where: { open: true }, sort: { prio: 'desc' }, limit: 3, fields: ['prio'] });
    const deltas = [];
    top.onChanges((changes) => deltas.push(...changes));
    assert.equal(await top.whenSettled(10000), true);
    const expected = tasks.replica.query({ where: { open: true }, sort: [{ field: 'prio', direction: 'desc' }], limit: 3, fields: ['prio'] });
    assert.deepEqual(top.getResults(), expected.results);
    assert.equal(top.getPaginationInfo().hasMore, true);
    assert.ok(top.getPaginationInfo().nextCursor);

    // A remote write that tops the window: ENTER for it, LEAVE for the displaced row.
    tasks.set('hot', { title: 'urgent', prio: 100, open: true });
    await until(() => top.getResults()[0]?.key === 'hot', "the writer's row at the top of the reader's window");
    assert.ok(deltas.some((d) => d.type === 'ENTER' && d.key === 'hot' && d.value.prio === 100));
    assert.ok(deltas.some((d) => d.type === 'LEAVE' && d.value === null));
    assert.equal(top.getResults().length, 3);

    // The reader's own write (offline too) changes its results at once.
    let published;
    top.subscribe((results) => (published = results));
    reader.getMap('tasks').remove('hot');
    assert.notEqual(top.getResults()[0].key, 'hot');
    assert.equal(published, top.getResults());

    // queryOnce: the settled rows; offline it refuses unless allowLocal.
    const once = await reader.queryOnce('tasks', { predicate: { op: 'lt', attribute: 'prio', value: 2 } });
    assert.equal(once.settled, true);
    assert.equal(once.results.length, 8);
    // A server that does not answer in time: stopped for certain before the query goes out.
    server.child.kill('SIGSTOP');
    await until(() => processState(server.child.pid) === 'T', 'the server stopped');
    await assert.rejects(reader.queryOnce('tasks', { where: { nosuch: 1 } }, { timeoutMs: 200 }), /did not confirm within 200 ms/);
    server.child.kill('SIGCONT');
    await stopServer(server.child);
    await until(() => reader.getConnectionState() !== ConnectionState.CONNECTED, 'the reader offline');
    await assert.rejects(reader.queryOnce('tasks', { limit: 1 }), /offline/);
    const local = await reader.queryOnce('tasks', { sort: { prio: 'asc' }, limit: 2 }, { allowLocal: true });
    assert.equal(local.settled, false);
    assert.equal(local.results.length, 2);
    assert.throws(() => reader.query('tasks', { predicate: { op: 'nope', attribute: 'a', value: 1 } }), /query: /);
    top.dispose();
  } finally {
    server.child.kill('SIGCONT'); // a failure while it was stopped must not hang the closes below
    await writer.close();
    await reader.close();
    await stopServer(server.child);
  }
});

test("a record whose TTL runs out leaves live queries, local search and subscribers' view; the replica keeps it", async () => {
  const offline = client(1, 'kim', { expirySweepMs: 20 }); // nothing listens on port 1: offline throughout
  await offline.start();
  try {
    const notes = offline.getMap('notes');
    notes.set('keep', { text: 'lasting note', prio: 1 });
    notes.set('brief', { text: 'brief note', prio: 2 }, 1000);
    const top = offline.query('notes', { sort: { prio: 'desc' } });
    assert.deepEqual(top.getResults().map((r) => r.key), ['brief', 'keep']);
    assert.deepEqual(notes.search('note').map((h) => h.key).sort(), ['brief', 'keep']);
    const changes = [];
    top.onChanges((c) => changes.push(...c));
    const heard = [];
    notes.subscribe((keys) => heard.push(...keys));
    const root = notes.replica.rootHash();

    await until(() => top.getResults().length === 1, 'the expired note left the query');
    assert.deepEqual(changes, [{ type: 'LEAVE', key: 'brief', value: null }]);
    assert.deepEqual(heard, ['brief']);
    assert.deepEqual(notes.search('note').map((h) => h.key), ['keep']);
    // Kept for sync: the same records and Merkle root; reported once.
    assert.equal(notes.replica.rootHash(), root);
    assert.equal(notes.replica.size, 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(heard, ['brief']);
    top.dispose();
  } finally {
    await offline.close();
  }
});

test('a callback that writes to the map during a delivery does not reorder the changes other live queries see', async () => {
  const offline = client(1, 'rita'); // nothing listens on port 1: offline throughout
  await offline.start();
  try {
    const m = offline.getMap('m');
    const a = offline.query('m', { sort: { n: 'desc' }, limit: 2 });
    const b = offline.query('m', { sort: { n: 'asc' }, limit: 2 });
    const rows = new Map(); // b's window rebuilt from its changes alone
    b.onChanges((changes) => {
      for (const c of changes) {
        if (c.type === 'LEAVE') rows.delete(c.key);
        else rows.set(c.key, c.value);
      }
    });
    let wrote = false;
    a.onChanges(() => {
      if (wrote) return;
      wrote = true;
      m.remove('k1');
      m.set('k0', { n: 0 });
    });
    m.setMany([{ key: 'k1', value: { n: 1 } }, { key: 'k2', value: { n: 2 } }, { key: 'k3', value: { n: 3 } }]);
    assert.deepEqual(b.getResults().map((r) => r.key), ['k0', 'k2']);
    assert.deepEqual([...rows.keys()].sort(), ['k0', 'k2']);
  } finally {
    await offline.close();
  }
});

test('a standing local search follows local writes, merged remote ones and expiry, offline too; its hits carry current values', async () => {
  const server = await startServer();
  const writer = client(server.port, 'lena');
  const reader = client(server.port, 'omar', { expirySweepMs: 20 });
  try {
    await connect(writer, reader);
    const notes = reader.getMap('notes');
    notes.set('n1', { text: 'buy milk', done: false });
    notes.set('n2', { text: 'walk the dog', done: false });
    const standing = notes.searchSubscribe('milk', { limit: 2 });
    assert.deepEqual(standing.getResults().map((h) => h.key), ['n1']);
    const published = [];
    standing.subscribe((hits) => published.push(hits.map((h) => h.key)));

    // Hits are ranked by the scores last sent, as SEARCH_SUB's: a change moves
    // every score a little but only sends the changed record's.
    const keys = () => standing.getResults().map((h) => h.key).sort();
    notes.set('n3', { text: 'milk and milk again', done: false }); // local: at once
    assert.deepEqual(keys(), ['n1', 'n3']);
    notes.set('n1', { text: 'buy milk', done: true }); // text unchanged: the hit's value follows
    assert.equal(standing.getResults().find((h) => h.key === 'n1').value.done, true);
    writer.getMap('notes').set('w1', { text: 'milk milk milk milk' }); // remote: once merged
    await until(() => keys().includes('w1'), "the writer's note among the hits");
    assert.deepEqual(keys(), ['n3', 'w1']);
    notes.set('n9', { text: 'milk milk oat' }, 300); // expires: leaves the hits, the replica keeps it
    assert.deepEqual(keys(), ['n9', 'w1']);
    notes.remove('n3');
    await until(() => !standing.getResults().some((h) => h.key === 'n9'), 'the expired note gone');
    assert.deepEqual(keys(), ['n1', 'w1']);
    assert.throws(() => notes.enableSearch({ fields: ['text'] }), /close the standing searches first/);

    await stopServer(server.child); // offline: local writes still count
    await until(() => reader.getConnectionState() !== ConnectionState.CONNECTED, 'the reader offline');
    notes.remove('w1');
    assert.deepEqual(keys(), ['n1']);
    standing.dispose();
    const count = published.length;
    notes.set('n4', { text: 'milk' });
    assert.equal(published.length, count, 'a disposed search publishes nothing');
    notes.enableSearch({ fields: ['text'] });
    const late = notes.searchSubscribe('milk');
    await reader.close();
    late.dispose(); // the client closed it with the replica: nothing left to stop
  } finally {
    await writer.close();
    await reader.close();
    await stopServer(server.child);
  }
});

test('QUERY_SUB carries sort in the record form, fields in order, which the reference server 2.2.0 decodes', async () => {
  const { Packr } = await import('msgpackr');
  const sent = [];
  // The client's socket, recording what it sends.
  class RecordingSocket extends WebSocket {
    send(bytes) {
      sent.push(new Packr({ useRecords: false }).unpack(bytes));
      super.send(bytes);
    }
  }
  const server = await startServer();
  const c = client(server.port, 'rita', { WebSocket: RecordingSocket });
  try {
    await connect(c);
    const q = c.query('notes', { sort: [{ field: 'prio', direction: 'desc' }, { field: 'title', direction: 'asc' }], limit: 5 });
    await until(() => q.settled, 'the query settled');
    const sub = sent.find((m) => m.type === 'QUERY_SUB');
    assert.deepEqual(Object.entries(sub.payload.query.sort), [['prio', 'desc'], ['title', 'asc']]);
    assert.equal(sub.payload.query.limit, 5);
  } finally {
    await c.close();
    await stopServer(server.child);
  }
});

test('search: ranked hits with values from the server; a standing search follows changes; local search ranks alike, offline too', async () => {
  const server = await startServer();
  const writer = client(server.port, 'ivy');
  const reader = client(server.port, 'jack');
  try {
    await connect(writer, reader);
    const articles = writer.getMap('articles');
    articles.setMany([
      { key: 'a1', value: { title: 'Offline first apps', body: 'sync when the network returns' } },
      { key: 'a2', value: { title: 'CRDT maps', body: 'offline edits merge without conflicts, offline' } },
      { key: 'a3', value: { title: 'Gardening', body: 'tomatoes need sun' } },
    ]);
    await until(() => writer.getPendingOpsCount() === 0, 'the writes acked');

    const hits = await reader.search('articles', 'offline', { limit: 5 });
    assert.deepEqual(hits.map((h) => h.key).sort(), ['a1', 'a2']);
    assert.ok(hits[0].score >= hits[1].score);
    assert.equal(hits.find((h) => h.key === 'a1').value.title, 'Offline first apps');
    assert.deepEqual(hits[0].matchedTerms, ['offline']);
    // The reader's replica, once synced, finds the same hits with the same scores.
    const local = reader.getMap('articles');
    await until(() => local.entries().length === 3, 'the reader synced the articles');
    assert.deepEqual(local.search('offline', { limit: 5 }), hits);

    const standing = reader.searchSubscribe('articles', 'tomatoes');
    const seen = [];
    standing.subscribe((results) => seen.push(results.map((r) => r.key)));
    await until(() => seen.length >= 1, 'the initial answer');
    assert.deepEqual(standing.getResults().map((r) => r.key), ['a3']);
    articles.set('a4', { title: 'Tomatoes', body: 'tomatoes tomatoes' });
    await until(() => standing.getResults().length === 2, 'the new article enters');
    assert.equal(standing.getResults()[0].key, 'a4');
    articles.remove('a3');
    await until(() => standing.getResults().length === 1, 'the removed article leaves');
    standing.dispose();

    await stopServer(server.child);
    await until(() => reader.getConnectionState() !== ConnectionState.CONNECTED, 'offline');
    await assert.rejects(reader.search('articles', 'offline'), /offline/);
    // Offline, local search still answers, local writes included.
    local.set('a5', { title: 'Written offline', body: 'offline offline offline' });
    assert.deepEqual(local.search('offline').map((h) => h.key), ['a5', 'a2', 'a1']);
  } finally {
    await writer.close();
    await reader.close();
    await stopServer(server.child);
  }
});

test('with a JWT server: a token connects; without one the client waits for setAuthToken, writing locally', async () => {
  const server = await startServer(0, { JWT_SECRET: SECRET });
  const withToken = client(server.port, 'gina', { token: jwt('gina') });
  const tokenless = client(server.port, 'hank');
  try {
    await withToken.start();
    await tokenless.start();
    await until(() => withToken.getConnectionState() === ConnectionState.CONNECTED, 'the token holder connected');
    await until(() => tokenless.getConnectionState() === ConnectionState.AUTHENTICATING, 'the other one waiting');
    await new Promise((r) => setTimeout(r, 700)); // past the no-token grace: still not let in
    assert.equal(tokenless.getConnectionState(), ConnectionState.AUTHENTICATING);
    tokenless.getMap('m').set('k', 'written before auth');
    assert.equal(tokenless.getPendingOpsCount(), 1);

    tokenless.setAuthToken(jwt('hank'));
    await until(() => tokenless.getConnectionState() === ConnectionState.CONNECTED, 'connected after setAuthToken');
    const seen = withToken.getMap('m');
    await until(() => seen.get('k') === 'written before auth', 'the early write synced');
    await until(() => tokenless.getPendingOpsCount() === 0, 'acked');
  } finally {
    await withToken.close();
    await tokenless.close();
    await stopServer(server.child);
  }
});

// A page reload, in Node: a new client on the same storage. fake-indexeddb
// stands in for the browser's IndexedDB.
for (const [adapter, makeStorage] of [
  ['memory', () => new MemoryStorage()],
  ['IndexedDB', () => new IndexedDBStorage(`reload-${Date.now()}`)],
]) {
  test(`a restarted client restores maps and unsent writes from ${adapter} storage before the network answers`, async () => {
    let server = await startServer();
    const port = server.port;
    await stopServer(server.child); // offline from the start
    const storage = makeStorage();
    const first = client(port, 'ivy', { storage });
    await first.start();
    const list = first.getMap('list');
    list.setMany(Array.from({ length: 10 }, (_, i) => ({ key: `e${i}`, value: { i } })));
    list.remove('e9');
    const labels = first.getORMap(`labels-${adapter}`);
    labels.add('l1', 'red');
    labels.add('l1', 'green');
    labels.remove('l1', 'red');
    await first.close();

    const reloaded = client(port, 'ivy', { storage });
    await reloaded.start();
    const restored = reloaded.getMap('list');
    assert.equal(restored.entries().length, 9); // at once, from storage
    assert.deepEqual(restored.get('e3'), { i: 3 });
    assert.deepEqual(reloaded.getORMap(`labels-${adapter}`).get('l1'), ['green']);
    assert.equal(reloaded.getPendingOpsCount(), 14);

    server = await startServer(port);
    const observer = client(port, 'jack');
    try {
      await observer.start();
      const seen = observer.getMap('list');
      const seenLabels = observer.getORMap(`labels-${adapter}`); // one map per adapter: the tests share the server's data
      await until(() => reloaded.getPendingOpsCount() === 0, 'the restored op log acked');
      await until(() => seen.entries().length === 9, 'the writes reached another client');
      assert.deepEqual(sorted(seen), sorted(restored));
      await until(() => JSON.stringify(seenLabels.get('l1')) === '["green"]', 'the OR writes reached another client');
      await reloaded.close();
      const third = client(port, 'ivy', { storage });
      await third.start();
      assert.equal(third.getPendingOpsCount(), 0); // acked ops were deleted from storage
      await third.close();
    } finally {
      await observer.close();
      await stopServer(server.child);
    }
  });
}

test('flush() saves a change merged from the server at once, so a reload right after it has the change offline', async () => {
  const server = await startServer();
  const storage = new IndexedDBStorage(`flush-${Date.now()}`);
  const writer = client(server.port, 'nia');
  const reader = client(server.port, 'oto', { storage });
  const reloaded = client(server.port, 'oto', { storage });
  let serverUp = true;
  try {
    await connect(writer, reader);
    writer.getMap('flushed').set('k', { v: 1 });
    await until(() => reader.getMap('flushed').get('k')?.v === 1, 'the remote write merged');
    await reader.flush(); // well inside the 100 ms snapshot delay
    // Stored when flush() resolves, not by the delayed save.
    const saved = new LwwReplica('check');
    saved.restore(await storage.get('map:flushed'));
    assert.deepEqual(saved.get('k'), { v: 1 });
    saved.dispose();
    await stopServer(server.child);
    serverUp = false;
    await reloaded.start();
    assert.deepEqual(reloaded.getMap('flushed').get('k'), { v: 1 });
  } finally {
    await reloaded.close();
    await writer.close();
    await reader.close();
    if (serverUp) await stopServer(server.child);
  }
});

test('PN counters: increments from two clients, one of them offline, add up everywhere and survive a reload', async () => {
  let server = await startServer();
  const port = server.port;
  const storage = new MemoryStorage();
  const a = client(port, 'kim', { storage });
  const b = client(port, 'lee');
  try {
    await a.start();
    await b.start();
    const likesA = a.getPNCounter('likes');
    const likesB = b.getPNCounter('likes');
    const heard = [];
    likesB.subscribe((value) => heard.push(value));
    likesA.increment();
    likesA.addAndGet(4);
    likesB.decrement();
    await until(() => likesA.get() === 4 && likesB.get() === 4, 'both at 5 - 1');
    assert.ok(heard.includes(4));

    await stopServer(server.child);
    await until(() => a.getConnectionState() !== ConnectionState.CONNECTED, 'offline');
    likesA.addAndGet(10); // offline
    assert.equal(likesA.get(), 14);
    server = await startServer(port); // the server keeps counters in its store; the client pushes its state anyway
    await until(() => likesB.get() === 14, 'the offline increments reached the other client', 20000);

    await a.close();
    const reloaded = client(port, 'kim', { storage });
    await reloaded.start();
    assert.equal(reloaded.getPNCounter('likes').get(), 14); // from storage, before the network
    await reloaded.close();
  } finally {
    await a.close();
    await b.close();
    await stopServer(server.child);
  }
});

test('PnCounter in the core: merge is per-node max, state bytes round-trip, bad states are errors', async () => {
  const { PnCounter } = await import('../src/index.js');
  const x = new PnCounter('x');
  const y = new PnCounter('y');
  x.add(3);
  y.add(-2);
  y.add(5);
  assert.equal(x.merge(y.state()), true);
  assert.equal(x.merge(y.stateBytes()), false); // nothing new
  assert.equal(y.merge(x.state()), true);
  assert.equal(x.value, 6);
  assert.equal(y.value, 6);
  assert.deepEqual(y.state().positive, { x: 3, y: 5 });
  assert.throws(() => x.merge({ positive: 'lots' }), /merge: wrong type at positive/);
  assert.equal(x.value, 6);
  x.dispose();
  y.dispose();
});

test('OR maps: concurrent adds both survive, an observed remove syncs, offline adds converge through the OR Merkle walk', async () => {
  let server = await startServer();
  const port = server.port;
  const a = client(port, 'mia');
  const b = client(port, 'ned');
  try {
    await a.start();
    await b.start();
    const tagsA = a.getORMap('tags');
    const tagsB = b.getORMap('tags');
    await until(() => allConnected(a, b), 'both connected');
    tagsA.add('post-1', 'red');
    tagsB.add('post-1', 'blue');
    await until(() => tagsA.get('post-1').length === 2 && tagsB.get('post-1').length === 2, 'both adds everywhere');
    tagsB.remove('post-1', 'red');
    await until(() => tagsA.get('post-1').length === 1, 'the remove at the other client');
    assert.deepEqual(tagsA.get('post-1'), ['blue']);

    await stopServer(server.child);
    await until(() => a.getConnectionState() !== ConnectionState.CONNECTED, 'offline');
    for (let i = 0; i < 30; i++) tagsA.add(`post-${i % 10}`, `a${i}`);
    tagsB.add('post-9', 'from-b');
    server = await startServer(port);
    const flat = (map) => map.entries().map(([k, vs]) => [k, [...vs].sort()]).sort(([x], [y]) => (x < y ? -1 : 1));
    await until(() => JSON.stringify(flat(tagsA)) === JSON.stringify(flat(tagsB)) && tagsB.get('post-9').length === 4, 'OR maps converge', 20000);
    assert.equal(tagsA.replica.rootHash(), tagsB.replica.rootHash());

    // A late joiner gets the whole OR map through ORMAP_SYNC_INIT and the walk.
    const late = client(port, 'ola');
    await late.start();
    const tagsLate = late.getORMap('tags');
    await until(() => tagsLate.replica.rootHash() === tagsA.replica.rootHash(), 'the late joiner synced', 20000);
    assert.deepEqual(flat(tagsLate), flat(tagsA));
    await late.close();
  } finally {
    await a.close();
    await b.close();
    await stopServer(server.child);
  }
});

test('topics: messages reach the other subscribers in order, not the publisher; offline publishes go out on reconnect', async () => {
  let server = await startServer();
  const port = server.port;
  // The publisher reconnects slowly, so the subscriber is back (and subscribed
  // again) before the queued publish goes out.
  const a = client(port, 'pat', { backoff: { initialDelayMs: 1500, maxDelayMs: 1500, jitter: 0.1 } });
  const b = client(port, 'quinn');
  try {
    await connect(a, b);
    const gotA = [];
    const gotB = [];
    a.topic('chat/lobby').subscribe((data) => gotA.push(data));
    const stop = b.topic('chat/lobby').subscribe((data, meta) => gotB.push([data, typeof meta.timestamp]));
    await new Promise((r) => setTimeout(r, 100)); // the subscriptions reach the server
    for (let i = 0; i < 20; i++) a.topic('chat/lobby').publish({ i });
    await until(() => gotB.length === 20, 'every message at the subscriber');
    assert.deepEqual(gotB.map(([d]) => d.i), Array.from({ length: 20 }, (_, i) => i));
    assert.equal(gotB[0][1], 'number');
    assert.deepEqual(gotA, []); // not to the publisher

    await stopServer(server.child);
    await until(() => a.getConnectionState() !== ConnectionState.CONNECTED, 'offline');
    a.topic('chat/lobby').publish('sent while offline');
    server = await startServer(port);
    await until(() => gotB.some(([d]) => d === 'sent while offline'), 'the queued publish after reconnect', 20000);
    stop();
    await new Promise((r) => setTimeout(r, 100));
    a.topic('chat/lobby').publish('after unsubscribe');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!gotB.some(([d]) => d === 'after unsubscribe'));
  } finally {
    await a.close();
    await b.close();
    await stopServer(server.child);
  }
});

test('locks: one holder at a time with growing fencing tokens; a waiter gets the lock when the holder releases', async () => {
  const server = await startServer();
  const a = client(server.port, 'rae');
  const b = client(server.port, 'sam');
  try {
    await connect(a, b);
    const lockA = a.getLock('jobs/nightly');
    const lockB = b.getLock('jobs/nightly');
    assert.equal(await lockA.lock(), true);
    const first = lockA.fencingToken;
    const waiting = lockB.lock(); // queued on the server
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(lockB.isLocked(), false);
    assert.equal(await lockA.unlock(), true);
    assert.equal(await waiting, true);
    assert.ok(lockB.fencingToken > first);
    assert.equal(await lockA.unlock(), false); // not held any more
    assert.equal(await a.getLock('bad name').lock(), false);
  } finally {
    await a.close();
    await b.close();
    await stopServer(server.child);
  }
});

test('locks: a request waiting when the connection drops resolves false at once', async () => {
  const server = await startServer();
  const a = client(server.port, 'tess');
  const b = client(server.port, 'uma');
  try {
    await connect(a, b);
    assert.equal(await a.getLock('l').lock(), true);
    const waiting = b.getLock('l').lock(60000); // would wait up to 65 s on the client
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await stopServer(server.child);
    assert.equal(await waiting, false);
    assert.ok(Date.now() - started < 2000);
  } finally {
    await a.close();
    await b.close();
  }
});

test('confirmWrite: synced once acked, failed when the server rejects the op, offline without a connection', async () => {
  const server = await startServer();
  const a = client(server.port, 'vic');
  try {
    await a.start();
    await until(() => a.getConnectionState() === ConnectionState.CONNECTED, 'connected');
    a.getMap('notes').set('k', 1);
    assert.equal(await a.confirmWrite('notes', 'k'), 'synced');
    assert.equal(await a.confirmWrite('notes', 'never-written'), 'synced');
    a.getMap('_topgun_reserved').set('k', 1); // reserved map names are refused with OP_REJECTED
    assert.equal(await a.confirmWrite('_topgun_reserved', 'k'), 'failed');
    await stopServer(server.child);
    await until(() => a.getConnectionState() !== ConnectionState.CONNECTED, 'offline');
    a.getMap('notes').set('k', 2);
    assert.equal(await a.confirmWrite('notes', 'k'), 'offline');
  } finally {
    await a.close();
  }
});

test('event journal: PUT, UPDATE and DELETE with previous values; reads by sequence; a subscription resumes after a dropped connection', async () => {
  const server = await startServer();
  const sockets = [];
  class TrackedWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  }
  const reader = client(server.port, 'vera', { WebSocket: TrackedWebSocket });
  const writer = client(server.port, 'walt');
  try {
    await connect(reader, writer);
    const journal = reader.getEventJournal();
    const start = (await journal.getLatestSequence()) + 1n;
    const seen = [];
    const deletes = [];
    journal.subscribe((e) => seen.push(e), { mapName: 'audit' });
    journal.subscribe((e) => deletes.push(e), { mapName: 'audit', types: ['DELETE'] });
    await new Promise((r) => setTimeout(r, 100)); // the subscriptions reach the server first

    const audit = writer.getMap('audit');
    audit.set('k', { n: 1 });
    audit.set('k', { n: 2 });
    writer.getMap('elsewhere').set('x', 1);
    audit.remove('k');
    await until(() => seen.length === 3, 'three journal events');
    assert.deepEqual(seen.map((e) => e.type), ['PUT', 'UPDATE', 'DELETE']);
    assert.deepEqual(seen.map((e) => typeof e.sequence), ['bigint', 'bigint', 'bigint']);
    assert.deepEqual(seen[1].previousValue, { n: 1 });
    assert.deepEqual(seen[1].value, { n: 2 });
    assert.deepEqual(seen[2].previousValue, { n: 2 });
    assert.equal(seen[0].nodeId, 'walt');
    assert.deepEqual(deletes.map((e) => e.sequence), [seen[2].sequence]);

    const read = await journal.readFrom(start, 10);
    assert.deepEqual(read.map((e) => [e.mapName, e.type]), [['audit', 'PUT'], ['audit', 'UPDATE'], ['elsewhere', 'PUT'], ['audit', 'DELETE']]);
    assert.deepEqual((await journal.readMapEvents('audit', start, 2)).map((e) => e.type), ['PUT', 'UPDATE']);
    assert.equal(await journal.getLatestSequence(), read.at(-1).sequence);

    // The reader's connection drops; what is written meanwhile arrives after it reconnects, once.
    let offlineRead;
    reader.onConnectionStateChange((state) => {
      if (state !== ConnectionState.CONNECTED) offlineRead ??= journal.readFrom(0n).then(() => 'answered', (e) => e.message);
    });
    sockets.at(-1).terminate();
    await until(() => offlineRead, 'the reader offline');
    assert.match(await offlineRead, /offline/);
    audit.set('k', { n: 3 });
    audit.set('j', { n: 4 });
    await until(() => reader.getConnectionState() === ConnectionState.CONNECTED, 'the reader back');
    await until(() => seen.length === 5, 'the two events written while offline');
    // Keys on different workers get their sequences in either order.
    assert.deepEqual(seen.slice(3).map((e) => [e.key, e.type]).sort(), [['j', 'PUT'], ['k', 'PUT']]);
    assert.deepEqual([...new Set(seen.map((e) => e.sequence))].length, 5); // no repeats
  } finally {
    await reader.close();
    await writer.close();
    await stopServer(server.child);
  }
});
