// The WASM codec on server frames: every golden fixture of the project decodes
// to its kind and its JSON, the kinds the client acts on are checked field by
// field, and malformed frames are refused with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { loadCore, decodeFrame, LwwReplica, ServerFrame } from '../src/core.js';

await loadCore();
const golden = fileURLToPath(new URL('../../golden/', import.meta.url));
const pack = (value) => new Packr({ useRecords: false }).pack(value);

// JSON has no binary type: the fixtures write bytes as Node writes a Buffer.
const asJson = (value) =>
  JSON.parse(
    JSON.stringify(value, (_, v) =>
      v instanceof Uint8Array ? { type: 'Buffer', data: [...v] } : typeof v === 'bigint' ? Number(v) : v,
    ),
  );

test('every golden WebSocket fixture decodes to its kind and its JSON', () => {
  const names = readdirSync(golden).filter((f) => f.endsWith('.msgpack'));
  assert.ok(names.length > 90, `only ${names.length} fixtures found in ${golden}`);
  for (const name of names) {
    const bytes = readFileSync(golden + name);
    const expected = JSON.parse(readFileSync(golden + name.replace(/\.msgpack$/, '.json'), 'utf8'));
    if (expected.type === undefined) continue; // an HTTP /sync body, not a WebSocket frame
    const { type, message } = decodeFrame(new Uint8Array(bytes));
    assert.equal(type, expected.type, name);
    assert.deepEqual(asJson(message), expected, name);
  }
});

// The kinds client.js dispatches on (its `case 'KIND':` labels).
const dispatched = [...readFileSync(new URL('../src/client.js', import.meta.url), 'utf8').matchAll(/case '([A-Z_]+)':/g)].map((m) => m[1]);

test('every kind the client acts on is checked field by field; any other kind only as MsgPack', () => {
  assert.ok(dispatched.length > 20, `only ${dispatched.length} dispatched kinds found in client.js`);
  const checkedKinds = new Set();
  for (const name of readdirSync(golden).filter((f) => f.endsWith('.msgpack'))) {
    if (JSON.parse(readFileSync(golden + name.replace(/\.msgpack$/, '.json'), 'utf8')).type === undefined) continue; // HTTP /sync
    const { type, checked } = decodeFrame(new Uint8Array(readFileSync(golden + name)));
    if (checked) checkedKinds.add(type);
  }
  for (const kind of dispatched) assert.ok(checkedKinds.has(kind), `${kind} is dispatched by the client but not checked`);
  // Wrong field types: refused in a kind the client reads, passed (with the kind named) in one it ignores.
  assert.throws(() => decodeFrame(pack({ type: 'OP_ACK', payload: { lastId: 5 } })), /malformed frame: wrong type at payload\.lastId/);
  const ping = decodeFrame(pack({ type: 'PING', timestamp: 'later' }));
  assert.deepEqual([ping.type, ping.checked, ping.message.timestamp], ['PING', false, 'later']);
});

test('malformed frames are refused with the reason', () => {
  const ping = pack({ type: 'PING', timestamp: 1 });
  assert.equal(decodeFrame(ping).type, 'PING');
  assert.throws(() => decodeFrame(ping.subarray(0, ping.length - 1)), /malformed frame: truncated/);
  assert.throws(() => decodeFrame(new Uint8Array([0xc1])), /malformed frame/);
  assert.throws(() => decodeFrame(pack({ type: 'NO_SUCH_KIND' })), /malformed frame: .*NO_SUCH_KIND/);
  assert.throws(() => decodeFrame(pack({ type: 'PONG', timestamp: 'later' })), /malformed frame: wrong type at timestamp/);
  let deep = 0;
  for (let i = 0; i < 300; i++) deep = [deep];
  assert.throws(
    () => decodeFrame(pack({ type: 'CLIENT_OP', payload: { mapName: 'm', key: 'k', record: { value: deep, timestamp: { millis: 1, counter: 0, nodeId: 'n' } } } })),
    /malformed frame/,
  );
});

