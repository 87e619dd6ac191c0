// The WASM codec on server frames: every golden fixture of the project decodes
// to its kind and its JSON, and malformed frames are refused with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { loadCore, decodeFrame } from '../src/core.js';

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

test('malformed frames are refused with the reason', () => {
  const ping = pack({ type: 'PING', timestamp: 1 });
  assert.equal(decodeFrame(ping).type, 'PING');
  assert.throws(() => decodeFrame(ping.subarray(0, ping.length - 1)), /malformed frame: truncated/);
  assert.throws(() => decodeFrame(new Uint8Array([0xc1])), /malformed frame/);
  assert.throws(() => decodeFrame(pack({ type: 'NO_SUCH_KIND' })), /malformed frame: .*NO_SUCH_KIND/);
  assert.throws(() => decodeFrame(pack({ type: 'PING', timestamp: 'later' })), /malformed frame: wrong type at timestamp/);
  let deep = 0;
  for (let i = 0; i < 300; i++) deep = [deep];
  assert.throws(
    () => decodeFrame(pack({ type: 'CLIENT_OP', payload: { mapName: 'm', key: 'k', record: { value: deep, timestamp: { millis: 1, counter: 0, nodeId: 'n' } } } })),
    /malformed frame/,
  );
});
