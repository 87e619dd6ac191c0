// Browsers and bundlers: the ES module build, fetching topgun_core.wasm next to it.
import createTopGunCore from '../dist/topgun_core.mjs';

export function instantiateCore() {
  return createTopGunCore({ locateFile: (file) => new URL(`../dist/${file}`, import.meta.url).href });
}
