// The WASM LWW replica through the package's JS layer: convergence in any
// delivery order, Merkle hashes equal to the reference client's, the Merkle
// walk, snapshots, and malformed input refused with the replica unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore, LwwReplica } from '../src/core.js';
import { pick, rng, shuffled, writeLocallyOrRemotely } from './random.mjs';

await loadCore();

const sortedEntries = (replica) => replica.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function randomValue(random) {
  return pick(random, [
    () => Math.floor(random() * 1000) - 500,
    () => random() * 100,
    () => `s${Math.floor(random() * 50)}`,
    () => ({ name: `n${Math.floor(random() * 9)}`, tags: [1, 'two', null], nested: { ok: random() < 0.5 } }),
    () => [random() < 0.5, 'x'],
    () => null, // a remove
  ])();
}

test('property: three replicas converge whatever the delivery order, duplicates included', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const random = rng(seed);
    const writers = ['a', 'b', 'c'].map((id) => new LwwReplica(id));
    const produced = [];
    for (let step = 0; step < 60; step++) {
      const writer = pick(random, writers);
      const writes = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
        key: `k${Math.floor(random() * 12)}`,
        value: randomValue(random),
      }));
      produced.push(...writer.applyLocal(writes));
    }
    // Two fresh replica sets fed everything in different orders, with repeats.
    const states = [0, 1].map(() => {
      const readers = ['r1', 'r2', 'r3'].map((id) => new LwwReplica(id));
      for (const reader of readers) {
        const order = shuffled(random, [...produced, ...produced.slice(0, 10)]);
        for (let i = 0; i < order.length; i += 7) reader.merge(order.slice(i, i + 7));
      }
      const roots = readers.map((r) => r.rootHash());
      const contents = readers.map(sortedEntries);
      for (const r of readers.slice(1)) assert.deepEqual(sortedEntries(r), contents[0], `seed ${seed}`);
      assert.equal(new Set(roots).size, 1, `seed ${seed}: roots differ`);
      readers.forEach((r) => r.dispose());
      return { root: roots[0], content: contents[0] };
    });
    assert.deepEqual(states[1], states[0], `seed ${seed}: another order gave another state`);
    // The writers converge too once each has everything.
    for (const w of writers) w.merge(produced);
    for (const w of writers) assert.equal(w.rootHash(), states[0].root, `seed ${seed}`);
    writers.forEach((w) => w.dispose());
  }
});

test('Merkle hashes match PROTOCOL.md §16 (the reference client), and the walk reaches every record', () => {
  const r = new LwwReplica('n');
  const record = { value: 'v', timestamp: { millis: 100, counter: 0, nodeId: 'test' } };
  assert.deepEqual(r.merge([{ key: 'key1', record }]), { changed: ['key1'], driftRejected: [] });
  assert.equal(r.rootHash(), 2138087518);
  assert.deepEqual(r.buckets(''), { 3: 901871431 });
  assert.deepEqual(r.buckets('3'), { 7: 1873562393 });
  assert.deepEqual(r.buckets('37'), { 4: 3907692941 });
  assert.deepEqual(r.leaf('374'), [{ key: 'key1', record }]);

  const many = new LwwReplica('m');
  many.applyLocal(Array.from({ length: 300 }, (_, i) => ({ key: `key${i}`, value: i })));
  many.remove('key7');
  const seen = [];
  const walk = (path) => {
    const children = many.buckets(path);
    if (Object.keys(children).length === 0) seen.push(...many.leaf(path));
    for (const digit of Object.keys(children)) walk(path + digit);
  };
  walk('');
  assert.equal(seen.length, 300); // the tombstone of key7 included
  assert.equal(seen.find((e) => e.key === 'key7').record.value, null);
  r.dispose();
  many.dispose();
});

test('equal contents give equal roots; any difference changes the root', () => {
  const a = new LwwReplica('a');
  const b = new LwwReplica('b');
  const records = a.applyLocal([{ key: 'x', value: 1 }, { key: 'y', value: 'two' }]);
  b.merge(records);
  assert.equal(a.rootHash(), b.rootHash());
  b.merge(a.applyLocal([{ key: 'x', value: 3 }]).slice(0, 0)); // nothing delivered
  assert.notEqual(a.rootHash(), b.rootHash());
  a.dispose();
  b.dispose();
});

test('local writes return wire records; TTL and removes are tombstones or expiries on the wire', () => {
  const r = new LwwReplica('w');
  const [put, temp] = r.applyLocal([{ key: 'p', value: { a: 1 } }, { key: 't', value: 5, ttlMs: 60000 }]);
  assert.equal(put.key, 'p');
  assert.deepEqual(put.record.value, { a: 1 });
  assert.equal(put.record.timestamp.nodeId, 'w');
  assert.equal(temp.record.ttlMs, 60000);
  const removed = r.remove('p');
  assert.equal(removed.value, null);
  assert.ok(removed.timestamp.millis > put.record.timestamp.millis || removed.timestamp.counter > put.record.timestamp.counter);
  assert.equal(r.get('p'), undefined);
  assert.equal(r.get('t'), 5);
  assert.equal(r.size, 2); // the tombstone stays
  r.dispose();
});