test('a server frame hands its LWW records to the replica of each map, and only once', () => {
  const writer = new LwwReplica('server');
  const [todo1, todo2] = writer.applyLocal([{ key: 't1', value: { title: 'one' } }, { key: 't2', value: { title: 'two' } }]);
  const [note] = writer.applyLocal([{ key: 'n1', value: 'note' }]);
  const orAdd = { mapName: 'tags', eventType: 'OR_ADD', key: 'k', orRecord: { value: 1, timestamp: { millis: 1, counter: 0, nodeId: 'x' }, tag: '1:0:x' } };
  const event = (mapName, { key, record }) => ({ mapName, eventType: 'PUT', key, record });
  const batch = pack({ type: 'SERVER_BATCH_EVENT', payload: { events: [event('todos', todo1), orAdd, event('notes', note), event('todos', todo2)] } });

  const frame = new ServerFrame(batch);
  assert.equal(frame.type, 'SERVER_BATCH_EVENT');
  assert.deepEqual(frame.lwwMaps, ['todos', 'notes']);
  assert.equal(frame.orEvents, 1);
  const todos = new LwwReplica('client');
  const notes = new LwwReplica('client');
  assert.deepEqual(todos.mergeFrame(frame, 'todos'), { changed: ['t1', 't2'], driftRejected: [] });
  const again = new LwwReplica('client');
  assert.deepEqual(again.mergeFrame(frame, 'todos').changed, []); // taken already: nothing, not empty records
  assert.deepEqual(again.entries(), []);
  again.dispose();
  assert.deepEqual(notes.mergeFrame(frame, 'notes').changed, ['n1']);
  assert.deepEqual(frame.payload.events[1], orAdd); // the rest reads as before
  frame.dispose();
  assert.throws(() => todos.mergeFrame(frame, 'todos'), /after dispose/);
  const byMerge = new LwwReplica('client');
  byMerge.merge([todo1, todo2]);
  assert.equal(todos.rootHash(), byMerge.rootHash());
  assert.deepEqual(todos.get('t2'), { title: 'two' });

  // One event, and a leaf (which names its map even when empty).
  const single = new ServerFrame(pack({ type: 'SERVER_EVENT', payload: event('notes', writer.applyLocal([{ key: 'n1', value: 'newer' }])[0]) }));
  assert.deepEqual(single.lwwMaps, ['notes']);
  assert.deepEqual(notes.mergeFrame(single, 'notes').changed, ['n1']);
  assert.deepEqual(notes.mergeFrame(single, 'todos').changed, []);
  single.dispose();
  const leaf = new ServerFrame(pack({ type: 'SYNC_RESP_LEAF', payload: { mapName: 'todos', path: '12', records: [] } }));
  assert.deepEqual(leaf.lwwMaps, ['todos']);
  assert.deepEqual(todos.mergeFrame(leaf, 'todos').changed, []);
  leaf.dispose();
  const ping = new ServerFrame(pack({ type: 'PING', timestamp: 1 }));
  assert.deepEqual([ping.lwwMaps, ping.orEvents, ping.message.timestamp], [[], 0, 1]);
  ping.dispose();

  // Malformed: refused whole, nothing merged; over 2 MiB refused.
  const bad = pack({ type: 'SERVER_BATCH_EVENT', payload: { events: [event('todos', todo1), { ...event('todos', todo2), key: 7 }] } });
  assert.throws(() => new ServerFrame(bad), /malformed frame: .*key/);
  const huge = pack({ type: 'SERVER_EVENT', payload: event('notes', { key: 'big', record: { ...note.record, value: 'x'.repeat(2 * 1024 * 1024) } }) });
  assert.throws(() => new ServerFrame(huge), /malformed frame/);
  for (const r of [writer, todos, notes, byMerge]) r.dispose();
});
