// Drives the real topgun-server with a protocol client written in JS, the way
// the reference TS client speaks (PROTOCOL.md §14): msgpackr frames over `ws`,
// AUTH sent as soon as the socket opens (and again on AUTH_REQUIRED), the
// pending op log replayed as one OP_BATCH, and the SYNC_INIT Merkle walk with
// the client's own hashing (FNV-1a over UTF-16, fmix32 combine, depth 3).
//
// TOPGUN_SERVER_BINARY names the binary (CTest sets it per preset).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';
import { signJwt, startServer, stopServer } from '../support/topgun_server.mjs';

const SECRET = 'test-e2e-secret';

// ---- the client's Merkle hashing (PROTOCOL.md §6.1–6.3) ----
function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
function mix(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
const combine = (hashes) => hashes.reduce((sum, h) => (sum + mix(h)) >>> 0, 0);
const pathOf = (key) => fnv1a(key).toString(16).padStart(8, '0');

// A depth-3 trie rebuilt on demand: small test maps only.
class Replica {
  constructor() { this.records = new Map(); }
  merge(key, record) {
    const mine = this.records.get(key);
    if (!mine || compareTs(record.timestamp, mine.timestamp) > 0) this.records.set(key, record);
  }
  itemHash(key) {
    const t = this.records.get(key).timestamp;
    return fnv1a(`${key}:${t.millis}:${t.counter}:${t.nodeId}`);
  }
  nodeHash(path) {
    if (path.length === 3) {
      const items = [...this.records.keys()].filter((k) => pathOf(k).startsWith(path)).map((k) => this.itemHash(k));
      return combine(items);
    }
    const children = new Set([...this.records.keys()].map((k) => pathOf(k)).filter((p) => p.startsWith(path)).map((p) => p[path.length]));
    return combine([...children].map((c) => this.nodeHash(path + c)));
  }
  root() { return this.records.size === 0 ? 0 : this.nodeHash(''); }
}
function compareTs(a, b) {
  if (a.millis !== b.millis) return a.millis < b.millis ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

// A client with an inbox: next(type) resolves with the next message of that type.
class Client {
  constructor(port, token) {
    this.inbox = [];
    this.waiters = [];
    this.ws = new WebSocket(`ws://localhost:${port}/ws`);
    this.ws.binaryType = 'nodebuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('open', () => {
        if (token) this.send({ type: 'AUTH', token }); // sent at once, as the TS client does
        resolve();
      });
      this.ws.on('error', reject);
    });
    this.ws.on('message', (data) => {
      const msg = unpack(data);
      if (msg.type === 'AUTH_REQUIRED' && token) this.send({ type: 'AUTH', token }); // and again
      if (msg.type === 'SERVER_BATCH_EVENT') {
        // As the TS client does: each event of the batch, in order.
        this.batchFrames = (this.batchFrames ?? 0) + 1;
        for (const payload of msg.payload.events) this.inbox.push({ type: 'SERVER_EVENT', payload });
      } else {
        this.inbox.push(msg);
      }
      this.flush();
    });
  }
  send(msg) { this.ws.send(pack(msg)); }
  flush() {
    for (const w of [...this.waiters]) {
      const i = this.inbox.findIndex((m) => m.type === w.type);
      if (i >= 0) {
        const [m] = this.inbox.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  }
  next(type, ms = 5000) {
    return new Promise((resolve, reject) => {
      const w = { type, resolve, timer: setTimeout(() => reject(new Error(`no ${type} within ${ms} ms`)), ms) };
      this.waiters.push(w);
      this.flush();
    });
  }
  close() { this.ws.close(); }
}

// The TS client's LWW walk (§6.5): descend where hashes differ, merge leaves.
async function syncWalk(client, mapName, replica) {
  client.send({ type: 'SYNC_INIT', mapName, lastSyncTimestamp: 0 });
  const root = await client.next('SYNC_RESP_ROOT');
  if (root.payload.rootHash === replica.root()) return 0;
  let requests = 0;
  const pending = [''];
  while (pending.length) {
    const path = pending.pop();
    client.send({ type: 'MERKLE_REQ_BUCKET', payload: { mapName, path } });
    requests++;
    if (path.length < 3) {
      const { payload } = await client.next('SYNC_RESP_BUCKETS');
      for (const [c, hash] of Object.entries(payload.buckets)) {
        if (replica.nodeHash(path + c) !== hash) pending.push(path + c);
      }
    } else {
      const { payload } = await client.next('SYNC_RESP_LEAF');
      for (const { key, record } of payload.records) replica.merge(key, record);
    }
  }
  return requests;
}

test('a JS protocol client: token on open, op-log replay, fan-out, Merkle walk', async () => {
  const { child, port } = await startServer({ env: { JWT_SECRET: SECRET, STORAGE_BACKEND: 'memory' } });
  const now = Date.now();
  const token = signJwt(SECRET, { sub: 'alice', roles: ['user'], exp: Math.floor(now / 1000) + 3600 });
  const writer = new Client(port, token);
  const reader = new Client(port, token);
  try {
    await Promise.all([writer.opened, reader.opened]);
    await writer.next('AUTH_REQUIRED');
    assert.equal((await writer.next('AUTH_ACK')).userId, 'alice');
    await reader.next('AUTH_ACK');

    // The reader holds the map (SYNC_INIT), so it hears the writer's ops.
    const replica = new Replica();
    assert.equal(await syncWalk(reader, 'todos', replica), 0); // both empty

    // The op log: ids are increasing integers; records carry client HLC stamps.
    const ops = [];
    for (let i = 1; i <= 25; i++) {
      ops.push({ id: String(i), mapName: 'todos', opType: 'PUT', key: `todo:${i}`,
        record: { value: { title: `task ${i}`, done: i % 2 === 0 }, timestamp: { millis: now, counter: i, nodeId: 'js-client' } } });
    }
    writer.send({ type: 'OP_BATCH', payload: { ops } });
    const ack = await writer.next('OP_ACK');
    assert.equal(ack.payload.lastId, '25');
    assert.equal(ack.payload.achievedLevel, 'APPLIED');
    for (let i = 0; i < 25; i++) {
      const ev = await reader.next('SERVER_EVENT');
      replica.merge(ev.payload.key, ev.payload.record);
    }
    assert.ok(reader.batchFrames > 0, 'a batch of writes reaches a holder in SERVER_BATCH_EVENT frames');

    // Reconnect replay: the whole pending log again is harmless.
    writer.send({ type: 'OP_BATCH', payload: { ops } });
    assert.equal((await writer.next('OP_ACK')).payload.lastId, '25');

    // Equal data, equal roots (D4): the walk ends at the root.
    assert.equal(await syncWalk(reader, 'todos', replica), 0);

    // A fresh replica pulls everything through buckets and leaves.
    const fresh = new Replica();
    assert.ok((await syncWalk(reader, 'todos', fresh)) > 0);
    assert.equal(fresh.records.size, 25);
    assert.deepEqual(fresh.records.get('todo:7').value, { title: 'task 7', done: false });
    assert.equal(fresh.root(), replica.root());

    writer.send({ type: 'PING', timestamp: now });
    assert.equal((await writer.next('PONG')).timestamp, now);
  } finally {
    writer.close();
    reader.close();
    assert.equal(await stopServer(child), 0);
  }
});