test('local writes return exactly the records the replica stored, stamped in order', async () => {
  const { Packr } = await import('msgpackr');
  const r = new LwwReplica('s');
  const written = r.applyLocal([
    { key: 'a', value: 1 },
    { key: 'b', value: { x: [1, 'two'] }, ttlMs: 5000 },
    { key: 'c', value: 2, ttlMs: 0 },
    { key: 'a', value: undefined },
  ]);
  const stored = new Map(new Packr({ useRecords: false }).unpack(r.snapshot()).records.map(({ key, record }) => [key, record]));
  assert.deepEqual(written.slice(1).map(({ record }) => record), ['b', 'c', 'a'].map((key) => stored.get(key)));
  assert.equal('ttlMs' in written[2].record, false); // a TTL of 0 is none
  const stamps = written.map(({ record: { timestamp } }) => [timestamp.millis, timestamp.counter]);
  for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i][0] > stamps[i - 1][0] || (stamps[i][0] === stamps[i - 1][0] && stamps[i][1] > stamps[i - 1][1]), `${stamps}`);
  r.dispose();
});

test('snapshot and restore round-trip every record, tombstones included', () => {
  const a = new LwwReplica('a');
  a.applyLocal(Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: { i, s: 'é'.repeat(i % 4) } })));
  a.remove('k3');
  const b = new LwwReplica('b');
  b.restore(a.snapshot());
  assert.equal(b.size, a.size);
  assert.equal(b.rootHash(), a.rootHash());
  assert.deepEqual(sortedEntries(b), sortedEntries(a));
  a.dispose();
  b.dispose();
});

test('malformed input is an Error and changes nothing', async () => {
  const { Packr } = await import('msgpackr');
  const r = new LwwReplica('m');
  r.applyLocal([{ key: 'keep', value: 1 }]);
  const root = r.rootHash();
  const snapshot = r.snapshot();
  assert.throws(() => r.merge([{ key: 'a', record: { value: 1, timestamp: { millis: 'soon', counter: 0, nodeId: 'x' } } }]), /merge: wrong type at records\[0\]\.record\.timestamp\.millis/);
  assert.throws(() => r.merge([{ key: 'ok', record: { value: 1, timestamp: { millis: 1, counter: 0, nodeId: 'x' } } }, { key: 2 }]), /records\[1\]\.key/);
  assert.throws(() => r.applyLocal([{ key: 'a', value: 1 }, { value: 2 }]), /applyLocal: .*key/);
  assert.throws(() => r.restore(snapshot.subarray(0, snapshot.length - 3)), /truncated/);
  assert.throws(() => r.restore(new Uint8Array([0xc1, 0xff, 0x00])), /merge:/);
  let deep = 0;
  for (let i = 0; i < 300; i++) deep = [deep];
  assert.throws(() => r.applyLocal([{ key: 'deep', value: deep }]), /deep|nesting|depth/i);
  assert.throws(() => r.restore(new Packr({ useRecords: false }).pack({ records: 'no' })), /records/);
  assert.equal(r.rootHash(), root);
  assert.equal(r.size, 1);
  assert.equal(r.get('ok'), undefined);
  assert.throws(() => new LwwReplica('a:b'), /invalid node id/);
  assert.throws(() => new LwwReplica(''), /invalid node id/);
  r.dispose();
  assert.throws(() => r.size, /after dispose/);
});

// Random writes and removes, local or merged, over `keys` keys of a replica
// with `queries` live: after each, every live window (applied from the
// replica's events) equals the query run once, in order. Returns how many
// rows the one-shot queries returned in all.
function checkLiveQueries(queries, randomValue, { seeds, steps, keys }) {
  let matched = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const random = rng(seed);
    const replica = new LwwReplica('q');
    const live = queries.map((q) => {
      const page = replica.addQuery(q);
      return { q, id: page.id, rows: new Map(page.results.map((r) => [r.key, r.value])) };
    });
    for (let step = 0; step < steps; step++) {
      writeLocallyOrRemotely(random, replica, `k${Math.floor(random() * keys)}`, random() < 0.2 ? null : randomValue(random));
      for (const u of replica.takeQueryEvents()) {
        const { rows } = live.find((l) => l.id === u.queryId);
        if (u.changeType === 'LEAVE') assert.ok(rows.delete(u.key), `seed ${seed}: LEAVE of a row not there`);
        else rows.set(u.key, u.value);
      }
      for (const { q, id, rows } of live) {
        const once = replica.query(q).results;
        matched += once.length;
        assert.deepEqual(new Map(once.map((r) => [r.key, r.value])), rows, `seed ${seed} step ${step} query ${JSON.stringify(q)}`);
        assert.deepEqual(replica.queryPage(id).results, once, 'the live page is the one-shot page, in order');
      }
    }
    for (const { id } of live) assert.equal(replica.removeQuery(id), true);
    replica.applyLocal([{ key: 'after', value: randomValue(random) }]);
    assert.deepEqual(replica.takeQueryEvents(), [], 'removed queries report nothing');
    replica.dispose();
  }
  return matched;
}

