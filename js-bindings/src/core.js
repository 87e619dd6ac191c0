// The WASM core for JavaScript: loads the build that fits the platform (the
// single-file build under Node, the ES module + .wasm in browsers and
// bundlers) and wraps its embind classes in a small layer that speaks plain JS values.
// Values cross the boundary as MsgPack (msgpackr, as the reference client), one
// call per batch, because each embind call costs about a microsecond.
import { Packr } from 'msgpackr';
// The platform's build: package.json's "imports" picks load-node.js or load-browser.js.
import { instantiateCore } from '#load-core';

// Maps decode as plain objects; `undefined` packs as nil (a tombstone value).
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const pack = (value) => packr.pack(value);
const unpack = (bytes) => packr.unpack(bytes);

let loading;
let core;

/**
 * Loads the WASM module once; every other export needs it loaded first.
 * @param {{wasmUrl?: string}} [options] where browsers fetch topgun_core.wasm
 *   (default: next to the package's dist/topgun_core.mjs; set it when a bundler
 *   copies the file elsewhere)
 */
export function loadCore(options = {}) {
  loading ??= instantiateCore(options).then((module) => {
    core = module;
    return module;
  });
  return loading;
}

function loaded() {
  if (!core) throw new Error('TopGun core not loaded: await loadCore() first');
  return core;
}

// The core answers `{error}` instead of throwing (it is built without C++
// exceptions); this turns that into a JS Error. `type` is what a good answer is.
function resultOrThrow(result, type = Uint8Array) {
  if (typeof type === 'string' ? typeof result === type : result instanceof type) return result;
  throw new Error(result?.error ?? 'TopGun core: unexpected result');
}
const bytesOrThrow = (result) => resultOrThrow(result);

// Local writes in the core's LocalWrites shape: a null or undefined value removes.
const writesBody = (writes) => ({
  writes: writes.map(({ key, value, ttlMs }) => (ttlMs === undefined ? { key, value: value ?? null } : { key, value: value ?? null, ttlMs })),
});

// One embind object made for a node id: the id is checked here (the C++ side
// cannot report a bad one), and dispose() frees the WASM memory.
class NativeObject {
  #native;

  constructor(className, nodeId) {
    if (typeof nodeId !== 'string' || !loaded().validNodeId(nodeId)) {
      throw new Error(`invalid node id ${JSON.stringify(nodeId)}: it must be non-empty and contain no ':'`);
    }
    this.#native = new (loaded()[className])(nodeId);
    this.nodeId = nodeId;
  }

  _native() {
    if (!this.#native) throw new Error(`${this.constructor.name} used after dispose()`);
    return this.#native;
  }

  /** Frees the WASM memory; the object cannot be used afterwards. */
  dispose() {
    this.#native?.delete();
    this.#native = undefined;
  }
}

// What LWW and OR replicas share: entries, snapshots and the Merkle tree,
// hashed exactly like the reference client.
class MerkleReplica extends NativeObject {
  /** [key, value] pairs for LWW, [key, values[]] for OR; nothing deleted or expired. */
  entries() {
    return Object.entries(unpack(bytesOrThrow(this._native().entries())).entries ?? {});
  }

  /** Every record, tombstones included, as bytes for storage; restore() takes them back. */
  snapshot() {
    return bytesOrThrow(this._native().snapshot());
  }

  /** Merkle root hash (uint32). */
  rootHash() {
    return this._native().rootHash();
  }

  /** Child hashes under a Merkle node: {hexDigit: hash}. */
  buckets(path) {
    return unpack(bytesOrThrow(this._native().buckets(path))).buckets ?? {};
  }

  /** LWW: stored records, tombstones included. OR: keys holding at least one record. */
  get size() {
    return this._native().size();
  }
}

/**
 * A frame received from a server, decoded once by the core's codec. The LWW
 * records it carries (SERVER_EVENT, SERVER_BATCH_EVENT, SYNC_RESP_LEAF) merge
 * from it straight into replicas (LwwReplica.mergeFrame); the rest is read with
 * msgpackr on first use of `message`. The kinds the client acts on are checked
 * field by field (`checked`); any other kind only as well-formed MsgPack of a
 * known kind. dispose() frees it.
 */
export class ServerFrame {
  #native;
  #bytes;
  #message;

