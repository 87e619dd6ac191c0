// The hand-written index.d.ts, checked by the TypeScript compiler: a typical
// program compiles under `strict`, and wrong uses are refused line by line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const tsc = (project) =>
  spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { cwd: packageDir, encoding: 'utf8' });

test('index.d.ts: a typical program type-checks under strict', () => {
  const run = tsc('test/typings/tsconfig.json');
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('index.d.ts: wrong value types, journal event types and API misuse are errors', () => {
  const run = tsc('test/typings/tsconfig.misuse.json');
  assert.notEqual(run.status, 0);
  const lines = [...run.stdout.matchAll(/misuse\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1]));
  assert.deepEqual(lines, [5, 6, 7, 8, 9], run.stdout);
});
