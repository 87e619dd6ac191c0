// Local full-text search on the WASM LWW replica: ranked hits with their values,
// an index that follows writes, merges and removes, chosen fields with boosts,
// TTL, standing searches, and malformed requests refused with the index unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore, LwwReplica } from '../src/core.js';
import { pick, rng, writeLocallyOrRemotely } from './random.mjs';

await loadCore();

const articles = [
  { key: 'a1', value: { title: 'Offline first apps', body: 'sync when the network returns', stars: 5 } },
  { key: 'a2', value: { title: 'CRDT maps', body: 'offline edits merge without conflicts, offline' } },
  { key: 'a3', value: { title: 'Gardening', body: 'tomatoes need sun', tags: ['summer', 'offline'] } },
  { key: 'a4', value: 'a plain string about running offline' },
];

function replicaWith(writes) {
  const replica = new LwwReplica('searcher');
  replica.applyLocal(writes);
  return replica;
}

test('search ranks every string of the records with BM25 and returns the hits with their values', () => {
  const replica = replicaWith(articles);
  const hits = replica.search('offline');
  assert.deepEqual(hits.map((h) => h.key).sort(), ['a1', 'a2', 'a3', 'a4']);
  // a2 says "offline" twice in a short text: first; scores never grow down the list.
  assert.equal(hits[0].key, 'a2');
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score);
  assert.deepEqual(hits[0].value, articles[1].value);
  assert.deepEqual(hits[0].matchedTerms, ['offline']);
  // As the server: words split on non-alphanumerics and lower-cased, nothing else.
  assert.deepEqual(replica.search('TOMATOES!').map((h) => h.key), ['a3']);
  assert.deepEqual(replica.search('Tomato'), []);
  assert.deepEqual(replica.search('the').map((h) => h.key), ['a1']);
  assert.deepEqual(replica.search('zeppelin'), []);
  // The english analyzer stems and drops stop words.
  replica.enableSearch({ analyzer: 'english' });
  assert.deepEqual(replica.search('Tomato').map((h) => h.key), ['a3']);
  assert.deepEqual(replica.search('the'), []);
  replica.enableSearch();
  // Options as SEARCH's: limit, minScore.
  assert.equal(replica.search('offline', { limit: 2 }).length, 2);
  assert.deepEqual(replica.search('offline', { limit: 0 }), []);
  // Search as you type, and typos.
  assert.deepEqual(replica.search('tomat'), []);
  assert.deepEqual(replica.search('tomat', { prefix: true }).map((h) => h.key), ['a3']);
  assert.deepEqual(replica.search('tomatos', { fuzzy: 1 }).map((h) => h.key), ['a3']);
  const top = hits[0].score;
  assert.deepEqual(replica.search('offline', { minScore: top }).map((h) => h.key), ['a2']);
  replica.dispose();
});

test('the index follows local writes, removes and merged remote records', () => {
  const replica = replicaWith(articles);
  assert.equal(replica.search('tomatoes').length, 1);
  replica.set('a5', { title: 'Tomatoes', body: 'tomatoes and more tomatoes' });
  assert.deepEqual(replica.search('tomatoes').map((h) => h.key), ['a5', 'a3']);
  replica.remove('a5');
  assert.deepEqual(replica.search('tomatoes').map((h) => h.key), ['a3']);
  replica.set('a3', { title: 'Gardening', body: 'peppers need sun' });
  assert.deepEqual(replica.search('tomatoes'), []);

  const remote = new LwwReplica('remote');
  const records = remote.applyLocal([{ key: 'r1', value: { title: 'Tomatoes from afar' } }]);
  replica.merge(records);
  assert.deepEqual(replica.search('tomatoes').map((h) => h.key), ['r1']);
  // A newer remote remove drops it; an older write loses and changes nothing.
  replica.merge(remote.applyLocal([{ key: 'r1', value: null }]));
  assert.deepEqual(replica.search('tomatoes'), []);
  replica.merge(records);
  assert.deepEqual(replica.search('tomatoes'), []);
  remote.dispose();
  replica.dispose();
});

test('enableSearch reads the chosen fields only, with their boosts', () => {
  const replica = replicaWith(articles);
  replica.enableSearch({ fields: ['title'] });
  // "offline" is in a1's title only; the bodies and tags are not read now.
  assert.deepEqual(replica.search('offline').map((h) => h.key), ['a1']);
  replica.enableSearch({ fields: [{ path: 'title', boost: 1 }, { path: 'body', boost: 3 }] });
  const both = replica.search('offline');
  assert.deepEqual(both.map((h) => h.key), ['a2', 'a1']);
  // A query's boost replaces the field's: with the title weighted up, a1 leads.
  assert.deepEqual(replica.search('offline', { boost: { title: 10, body: 1 } }).map((h) => h.key), ['a1', 'a2']);
  // Nested paths and arrays under a path.
  replica.enableSearch({ fields: ['tags'] });
  assert.deepEqual(replica.search('summer').map((h) => h.key), ['a3']);
  // No fields: every string again, each top-level member a field, so a query's boost names members.
  replica.enableSearch();
  assert.equal(replica.search('offline').length, 4);
  const byMember = (boost) => replica.search('offline', { boost }).map((h) => h.key).filter((k) => k === 'a1' || k === 'a3');
  assert.deepEqual(byMember({ title: 10 }), ['a1', 'a3']);
  assert.deepEqual(byMember({ tags: 10 }), ['a3', 'a1']);
  replica.dispose();
});

