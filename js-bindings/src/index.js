// The package's entry point: the client, and the core layer it is built on.
export { TopGunClient, ConnectionState } from './client.js';
export { loadCore, LwwReplica, OrReplica, PnCounter, ServerFrame, decodeFrame } from './core.js';
export { MemoryStorage, IndexedDBStorage } from './storage.js';