  /** @throws Error naming what is wrong (truncated, garbage, unknown kind, wrong types, too deep, over 2 MiB) */
  constructor(bytes) {
    this.#native = new (loaded().ServerFrame)(bytes);
    const summary = this.#native.summary();
    if (summary.error !== undefined) {
      this.dispose();
      throw new Error(`malformed frame: ${summary.error}`);
    }
    this.#bytes = bytes;
    /** The message kind, e.g. 'SERVER_EVENT'. */
    this.type = summary.type;
    /** Whether every field was checked against the protocol (true for the kinds the client acts on). */
    this.checked = summary.checked;
    /** Maps the frame has LWW records for (a SYNC_RESP_LEAF: its map, even with no records). */
    this.lwwMaps = summary.lwwMaps ?? [];
    /** How many OR_ADD / OR_REMOVE events it carries. */
    this.orEvents = summary.orEvents ?? 0;
  }

  /** The whole message as a JS object. */
  get message() {
    this.#message ??= unpack(this.#bytes);
    return this.#message;
  }

  /** The message's payload (or the message itself for kinds without one). */
  get payload() {
    return this.message.payload ?? this.message;
  }

  _native() {
    if (!this.#native) throw new Error('ServerFrame used after dispose()');
    return this.#native;
  }

  dispose() {
    this.#native?.delete();
    this.#native = undefined;
  }
}

/**
 * Checks a frame received from a server with the core's codec (as ServerFrame).
 * @returns {{type: string, message: object, checked: boolean}} the kind, the decoded message, and
 *   whether its fields were checked (the kinds the client acts on) or only its MsgPack (the rest)
 * @throws Error naming what is wrong (truncated, garbage, unknown kind, too deep; wrong types where checked)
 */
export function decodeFrame(bytes) {
  const frame = new ServerFrame(bytes);
  try {
    return { type: frame.type, message: frame.message, checked: frame.checked };
  } finally {
    frame.dispose();
  }
}

/** A last-writer-wins map replica with its own hybrid logical clock. */
export class LwwReplica extends MerkleReplica {
  constructor(nodeId) {
    super('LwwReplica', nodeId);
  }

  /**
   * Applies local writes at once; `value` null or undefined removes the key.
   * @param {{key: string, value?: any, ttlMs?: number}[]} writes
   * @returns {{key: string, record: {value: any, timestamp: {millis: number, counter: number, nodeId: string}, ttlMs?: number}}[]}
   *   the records produced, in the wire form a CLIENT_OP / OP_BATCH carries;
   *   they hold the values given (not copies), as the replica stored them
   */
  applyLocal(writes) {
    // The core answers with the stamps alone, [millis, counter, ttlMs or 0]
    // per write: building the records here from the caller's keys and values
    // costs a tenth of decoding them back.
    const stamps = resultOrThrow(this._native().applyLocal(pack(writesBody(writes))), Float64Array);
    return writes.map(({ key, value }, i) => {
      const record = { value: value ?? null, timestamp: { millis: stamps[3 * i], counter: stamps[3 * i + 1], nodeId: this.nodeId } };
      if (stamps[3 * i + 2] > 0) record.ttlMs = stamps[3 * i + 2];
      return { key, record };
    });
  }

  set(key, value, ttlMs) {
    return this.applyLocal([{ key, value, ttlMs }])[0].record;
  }

  remove(key) {
    return this.applyLocal([{ key, value: null }])[0].record;
  }

  /**
   * Merges records received from elsewhere (SERVER_EVENT, SYNC_RESP_LEAF, another replica's snapshot).
   * @returns {{changed: string[], driftRejected: string[]}}
   */
  merge(records) {
    return unpack(bytesOrThrow(this._native().merge(pack({ records }))));
  }

  /**
   * Merges the records a server frame carries for one map, without building JS objects for them.
   * @param {ServerFrame} frame
   * @param {string} mapName
   * @returns {{changed: string[], driftRejected: string[]}}
   */
  mergeFrame(frame, mapName) {
    return unpack(bytesOrThrow(this._native().mergeFrame(frame._native(), mapName)));
  }

  get(key) {
    const bytes = this._native().get(key);
    return bytes === undefined ? undefined : unpack(bytes);
  }

  /**
   * Records whose TTL ran out since the last call: live queries see them
   * LEAVE (takeQueryEvents) and local search drops them, while the replica
   * keeps them (expired records stay until overwritten, so Merkle sync is
   * unchanged). Call it periodically; it costs nothing until a record has a TTL.
   * @returns {string[]} their keys
   */
  reportExpired() {
    return this._native().reportExpired();
  }

