// Node: the single-file build (the WASM inlined), loaded as CommonJS.
import { createRequire } from 'node:module';

export function instantiateCore() {
  const createTopGunCore = createRequire(import.meta.url)('../dist/topgun_core.node.cjs');
  return createTopGunCore();
}
