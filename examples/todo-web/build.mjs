// Bundles the app with esbuild into dist/, with the page, the styles and the
// WASM core next to it (the app tells the client where the .wasm is).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const out = new URL('dist/', import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL('src/app.js', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  outfile: new URL('app.js', out).pathname,
  logLevel: 'warning',
});
const wasm = createRequire(import.meta.url).resolve('@topgun-cpp/client/topgun_core.wasm');
copyFileSync(wasm, new URL('topgun_core.wasm', out));
for (const file of ['index.html', 'style.css']) copyFileSync(new URL(file, import.meta.url), new URL(file, out));