  restore(snapshotBytes) {
    return unpack(bytesOrThrow(this._native().merge(snapshotBytes)));
  }

  /** The records of one Merkle leaf, for a SYNC_RESP_LEAF. */
  leaf(path) {
    return unpack(bytesOrThrow(this._native().leaf(path))).records;
  }

  /**
   * Chooses what local search reads and how (the index is rebuilt). Without a
   * call, the first search() indexes as the server does: every string of a
   * record, split and lower-cased, each top-level member its own field (so a
   * search's `boost` names members). Either way the index follows every later
   * write and merge.
   * @param {{fields?: (string | {path: string, boost?: number})[], analyzer?: 'plain' | 'english'}} [options]
   *   fields: the strings under each dot path, with its boost (default: every string, by member);
   *   analyzer 'english': stop words, Porter stemming, terms of 2 to 40 letters (the reference TS client's local search)
   */
  enableSearch({ fields, analyzer } = {}) {
    const setup = {};
    if (fields !== undefined) setup.fields = fields.map((f) => (typeof f === 'string' ? { path: f } : f));
    if (analyzer !== undefined) setup.analyzer = analyzer;
    resultOrThrow(this._native().enableSearch(pack(setup)), 'undefined');
  }

  /**
   * Full-text search over the replica (BM25, ranked as the server ranks), offline too.
   * @param {string} query
   * @param {{limit?: number, minScore?: number, boost?: Record<string, number>, prefix?: boolean, fuzzy?: number}} [options]
   *   SEARCH's options (limit 10 by default), and local ones: `prefix`, the last word also matches the
   *   terms it begins (search as you type); `fuzzy` (1 or 2), words also match terms that many edits away
   * @returns {{key: string, value: any, score: number, matchedTerms: string[]}[]} best first
   */
  search(query, options) {
    return unpack(bytesOrThrow(this._native().search(pack(localSearch(query, options))))).results ?? [];
  }

  /**
   * Starts a standing search (search()'s query and options): its hits now,
   * and from then on its changes in takeSearchEvents().
   * @returns {{id: number, results: {key: string, value: any, score: number, matchedTerms: string[]}[]}}
   */
  addSearch(query, options) {
    const body = unpack(bytesOrThrow(this._native().addSearch(pack(localSearch(query, options)))));
    return { id: Number(body.requestId), results: body.results ?? [] };
  }

  removeSearch(id) {
    return this._native().removeSearch(id);
  }

  /**
   * The standing searches' changes since the last call, in order (value null and score 0 on LEAVE).
   * @returns {{searchId: number, key: string, value: any, score: number, matchedTerms: string[], changeType: 'ENTER'|'UPDATE'|'LEAVE'}[]}
   */
  takeSearchEvents() {
    return (unpack(bytesOrThrow(this._native().takeSearchEvents())).updates ?? []).map(({ subscriptionId, ...u }) => ({ ...u, searchId: Number(subscriptionId) }));
  }

  /**
   * Runs a query once over the replica, with the server's engine (PROTOCOL.md §8).
   * @param {object} query {where?, predicate?, sort?, limit?, cursor?, fields?, groupBy?, aggregations?}
   * @returns {{results: {key: string, value: any}[], hasMore: boolean, nextCursor?: string, cursorStatus: string}}
   * @throws Error when the query cannot run (unknown operator, bad aggregation, ...)
   */
  query(query) {
    return queryPage(unpack(bytesOrThrow(this._native().query(pack(wireQuery(query))))));
  }

  /**
   * Starts a live query; its changes wait in takeQueryEvents().
   * @returns {{id: number, results: {key: string, value: any}[], hasMore: boolean, nextCursor?: string, cursorStatus: string}}
   * @throws Error when the query cannot run
   */
  addQuery(query) {
    return queryPage(unpack(bytesOrThrow(this._native().addQuery(pack(wireQuery(query))))));
  }

  removeQuery(id) {
    return this._native().removeQuery(id);
  }

  /** The current page of a live query (as addQuery answers), or undefined. */
  queryPage(id) {
    const bytes = this._native().queryPage(id);
    return bytes === undefined ? undefined : queryPage(unpack(bytes));
  }