test('an expired record is not a hit, and does not take a place in the top hits', async () => {
  const replica = replicaWith([
    { key: 'short', value: 'note note note', ttlMs: 500 },
    { key: 'long', value: 'a lasting note note' },
    { key: 'longer', value: 'another lasting note' },
  ]);
  assert.deepEqual(replica.search('note', { limit: 2 }).map((h) => h.key), ['short', 'long']);
  await new Promise((resolve) => setTimeout(resolve, 600));
  // Still in the index (nothing reported the expiry yet), but the page is full of live records.
  assert.deepEqual(replica.search('note', { limit: 2 }).map((h) => h.key), ['long', 'longer']);
  assert.deepEqual(replica.reportExpired(), ['short']);
  assert.deepEqual(replica.search('note').map((h) => h.key), ['long', 'longer']);
  replica.dispose();
});

test('property: standing searches always hold a fresh search\'s hits, whatever writes, merges and removes come', () => {
  const words = ['offline', 'sync', 'merge', 'crdt', 'tomato', 'garden', 'gardening', 'network'];
  const searches = [
    ['offline', { limit: 3 }],
    ['sync merge', { limit: 5 }],
    ['gard', { prefix: true, limit: 4 }],
    ['ofline', { fuzzy: 1, limit: 3 }],
    ['crdt', { minScore: 0.5 }],
  ];
  for (let seed = 1; seed <= 5; seed++) {
    const random = rng(seed);
    const phrase = (n) => Array.from({ length: n }, () => pick(random, words)).join(' ');
    const replica = new LwwReplica('searcher');
    const standing = searches.map(([query, options]) => {
      const { id, results } = replica.addSearch(query, options);
      return { query, options, id, hits: new Map(results.map((h) => [h.key, h])) };
    });
    let seen = 0;
    for (let step = 0; step < 80; step++) {
      const value = random() < 0.15 ? null : { title: phrase(2), body: phrase(1 + Math.floor(random() * 6)) };
      writeLocallyOrRemotely(random, replica, `k${Math.floor(random() * 15)}`, value);
      for (const e of replica.takeSearchEvents()) {
        const { hits } = standing.find((s) => s.id === e.searchId);
        if (e.changeType === 'LEAVE') {
          assert.ok(hits.delete(e.key), `seed ${seed}: LEAVE of a hit not there`);
        } else {
          assert.deepEqual(e.value, replica.get(e.key), 'an event carries the value as it is now');
          hits.set(e.key, e);
        }
      }
      for (const { query, options, hits } of standing) {
        const fresh = replica.search(query, options);
        seen += fresh.length;
        assert.deepEqual([...hits.keys()].sort(), fresh.map((h) => h.key).sort(), `seed ${seed} step ${step}: ${query}`);
      }
    }
    assert.ok(seen > 0, 'the searches found something');
    assert.equal(replica.removeSearch(standing[0].id), true);
    assert.equal(replica.removeSearch(standing[0].id), false);
    replica.applyLocal([{ key: 'late', value: 'offline offline offline' }]);
    assert.ok(replica.takeSearchEvents().every((e) => e.searchId !== standing[0].id), 'a removed search reports nothing');
    assert.throws(() => replica.enableSearch({ fields: ['title'] }), /close the standing searches first/);
    replica.dispose();
  }
});

test('malformed search requests are refused with the reason and the index unchanged', () => {
  const replica = replicaWith(articles);
  const before = replica.search('offline');
  assert.throws(() => replica.search(42), /search: wrong type at query/);
  assert.throws(() => replica.search('offline', { limit: 'ten' }), /search: wrong type at options\.limit/);
  assert.throws(() => replica.search('offline', { limit: -1 }), /search: .*options\.limit/);
  assert.throws(() => replica.search('offline', { prefix: 'yes' }), /search: wrong type at prefix/);
  assert.throws(() => replica.enableSearch({ fields: [{ path: 7 }] }), /enableSearch: wrong type at fields/);
  assert.throws(() => replica.enableSearch({ fields: [{ boost: 2 }] }), /enableSearch: .*path/);
  assert.throws(() => replica.enableSearch({ analyzer: 'klingon' }), /enableSearch: analyzer must be 'plain' or 'english'/);
  assert.deepEqual(replica.search('offline'), before);
  replica.dispose();
});
