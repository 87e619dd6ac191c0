// The WASM OR-map replica: add-wins convergence in any delivery order, the
// sync pieces (leaf entries merged into a fresh replica reproduce the root),
// snapshots, and malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore, OrReplica } from '../src/index.js';
import { pick, rng, shuffled } from './random.mjs';

await loadCore();

const canonical = (replica) =>
  replica
    .entries()
    .map(([key, values]) => [key, values.map((v) => JSON.stringify(v)).sort()])
    .sort(([a], [b]) => (a < b ? -1 : 1));

test('property: OR replicas converge whatever order adds and removes arrive in (tombstones first or last)', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const random = rng(seed);
    const writers = ['a', 'b', 'c'].map((id) => new OrReplica(id));
    const events = [];
    for (let step = 0; step < 50; step++) {
      const w = pick(random, writers);
      const key = `k${Math.floor(random() * 5)}`;
      if (random() < 0.7) {
        for (const r of w.addLocal([{ key, value: pick(random, ['x', 'y', 1, { z: true }]) }])) events.push({ add: r });
      } else {
        const values = w.get(key);
        if (values.length > 0) for (const tag of w.removeLocal(key, pick(random, values))) events.push({ tombstone: tag });
      }
    }
    const states = [0, 1, 2].map(() => {
      const reader = new OrReplica('r');
      for (const e of shuffled(random, events)) {
        if (e.add) reader.apply([e.add]);
        else reader.applyTombstones([e.tombstone]);
      }
      const state = { root: reader.rootHash(), content: canonical(reader) };
      reader.dispose();
      return state;
    });
    assert.deepEqual(states[1], states[0], `seed ${seed}`);
    assert.deepEqual(states[2], states[0], `seed ${seed}`);
    writers.forEach((w) => w.dispose());
  }
});

test('a Merkle walk of leaves rebuilds an equal replica; snapshots round-trip with tombstones', () => {
  const source = new OrReplica('s');
  source.addLocal(Array.from({ length: 120 }, (_, i) => ({ key: `tag-${i % 40}`, value: `v${i}` })));
  const removed = source.removeLocal('tag-3', 'v3');
  assert.equal(removed.length, 1);
  const copy = new OrReplica('c');
  const walk = (path) => {
    const children = source.buckets(path);
    if (Object.keys(children).length === 0) {
      copy.mergeEntries(source.leaf(path));
      return;
    }
    for (const digit of Object.keys(children)) walk(path + digit);
  };
  walk('');
  assert.equal(copy.rootHash(), source.rootHash());
  assert.deepEqual(canonical(copy), canonical(source));
  assert.deepEqual(copy.get('tag-3').sort(), ['v43', 'v83']);

  const restored = new OrReplica('r');
  restored.restore(source.snapshot());
  assert.equal(restored.rootHash(), source.rootHash());
  // The tombstone came along: the removed record cannot come back.
  assert.deepEqual(restored.apply([{ key: 'tag-3', record: { value: 'v3', timestamp: { millis: 1, counter: 0, nodeId: 's' }, tag: removed[0] } }]), []);
  [source, copy, restored].forEach((r) => r.dispose());
});

test('OR replica: malformed input is an Error and changes nothing', () => {
  const r = new OrReplica('m');
  r.addLocal([{ key: 'k', value: 1 }]);
  const root = r.rootHash();
  assert.throws(() => r.apply([{ key: 'k', record: { value: 2, timestamp: { millis: 1, counter: 0, nodeId: 'x' } } }]), /apply: missing required field at records\[0\]\.record\.tag/);
  assert.throws(() => r.mergeEntries([{ key: 'k', records: 'none', tombstones: [] }]), /mergeEntries: wrong type at entries\[0\]\.records/);
  assert.throws(() => r.applyTombstones([1]), /applyTombstones: wrong type at tags\[0\]/);
  assert.throws(() => r.restore(new Uint8Array([0x92, 0x01])), /mergeEntries:/);
  assert.equal(r.rootHash(), root);
  assert.deepEqual(r.get('k'), [1]);
  r.dispose();
  assert.throws(() => r.size, /after dispose/);
});
