// Where a TopGunClient keeps its state between runs: a small key-value
// interface, so the client does not care whether it is IndexedDB (browsers),
// memory (tests, Node, local-only use) or something an app supplies.
//
// Keys the client uses: `op:<zero-padded id>` (one pending op each, written
// before the op is sent, deleted when acked), `map:<name>` (a map's snapshot
// bytes, written shortly after changes), `meta:nextOpId`.
//
// An adapter implements:
//   get(key)              → value or undefined
//   put(key, value)       (values: plain data or Uint8Array)
//   delete(key)
//   entries(prefix)       → [[key, value], ...] for keys starting with prefix, in key order

/** Keeps everything in a Map: survives client restarts within one process only. */
export class MemoryStorage {
  #data = new Map();

  async get(key) {
    return this.#data.get(key);
  }

  async put(key, value) {
    this.#data.set(key, value);
  }

  async delete(key) {
    this.#data.delete(key);
  }

  async entries(prefix) {
    return [...this.#data].filter(([key]) => key.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
  }
}

/** IndexedDB: one object store in a database of the given name (browsers, or any global indexedDB). */
export class IndexedDBStorage {
  #name;
  #open;

  constructor(name = 'topgun', indexedDB = globalThis.indexedDB) {
    if (!indexedDB) throw new Error('IndexedDBStorage: no indexedDB here (use MemoryStorage outside browsers)');
    this.#name = name;
    this.#open = new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('kv');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(new Error(`IndexedDBStorage: cannot open '${name}': ${request.error}`));
    });
  }

  async #run(mode, operation) {
    const db = await this.#open;
    return new Promise((resolve, reject) => {
      const tx = db.transaction('kv', mode);
      const request = operation(tx.objectStore('kv'));
      let result;
      request.onsuccess = () => {
        result = request.result;
      };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(new Error(`IndexedDBStorage '${this.#name}': ${tx.error}`));
      tx.onabort = () => reject(new Error(`IndexedDBStorage '${this.#name}': aborted: ${tx.error}`));
    });
  }

  get(key) {
    return this.#run('readonly', (store) => store.get(key));
  }

  put(key, value) {
    return this.#run('readwrite', (store) => store.put(value, key));
  }

  delete(key) {
    return this.#run('readwrite', (store) => store.delete(key));
  }

  // One transaction and a cursor, so keys and values are read consistently.
  async entries(prefix) {
    const db = await this.#open;
    return new Promise((resolve, reject) => {
      const out = [];
      const tx = db.transaction('kv', 'readonly');
      const request = tx.objectStore('kv').openCursor(IDBKeyRange.bound(prefix, `${prefix}\uffff`));
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor) return;
        out.push([cursor.key, cursor.value]);
        cursor.continue();
      };
      tx.oncomplete = () => resolve(out);
      tx.onerror = () => reject(new Error(`IndexedDBStorage '${this.#name}': ${tx.error}`));
    });
  }

  async close() {
    (await this.#open).close();
  }
}
