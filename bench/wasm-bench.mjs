// WASM core figures in Node (issue 6 targets), through the package's JS layer
// as an app would call it: MsgPack in and out with msgpackr, one call per batch.
//
//   bash scripts/test-wasm.sh   # builds js-bindings/dist
//   node bench/wasm-bench.mjs
//
// Prints a Markdown table: local writes (batches of 1,000 through applyLocal),
// merging 100k remote records delivered as server frames, a local
// live query over 100k records, local search over 10k documents, and the
// gzipped size of what a browser downloads (ES module + .wasm).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { loadCore, LwwReplica, ServerFrame } from '../js-bindings/src/core.js';

await loadCore();
// msgpackr from the package's dependencies, to write the server frames.
const { Packr } = createRequire(new URL('../js-bindings/package.json', import.meta.url))('msgpackr');
const dist = fileURLToPath(new URL('../js-bindings/dist/', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];

// Local writes: 200k ops of ~100-byte values in batches of 1,000, 5 rounds.
{
  const value = { name: 'a todo item', done: false, tags: ['x', 'y'], note: 'n'.repeat(40) };
  const rates = [];
  for (let round = 0; round < 5; round++) {
    const replica = new LwwReplica('bench');
    const started = performance.now();
    for (let b = 0; b < 200; b++) {
      const writes = [];
      for (let i = 0; i < 1000; i++) writes.push({ key: `k${round}-${b * 1000 + i}`, value });
      replica.applyLocal(writes);
    }
    rates.push(200_000 / ((performance.now() - started) / 1000));
    replica.dispose();
  }
  rows.push(['local writes through applyLocal (batches of 1,000)', '≥ 1 M ops/s', `${(median(rates) / 1e6).toFixed(2)} M ops/s`]);
}

// Merging 100k remote records as a client receives them: SERVER_BATCH_EVENT
// frames (under the 2 MiB frame limit: 7 of them) decoded by the core and
// merged straight from the frame (ServerFrame + mergeFrame, the client's path);
// then the same records handed over as JS objects (merge()).
{
  const source = new LwwReplica('server');
  const records = [];
  for (let b = 0; b < 100; b++) {
    const writes = [];
    for (let i = 0; i < 1000; i++) writes.push({ key: `r${b * 1000 + i}`, value: { n: b * 1000 + i, s: 'remote value' } });
    records.push(...source.applyLocal(writes));
  }
  source.dispose();
  const packr = new Packr({ useRecords: false });
  const perFrame = 15_000;
  const frames = [];
  for (let i = 0; i < records.length; i += perFrame) {
    const events = records.slice(i, i + perFrame).map(({ key, record }) => ({ mapName: 'items', eventType: 'PUT', key, record }));
    frames.push(packr.pack({ type: 'SERVER_BATCH_EVENT', payload: { events } }));
  }
  const fromFrames = [];
  const fromObjects = [];
  // The two paths in separate runs: the objects' garbage would otherwise be
  // collected during the frames' rounds.
  for (let round = 0; round < 5; round++) {
    const replica = new LwwReplica('client');
    const started = performance.now();
    for (const bytes of frames) {
      const frame = new ServerFrame(bytes);
      replica.mergeFrame(frame, 'items');
      frame.dispose();
    }
    fromFrames.push(performance.now() - started);
    replica.dispose();
  }
  for (let round = 0; round < 5; round++) {
    const replica = new LwwReplica('client');
    const started = performance.now();
    replica.merge(records);
    fromObjects.push(performance.now() - started);
    replica.dispose();
  }
  rows.push([`merge 100k remote records from ${frames.length} SERVER_BATCH_EVENT frames (the client's path)`, '< 50 ms', `${median(fromFrames).toFixed(1)} ms`]);
  rows.push(['merge the same 100k records given as JS objects (merge())', '—', `${median(fromObjects).toFixed(1)} ms`]);
}

// A local live query over 100k records: the initial page (addQuery), then one
// write's change (applyLocal + takeQueryEvents) with the query attached.
{
  const replica = new LwwReplica('local');
  for (let b = 0; b < 100; b++) {
    const writes = [];
    for (let i = 0; i < 1000; i++) writes.push({ key: `q${b * 1000 + i}`, value: { prio: (b * 1000 + i) % 997, group: i % 10, title: `item ${i}` } });
    replica.applyLocal(writes);
  }
  const query = { where: { group: 3 }, sort: [{ field: 'prio', direction: 'desc' }], limit: 50 };
  const initial = [];
  const perWrite = [];
  for (let round = 0; round < 5; round++) {
    let started = performance.now();
    const { id } = replica.addQuery(query);
    initial.push(performance.now() - started);
    started = performance.now();
    for (let i = 0; i < 1000; i++) {
      replica.applyLocal([{ key: `q${i * 37}`, value: { prio: i % 1000, group: 3, title: 'moved' } }]);
      replica.takeQueryEvents();
    }
    perWrite.push(((performance.now() - started) / 1000) * 1000);
    replica.removeQuery(id);
  }
  replica.dispose();
  rows.push(['local live query over 100k records: initial page (where + sort + limit 50)', '< 30 ms', `${median(initial).toFixed(1)} ms`]);
  rows.push(['the same query: one local write and its events', '—', `${median(perWrite).toFixed(1)} µs`]);
}

// Local search: 10k documents (a title and a ~60-word body drawn from a
// 5,000-word vocabulary with Zipf-like frequencies, as natural text), then
// 500 queries of two words each, top 10; p50 and p99 of one search() call.
{
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const vocabulary = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
  const word = () => vocabulary[Math.floor(vocabulary.length * random() ** 3)];
  const text = (n) => Array.from({ length: n }, word).join(' ');
  const replica = new LwwReplica('search');
  for (let b = 0; b < 10; b++) {
    const writes = [];
    for (let i = 0; i < 1000; i++) writes.push({ key: `d${b * 1000 + i}`, value: { title: text(6), body: text(60), stars: i % 5 } });
    replica.applyLocal(writes);
  }
  let started = performance.now();
  replica.search('warm up');
  const build = performance.now() - started;
  const times = [];
  let hits = 0;
  for (let q = 0; q < 500; q++) {
    const query = `${word()} ${word()}`;
    started = performance.now();
    hits += replica.search(query, { limit: 10 }).length;
    times.push(performance.now() - started);
  }
  replica.dispose();
  times.sort((a, b) => a - b);
  const p = (f) => times[Math.floor(times.length * f)];
  rows.push(['local search top-10 over 10k documents, p50 (two-word queries)', '< 2 ms', `${p(0.5).toFixed(2)} ms`]);
  rows.push(['… p99; hits per query; building the index on the first search', '—', `${p(0.99).toFixed(2)} ms; ${(hits / 500).toFixed(1)}; ${build.toFixed(0)} ms`]);
}

const gz = (file) => gzipSync(readFileSync(dist + file), { level: 9 }).length;
const web = gz('topgun_core.mjs') + gz('topgun_core.wasm');
rows.push(['browser download, gzipped (topgun_core.mjs + .wasm)', '≤ 250 KB', `${(web / 1024).toFixed(1)} KB`]);
rows.push(['Node single file, gzipped (topgun_core.node.cjs)', '—', `${(gz('topgun_core.node.cjs') / 1024).toFixed(1)} KB`]);

console.log('| figure | target | measured |\n|---|---|---|');
for (const [what, target, measured] of rows) console.log(`| ${what} | ${target} | ${measured} |`);
