// The package as a user gets it: `npm pack`, installed from the tarball into a
// fresh project, imported by name, and working there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' });

test('npm pack gives a tarball that installs and works in a fresh project', () => {
  const work = mkdtempSync(join(tmpdir(), 'topgun-pack-'));
  try {
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], packageDir))[0];
    const files = packed.files.map((f) => f.path);
    for (const needed of ['dist/topgun_core.wasm', 'dist/topgun_core.mjs', 'dist/topgun_core.node.cjs', 'index.d.ts', 'src/index.js', 'package.json']) {
      assert.ok(files.includes(needed), `${needed} missing from the tarball`);
    }
    assert.ok(!files.some((f) => f.startsWith('test/')), 'tests shipped in the tarball');

    const app = join(work, 'app');
    execFileSync('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    npm(['install', join(work, readdirSync(work).find((f) => f.endsWith('.tgz')))], app);
    writeFileSync(
      join(app, 'check.mjs'),
      `import { loadCore, LwwReplica, TopGunClient, MemoryStorage } from '@topgun-cpp/client';
       await loadCore();
       const a = new LwwReplica('a'), b = new LwwReplica('b');
       b.merge(a.applyLocal([{ key: 'k', value: { hello: 'world' } }]));
       console.log(JSON.stringify({ value: b.get('k'), same: a.rootHash() === b.rootHash(),
         client: typeof TopGunClient, storage: typeof MemoryStorage }));`,
    );
    const out = JSON.parse(execFileSync('node', ['check.mjs'], { cwd: app, encoding: 'utf8' }));
    assert.deepEqual(out, { value: { hello: 'world' }, same: true, client: 'function', storage: 'function' });

    // CommonJS consumers: the `require` condition (Node >= 20.19 loads the ES module through require).
    writeFileSync(
      join(app, 'check.cjs'),
      `const { loadCore, LwwReplica } = require('@topgun-cpp/client');
       loadCore().then(() => console.log(JSON.stringify(new LwwReplica('c').applyLocal([{ key: 'k', value: 1 }]).length > 0)));`,
    );
    assert.equal(execFileSync('node', ['check.cjs'], { cwd: app, encoding: 'utf8' }).trim(), 'true');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

// Issue 6's budget: what a browser downloads, gzipped. Measured here so that a
// change that outgrows it fails instead of being noticed in a benchmark.
test('the browser download (ES module + .wasm, gzipped) stays within 250 KB', () => {
  const gzipped = (file) => gzipSync(readFileSync(join(packageDir, 'dist', file)), { level: 9 }).length;
  const bytes = gzipped('topgun_core.mjs') + gzipped('topgun_core.wasm');
  assert.ok(bytes <= 250 * 1024, `the browser download is ${(bytes / 1024).toFixed(1)} KB gzipped, over the 250 KB budget`);
});