test('property: a live query on the replica always equals the same query run once', () => {
  const queries = [
    { where: { group: 1 } },
    { predicate: { op: 'gte', attribute: 'score', value: 50 }, sort: { score: 'desc' }, limit: 3 },
    { predicate: { op: 'lt', attribute: 'score', value: 30 }, sort: [{ field: 'score', direction: 'asc' }], limit: 2, fields: ['score'] },
    { groupBy: ['group'], aggregations: [{ func: 'count' }, { func: 'sum', field: 'score' }] },
  ];
  const value = (random) => ({ score: Math.floor(random() * 100), group: Math.floor(random() * 3) });
  checkLiveQueries(queries, value, { seeds: 10, steps: 120, keys: 25 });
});

test('full-text leaves in queries: ranked by BM25 over the replica, live windows equal the query run once', () => {
  const words = ['red', 'fox', 'quick', 'brown', 'lazy', 'dog', 'jumps'];
  const queries = [
    { predicate: { op: 'match', attribute: 'text', query: 'fox' } },
    { predicate: { op: 'and', children: [{ op: 'matchPhrase', attribute: 'text', query: 'red fox' }, { op: 'gte', attribute: 'score', value: 20 }] }, sort: { score: 'desc' }, limit: 3 },
    // Corpus-dependent: prefix terms and a minScore move with every write.
    { predicate: { op: 'matchPrefix', attribute: 'text', query: 'la', matchOptions: { minScore: 0.3 } } },
    { predicate: { op: 'or', children: [{ op: 'match', attribute: 'title', query: 'dog', matchOptions: { fuzziness: 1 } }, { op: 'eq', attribute: 'score', value: 7 }] } },
  ];
  const phrase = (random, n) => Array.from({ length: n }, () => pick(random, words)).join(' ');
  const value = (random) => ({ text: phrase(random, 1 + Math.floor(random() * 5)), title: phrase(random, 2), score: Math.floor(random() * 40) });
  assert.ok(checkLiveQueries(queries, value, { seeds: 6, steps: 80, keys: 20 }) > 0, 'the full-text queries matched something');

  // A match is a word of the attribute's text, whatever its case; other attributes do not count.
  const replica = new LwwReplica('q');
  replica.applyLocal([
    { key: 'a', value: { text: 'The Red Fox', title: 'x' } },
    { key: 'b', value: { text: 'a red hen', title: 'fox' } },
    { key: 'c', value: { text: 'foxes' } },
  ]);
  assert.deepEqual(replica.query({ predicate: { op: 'match', attribute: 'text', query: 'FOX' } }).results.map((r) => r.key), ['a']);
  assert.deepEqual(replica.query({ predicate: { op: 'matchPrefix', attribute: 'text', query: 'fox' } }).results.map((r) => r.key), ['a', 'c']);
  assert.throws(() => replica.query({ predicate: { op: 'match', attribute: 'text', query: 'fox', matchOptions: { fuzziness: 5 } } }), /query: .*fuzziness/);
  replica.dispose();
});

test('queries that cannot run throw with the reason; cursors page through the replica', () => {
  const replica = new LwwReplica('q');
  assert.throws(() => replica.query({ predicate: { op: 'frobnicate', attribute: 'a', value: 1 } }), /query: .*frobnicate/);
  assert.throws(() => replica.addQuery({ groupBy: ['g'], aggregations: [{ func: 'sum' }] }), /query: .*needs a field/);
  replica.applyLocal(Array.from({ length: 7 }, (_, i) => ({ key: `k${i}`, value: { n: i } })));
  const q = { sort: { n: 'desc' }, limit: 3 };
  const seen = [];
  let page = replica.query(q);
  for (;;) {
    seen.push(...page.results.map((r) => r.value.n));
    if (!page.hasMore) break;
    page = replica.query({ ...q, cursor: page.nextCursor });
    assert.equal(page.cursorStatus, 'valid');
  }
  assert.deepEqual(seen, [6, 5, 4, 3, 2, 1, 0]);
  replica.dispose();
});

test('reportExpired names each record whose TTL ran out once, keeps it, and sees TTLs that came by merge', async () => {
  const source = new LwwReplica('source');
  const replica = new LwwReplica('replica');
  replica.set('plain', 1);
  assert.deepEqual(replica.reportExpired(), []);
  replica.merge(source.applyLocal([{ key: 'remote', value: 'r', ttlMs: 500 }]));
  const { id, results } = replica.addQuery({});
  assert.deepEqual(results.map((r) => r.key).sort(), ['plain', 'remote']);
  const root = replica.rootHash();
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.deepEqual(replica.reportExpired(), ['remote']);
  assert.deepEqual(
    replica.takeQueryEvents().map(({ queryId, key, changeType }) => [queryId, key, changeType]),
    [[id, 'remote', 'LEAVE']],
  );
  assert.deepEqual(replica.reportExpired(), []);
  assert.equal(replica.size, 2);
  assert.equal(replica.rootHash(), root);
  source.dispose();
  replica.dispose();
});