  /**
   * The live queries' changes since the last call, in order: for each query,
   * rows that left, then updated ones, then new ones (value null on LEAVE).
   * @returns {{queryId: number, key: string, value: any, changeType: 'ENTER'|'UPDATE'|'LEAVE'}[]}
   */
  takeQueryEvents() {
    return (unpack(bytesOrThrow(this._native().takeQueryEvents())).updates ?? []).map((u) => ({ ...u, queryId: Number(u.queryId) }));
  }
}

// A LocalSearch request: SEARCH's options plus the replica's own prefix and fuzzy.
function localSearch(query, { prefix, fuzzy, ...options } = {}) {
  const request = { query, options };
  if (prefix !== undefined) request.prefix = prefix;
  if (fuzzy !== undefined) request.fuzzy = fuzzy;
  return request;
}

/**
 * A query in its wire form: `sort` as the array of {field, direction} the
 * server reads (the TS client's record form {field: 'asc'} is converted).
 */
export function wireQuery(query = {}) {
  const { sort } = query;
  if (sort === undefined || Array.isArray(sort)) return query;
  return { ...query, sort: Object.entries(sort).map(([field, direction]) => ({ field, direction })) };
}

function queryPage(body) {
  if (body.error !== undefined) throw new Error(`query: ${body.error}`);
  const page = { id: Number(body.queryId), results: body.results ?? [], hasMore: body.hasMore === true, cursorStatus: body.cursorStatus };
  if (body.nextCursor !== undefined) page.nextCursor = body.nextCursor;
  return page;
}

/**
 * An observed-remove map replica: each add is a record with a unique tag, a
 * remove tombstones the tags it has seen, concurrent adds all survive.
 */
export class OrReplica extends MerkleReplica {
  constructor(nodeId) {
    super('OrReplica', nodeId);
  }

  /**
   * Adds values locally.
   * @param {{key: string, value: any, ttlMs?: number}[]} writes
   * @returns {{key: string, record: {value: any, timestamp: object, tag: string, ttlMs?: number}}[]} for OR_ADD ops
   */
  addLocal(writes) {
    return unpack(bytesOrThrow(this._native().addLocal(pack(writesBody(writes))))).records;
  }

  /** Removes every record of key whose value equals value; returns the tombstoned tags (one OR_REMOVE op each). */
  removeLocal(key, value) {
    return unpack(bytesOrThrow(this._native().removeLocal(pack({ key, value: value ?? null })))).tags;
  }

  /** Remote adds (SERVER_EVENT OR_ADD); returns the keys that changed. */
  apply(records) {
    return unpack(bytesOrThrow(this._native().apply(pack({ records })))).changed;
  }

  /** Remote removes (SERVER_EVENT OR_REMOVE); returns how many records they dropped. */
  applyTombstones(tags) {
    return resultOrThrow(this._native().applyTombstones(pack({ tags })), 'number');
  }

  /** Entries from a peer (ORMAP_SYNC_RESP_LEAF): {key, records, tombstones}[]; returns the keys that changed. */
  mergeEntries(entries) {
    return unpack(bytesOrThrow(this._native().mergeEntries(pack({ entries })))).changed;
  }

  /** Live values of a key. */
  get(key) {
    return unpack(this._native().get(key));
  }

  restore(snapshotBytes) {
    return unpack(bytesOrThrow(this._native().mergeEntries(snapshotBytes))).changed;
  }

  /** Entries of one Merkle leaf, each with the whole tombstone set (ORMAP_PUSH_DIFF form). */
  leaf(path) {
    return unpack(bytesOrThrow(this._native().leaf(path))).entries;
  }
}

/** A positive-negative counter (per-node totals; merge takes per-node maxima). */
export class PnCounter extends NativeObject {
  constructor(nodeId) {
    super('PnCounter', nodeId);
  }

  /** Adds delta (negative subtracts; 0 or non-finite changes nothing) and returns the new value. */
  add(delta) {
    return this._native().add(delta);
  }

  get value() {
    return this._native().value();
  }

  /** The state in its wire form ({p, n, positive, negative}), as bytes for storage or the wire. */
  stateBytes() {
    return bytesOrThrow(this._native().state());
  }

  state() {
    return unpack(this.stateBytes());
  }

  /** Merges a remote state (object or bytes); returns whether the value changed. */
  merge(state) {
    return resultOrThrow(this._native().merge(state instanceof Uint8Array ? state : pack(state)), 'boolean');
  }
}
