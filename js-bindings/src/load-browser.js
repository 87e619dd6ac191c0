// Browsers and bundlers: the ES module build, fetching topgun_core.wasm next to
// it, or from options.wasmUrl.
import createTopGunCore from '../dist/topgun_core.mjs';

export function instantiateCore({ wasmUrl } = {}) {
  return createTopGunCore({
    locateFile: (file) => (wasmUrl && file.endsWith('.wasm') ? wasmUrl : new URL(`../dist/${file}`, import.meta.url).href),
  });
}
