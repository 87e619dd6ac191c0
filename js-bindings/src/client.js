// TopGunClient: offline-first maps synced with a TopGun server over WebSocket,
// in the reference client's API shape (UPSTREAM.md §5) and wire behaviour
// (PROTOCOL.md §14). Replicas live in the WASM core: a write applies locally at
// once, joins the op log and is sent when connected; the log is replayed after
// every (re)authentication until the server acks it (OP_ACK lastId is
// cumulative over numeric op ids); SERVER_EVENTs merge as they come, and every
// open map runs the Merkle walk (SYNC_INIT) after each reconnect to fetch what
// it missed while offline.
//
// State survives restarts through a storage adapter (storage.js): each op is
// stored before it is sent and deleted when acked, and map snapshots are
// saved shortly after changes; start() restores both, re-applying pending ops
// over the snapshots, before connecting.
//
// Queries run on the local replica with the server's engine (compiled to
// WASM), so they answer at once and offline; a map with a query is replicated
// whole. The handle also subscribes on the server (QUERY_SUB), which is what
// makes a reference server send the map's SERVER_EVENTs, and is `settled` once
// the server has answered and the map's Merkle walk has caught up.
//
// Built so far: LWW maps (`getMap`), OR maps (`getORMap`), live and one-shot
// queries (`query`, `queryOnce`), PN counters (`getPNCounter`), topics
// (`topic`), locks (`getLock`), connection states, token auth, backoff with
// jitter, heartbeat, persistence, server-side full-text search (`search`,
// `searchSubscribe`) and local search on a map's replica (`getMap(name).search`).
import { Packr } from 'msgpackr';
import { loadCore, LwwReplica, OrReplica, PnCounter, ServerFrame, wireQuery } from './core.js';
import { MemoryStorage } from './storage.js';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const MERKLE_DEPTH = 3; // the trie depth both sides use (PROTOCOL.md §6.2)
const SNAPSHOT_DELAY_MS = 100; // coalesces a burst of writes into one snapshot save
const opKey = (id) => `op:${String(id).padStart(12, '0')}`;

export const ConnectionState = Object.freeze({
  INITIAL: 'INITIAL',
  CONNECTING: 'CONNECTING',
  AUTHENTICATING: 'AUTHENTICATING',
  SYNCING: 'SYNCING',
  CONNECTED: 'CONNECTED',
  BACKOFF: 'BACKOFF',
  DISCONNECTED: 'DISCONNECTED',
});

function randomNodeId() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return `node-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Listeners for one replica: subscribe(cb) returns the unsubscribe function. */
class Observable {
  #listeners = new Set();

  subscribe(cb) {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  emit(...args) {
    for (const cb of this.#listeners) cb(...args);
  }
}

/** What LWW and OR maps of a client share: a replica, its storage key, change notices. */
class SyncedMap extends Observable {
  constructor(client, name, replica, storageKey) {
    super();
    this.client = client;
    this.name = name;
    this.replica = replica;
    this.storageKey = storageKey;
  }

  /** cb(changedKeys) runs after local writes and merged remote changes. */
  notify(keys) {
    if (keys.length === 0) return;
    this.client._changed(this);
    this.emit(keys);
  }
}

// `sort` as the record {field: 'asc'|'desc'} (fields in order) for QUERY_SUB:
// the reference server 2.2.0 decodes only that form and silently drops a
// QUERY_SUB whose sort is the array [{field, direction}] (checked by hand
// against @topgunbuild/server-linux-x64@2.2.0); ours reads both.
function recordSort(query) {
  if (!Array.isArray(query.sort)) return query;
  return { ...query, sort: Object.fromEntries(query.sort.map(({ field, direction }) => [field, direction])) };
}

/**
 * A live query over a map's local replica. Results follow every local write
 * and every merged remote change at once (also offline): the core computes
 * each change's ENTER / UPDATE / LEAVE for the query's window.
 */
class QueryHandle {
  #map;
  #id;
  #results;
  #pagination;
  #subscribers = new Set();
  #changeListeners = new Set();
  #serverAnswered = false;
  #settled = false;
  #settleWaiters = new Set();
  #disposed = false;

  constructor(map, filter, serverId) {
    this.#map = map;
    this.filter = filter;
    this.serverId = serverId;
    const page = map.replica.addQuery(filter);
    this.#id = page.id;
    this.#setPage(page);
  }

  get id() {
    return this.#id;
  }

  get mapName() {
    return this.#map.name;
  }

  /** True once the server answered this query and the map's sync caught up. */
  get settled() {
    return this.#settled;
  }

  /** The rows in the query's order: [{key, value}] (values projected by `fields`). */
  getResults() {
    if (!this.#results) this.#setPage(this.#map.replica.queryPage(this.#id));
    return this.#results;
  }

  /** {hasMore, nextCursor?, cursorStatus}: pass nextCursor as `cursor` for the next page. */
  getPaginationInfo() {
    this.getResults();
    return this.#pagination;
  }

  /** cb(results, {settled}) now and after every change; returns the unsubscribe function. */
  subscribe(cb) {
    this.#subscribers.add(cb);
    cb(this.getResults(), { settled: this.#settled });
    return () => this.#subscribers.delete(cb);
  }

  /** cb([{type: 'ENTER'|'UPDATE'|'LEAVE', key, value}]) per change batch; returns the unsubscribe function. */
  onChanges(cb) {
    this.#changeListeners.add(cb);
    return () => this.#changeListeners.delete(cb);
  }

  /** Resolves true once settled, false after timeoutMs (or when disposed first). */
  whenSettled(timeoutMs = 5000) {
    if (this.#settled) return Promise.resolve(true);
    if (this.#disposed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (settled) => {
        clearTimeout(timer);
        this.#settleWaiters.delete(waiter);
        resolve(settled);
      };
      const timer = setTimeout(() => waiter(false), timeoutMs);
      this.#settleWaiters.add(waiter);
    });
  }

  /** Stops the query here and on the server. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#map.replica.removeQuery(this.#id);
    this.#map._queryClosed(this);
    for (const waiter of [...this.#settleWaiters]) waiter(false);
    this.#subscribers.clear();
    this.#changeListeners.clear();
  }

  _apply(updates) {
    this.#results = undefined;
    if (this.#changeListeners.size > 0) {
      const changes = updates.map(({ key, value, changeType }) => ({ type: changeType, key, value }));
      for (const cb of this.#changeListeners) cb(changes);
    }
    this.#publish();
  }

  // Called with whether the server answered and whether the map is in sync.
  _serverState({ answered, synced }) {
    if (answered) this.#serverAnswered = true;
    if (this.#settled || !this.#serverAnswered || !synced) return;
    this.#settled = true;
    for (const waiter of [...this.#settleWaiters]) waiter(true);
    this.#publish();
  }

  _resetServerState() {
    this.#serverAnswered = false;
  }

  #publish() {
    if (this.#subscribers.size === 0) return;
    const results = this.getResults();
    for (const cb of this.#subscribers) cb(results, { settled: this.#settled });
  }

  #setPage(page) {
    this.#results = page.results;
    this.#pagination = { hasMore: page.hasMore, cursorStatus: page.cursorStatus };
    if (page.nextCursor !== undefined) this.#pagination.nextCursor = page.nextCursor;
  }
}

/**
 * A standing full-text search: the hits, best first, kept current. On the
 * server (SEARCH_SUB, its SEARCH_UPDATEs; resubscribed after every reconnect)
 * or on a map's replica (getMap(name).searchSubscribe: every local write and
 * merged change, offline too). `owner` ends it (_searchClosed).
 */
class SearchHandle extends Observable {
  #owner;
  #hits = new Map(); // key -> {key, value, score, matchedTerms}

  constructor(owner, id, mapName, query, options) {
    super();
    this.#owner = owner;
    this.id = id;
    this.mapName = mapName;
    this.query = query;
    this.options = options;
  }

  /** [{key, value, score, matchedTerms}], best score first. */
  getResults() {
    return [...this.#hits.values()].sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** cb(results) at every answer and update; returns the unsubscribe function. */
  subscribe(cb) {
    return super.subscribe(cb);
  }

  /** Stops the search. */
  dispose() {
    this.#owner._searchClosed(this);
  }

  _answer(results) {
    this.#hits = new Map(results.map((r) => [r.key, r]));
    this.emit(this.getResults());
  }

  _update(event) {
    this.#take(event);
    this.emit(this.getResults());
  }

  // A local write batch, merge or sweep: the replica's events, then the values
  // of hits among the changed keys (a write that leaves a hit's text and score
  // as they were sends no event); one emit.
  _updateLocal(events, keys, read) {
    let changed = events.length > 0;
    for (const event of events) this.#take(event);
    for (const key of keys) {
      const hit = this.#hits.get(key);
      const value = hit && read(key);
      if (value !== undefined && value !== hit.value) {
        hit.value = value;
        changed = true;
      }
    }
    if (changed) this.emit(this.getResults());
  }

  #take({ key, value, score, matchedTerms, changeType }) {
    if (changeType === 'LEAVE') this.#hits.delete(key);
    else this.#hits.set(key, { key, value, score, matchedTerms });
  }
}

/** One LWW map of a client: reads are local, writes are local first and synced. */
class ClientMap extends SyncedMap {
  queries = new Map(); // live query id -> QueryHandle
  #searches = new Map(); // standing local search id -> SearchHandle
  #liveKeys = []; // changed keys whose query and search changes are not delivered yet
  #delivering = false;

  constructor(client, name, replica) {
    super(client, name, replica, `map:${name}`);
  }

  notify(keys) {
    super.notify(keys);
    this.#deliverLive(keys);
  }

  // Records whose TTL ran out: subscribers and live queries hear of them. The
  // replica keeps them (nothing to save or sync), so this is not a change of
  // the map's state.
  sweepExpired() {
    const keys = this.replica.reportExpired();
    if (keys.length === 0) return;
    this.#deliverLive(keys);
    this.emit(keys);
  }

  // The live queries' and standing local searches' changes, once per write
  // batch, merge or sweep, in order: a callback that writes to the map adds
  // its changes to the round being delivered instead of overtaking it.
  #deliverLive(keys) {
    if (keys.length === 0 || (this.queries.size === 0 && this.#searches.size === 0)) return;
    this.#liveKeys.push(...keys);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      while (this.#liveKeys.length > 0) {
        const changed = this.#liveKeys;
        this.#liveKeys = [];
        this.#deliverQueryEvents();
        this.#deliverSearchEvents(changed);
      }
    } finally {
      this.#delivering = false;
    }
  }

  #deliverQueryEvents() {
    if (this.queries.size === 0) return;
    const byQuery = new Map();
    for (const update of this.replica.takeQueryEvents()) {
      if (!byQuery.has(update.queryId)) byQuery.set(update.queryId, []);
      byQuery.get(update.queryId).push(update);
    }
    for (const [id, updates] of byQuery) this.queries.get(id)?._apply(updates);
  }

  #deliverSearchEvents(keys) {
    if (this.#searches.size === 0) return;
    const bySearch = new Map([...this.#searches.keys()].map((id) => [id, []]));
    for (const event of this.replica.takeSearchEvents()) bySearch.get(event.searchId)?.push(event);
    const read = (key) => this.replica.get(key);
    for (const [id, events] of bySearch) this.#searches.get(id)?._updateLocal(events, keys, read);
  }

  // The client closes: its standing local searches end with the replica.
  _closeSearches() {
    this.#searches.clear();
  }

  _queryClosed(handle) {
    this.queries.delete(handle.id);
    this.client._queryClosed(handle);
  }

  get(key) {
    return this.replica.get(key);
  }

  /** Live [key, value] pairs. */
  entries() {
    return this.replica.entries();
  }

  set(key, value, ttlMs) {
    this.#write([{ key, value, ttlMs }]);
    return value;
  }

  remove(key) {
    this.#write([{ key, value: null }]);
  }

  /** Several writes in one call into the core (and one op-log batch). */
  setMany(writes) {
    this.#write(writes);
  }

  /**
   * Full-text search of the local replica (BM25 in the core, ranked as the
   * server ranks): answers at once, offline too, and sees local writes before
   * the server does. client.search() asks the server instead.
   */
  search(query, options) {
    return this.replica.search(query, options);
  }

  /**
   * A standing search of the local replica: search()'s hits, kept current by
   * every local write, merged remote change and expiry (offline too).
   * client.searchSubscribe() asks the server instead.
   */
  searchSubscribe(query, options = {}) {
    const { id, results } = this.replica.addSearch(query, options);
    const handle = new SearchHandle(this, id, this.name, query, options);
    this.#searches.set(id, handle);
    handle._answer(results);
    return handle;
  }

  _searchClosed(handle) {
    if (this.#searches.delete(handle.id)) this.replica.removeSearch(handle.id);
  }

  /**
   * What local search reads and how (default: every string, as the server); see
   * LwwReplica.enableSearch. Not while standing local searches are open.
   */
  enableSearch(options) {
    this.replica.enableSearch(options);
  }

  #write(writes) {
    const records = this.replica.applyLocal(writes);
    this.client._enqueue(records.map(({ key, record }) => ({ mapName: this.name, opType: record.value === null ? 'REMOVE' : 'PUT', key, record })));
    this.notify(records.map((r) => r.key));
  }
}

/** One observed-remove map of a client: several values per key, concurrent adds all survive. */
class ClientOrMap extends SyncedMap {
  constructor(client, name, replica) {
    super(client, name, replica, `ormap:${name}`);
  }

  /** Live values of a key. */
  get(key) {
    return this.replica.get(key);
  }

  /** [key, values[]] pairs. */
  entries() {
    return this.replica.entries();
  }

  add(key, value, ttlMs) {
    const added = this.replica.addLocal([{ key, value, ttlMs }]);
    this.client._enqueue(added.map((r) => ({ mapName: this.name, opType: 'OR_ADD', key, orRecord: r.record })));
    this.notify([key]);
    return value;
  }

  /** Removes the values of key equal to value that this replica has seen. */
  remove(key, value) {
    const tags = this.replica.removeLocal(key, value);
    this.client._enqueue(tags.map((orTag) => ({ mapName: this.name, opType: 'OR_REMOVE', key, orTag })));
    this.notify(tags.length > 0 ? [key] : []);
  }
}

/** A PN counter of a client: local at once, merged with the server's state when connected. */
class ClientCounter extends Observable {
  #client;

  constructor(client, name, counter) {
    super();
    this.#client = client;
    this.name = name;
    this.counter = counter;
  }

  get() {
    return this.counter.value;
  }

  increment() {
    return this.addAndGet(1);
  }

  decrement() {
    return this.addAndGet(-1);
  }

  addAndGet(delta) {
    const value = this.counter.add(delta);
    this.#client._counterChanged(this.name, true);
    this.notify();
    return value;
  }

  /** cb(value) runs after every change, local or remote. */
  notify() {
    this.emit(this.get());
  }
}

const MAX_QUEUED_PUBLISHES = 1000; // offline publishes kept for the next connection; older ones are dropped

/** A pub/sub topic: messages from the other clients, nothing stored. */
class TopicHandle extends Observable {
  #client;

  constructor(client, name) {
    super();
    this.#client = client;
    this.name = name;
  }

  /** Sends data to every other subscriber; queued while offline. */
  publish(data) {
    this.#client._publish(this.name, data);
  }

  /** cb(data, {publisherId, timestamp}); returns the unsubscribe function (the last one leaves the topic). */
  subscribe(cb) {
    const unsubscribe = super.subscribe(cb);
    this.#client._topicSubscribers(this, +1);
    return () => {
      unsubscribe();
      this.#client._topicSubscribers(this, -1);
    };
  }
}

/**
 * A distributed lock held through the server. The fencing token grows with
 * every grant of the name: pass it along with writes the lock protects.
 */
class DistributedLock {
  #client;
  fencingToken = undefined;

  constructor(client, name) {
    this.#client = client;
    this.name = name;
  }

  /**
   * Resolves true once granted, false when denied: offline, a TTL of 0, or held
   * by another client for longer than the server lets a request wait (4 s).
   */
  async lock(ttlMs = 10000) {
    const answer = await this.#client._lockRequest(this.name, ttlMs);
    if (answer.type === 'LOCK_GRANTED') this.fencingToken = answer.payload.fencingToken;
    return answer.type === 'LOCK_GRANTED';
  }

  /** Resolves whether the server released it (false when the token is no longer the holder's). */
  async unlock() {
    if (this.fencingToken === undefined) return false;
    const token = this.fencingToken;
    this.fencingToken = undefined;
    const answer = await this.#client._lockRelease(this.name, token);
    return answer.payload?.success === true;
  }

  isLocked() {
    return this.fencingToken !== undefined;
  }
}

// Only the fields that are set: the server reads an absent field as "not given".
function defined(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/**
 * The server's event journal (getEventJournal): every applied write as
 * {sequence (BigInt), type: 'PUT'|'UPDATE'|'DELETE', mapName, key, value,
 * previousValue, timestamp, nodeId}. A subscription survives reconnects: it
 * resumes after the last event it delivered, so a retained event is neither
 * missed nor repeated.
 */
class EventJournal {
  #client;
  #subscriptions = new Map(); // id -> {listener, mapName, types, next: BigInt sequence expected next}
  #nextId = 1;

  constructor(client) {
    this.#client = client;
  }

  /** Up to `limit` events from `sequence` on (inclusive). Rejects offline or after timeoutMs. */
  async readFrom(sequence = 0n, limit = 100, { mapName, timeoutMs = 10000 } = {}) {
    return (await this.#read(sequence, limit, mapName, timeoutMs)).events.map(parseJournalEvent);
  }

  readMapEvents(mapName, sequence = 0n, limit = 100) {
    return this.readFrom(sequence, limit, { mapName });
  }

  /** The newest sequence the server has handed out (0n before any write). */
  async getLatestSequence() {
    const page = await this.#read(0n, 0);
    if (page.latestSequence !== undefined) return BigInt(page.latestSequence);
    // A server that does not say (the reference): page to the end.
    let latest = 0n;
    for (let from = 0n; ; ) {
      const { events, hasMore } = await this.#read(from, 1000);
      if (events.length > 0) latest = BigInt(events.at(-1).sequence);
      if (!hasMore || events.length === 0) return latest;
      from = latest + 1n;
    }
  }

  /**
   * listener(event) for each new event that matches; with fromSequence, the
   * retained ones from there first. Returns the unsubscribe function.
   */
  subscribe(listener, { fromSequence, mapName, types } = {}) {
    const id = `journal-${this.#nextId++}`;
    const subscription = { listener, mapName, types, next: fromSequence === undefined ? undefined : BigInt(fromSequence) };
    this.#subscriptions.set(id, subscription);
    if (this.#client._connected()) this.#subscribeOnServer(id, subscription);
    return () => {
      if (this.#subscriptions.delete(id) && this.#client._connected()) {
        this.#client._send({ type: 'JOURNAL_UNSUBSCRIBE', subscriptionId: id });
      }
    };
  }

  _resubscribe() {
    for (const [id, subscription] of this.#subscriptions) this.#subscribeOnServer(id, subscription);
  }

  _event(raw) {
    if (!raw) return;
    const event = parseJournalEvent(raw);
    for (const subscription of this.#subscriptions.values()) {
      if (subscription.mapName !== undefined && subscription.mapName !== event.mapName) continue;
      if (subscription.types && !subscription.types.includes(event.type)) continue;
      if (subscription.next !== undefined && event.sequence < subscription.next) continue; // seen already
      subscription.next = event.sequence + 1n;
      subscription.listener(event);
    }
  }

  #subscribeOnServer(id, { mapName, types, next }) {
    this.#client._send({ type: 'JOURNAL_SUBSCRIBE', ...defined({ requestId: id, fromSequence: next?.toString(), mapName, types }) });
  }

  async #read(sequence, limit, mapName, timeoutMs = 10000) {
    if (!this.#client._connected()) throw new Error('event journal: offline');
    const requestId = globalThis.crypto.randomUUID();
    const message = { type: 'JOURNAL_READ', ...defined({ requestId, fromSequence: BigInt(sequence).toString(), limit, mapName }) };
    const answer = await this.#client._request(requestId, message, timeoutMs, (reason) => ({ failed: reason }));
    if (answer.failed) throw new Error(`event journal: ${answer.failed === 'timeout' ? `no answer within ${timeoutMs} ms` : 'the connection dropped'}`);
    return { events: answer.events ?? [], hasMore: answer.hasMore === true, latestSequence: answer.latestSequence };
  }
}

function parseJournalEvent(raw) {
  return { ...raw, sequence: BigInt(raw.sequence) };
}

export class TopGunClient {
  #options;
  #maps = new Map();
  #orMaps = new Map();
  #counters = new Map();
  #topics = new Map(); // name -> {handle, listeners}
  #queuedPublishes = [];
  #answers = new Map(); // requestId -> {settle(answer), fallback(reason)} of requests awaiting one reply
  #rejectedOps = new Set(); // ids of pending ops the server answered with OP_REJECTED
  #confirmWaits = []; // {op, resolve} waiting for their op's ack
  #pending = []; // op log: ops not yet acked, in order
  #nextOpId = 1;
  #state = ConnectionState.INITIAL;
  #stateListeners = new Set();
  #socket;
  #attempt = 0;
  #reconnectTimer;
  #pingTimer;
  #closed = false;
  #storage;
  #snapshotTimers = new Map(); // map -> its pending snapshot save
  #writes = Promise.resolve(); // storage writes, in order
  #token;
  #graceTimer;
  #onOffline;
  #onOnline;
  #authRequired = false; // this connection's server asked for a token
  #queries = new Map(); // server query id -> QueryHandle
  #syncPending = new Map(); // map name -> Merkle requests unanswered this connection (0: in sync)
  #searches = new Map(); // subscription id -> SearchHandle
  #journal; // EventJournal, made on first use
  #expiryTimer;

  /**
   * @param {object} options
   * @param {string} options.serverUrl  ws:// or wss:// URL of a TopGun server
   * @param {string} [options.nodeId]   this replica's HLC node id (random when absent)
   * @param {string} [options.token]    JWT sent in AUTH (or use getToken)
   * @param {() => string|Promise<string>} [options.getToken]
   * @param {{initialDelayMs?: number, maxDelayMs?: number, multiplier?: number, jitter?: number}} [options.backoff]
   * @param {typeof WebSocket} [options.WebSocket] a WebSocket class (Node 20 has none built in: pass `ws`)
   * @param {number} [options.pingIntervalMs]
   * @param {number} [options.expirySweepMs] how often records whose TTL ran out leave live queries,
   *   local search and map subscribers' view (default 1000)
   * @param {object} [options.storage] a storage adapter (storage.js); memory when absent
   * @param {string} [options.wasmUrl] where a browser fetches topgun_core.wasm (see loadCore)
   */
  constructor(options) {
    if (!options?.serverUrl) throw new Error('TopGunClient: serverUrl is required');
    this.#options = {
      nodeId: randomNodeId(),
      pingIntervalMs: 5000,
      expirySweepMs: 1000,
      ...options,
      backoff: { initialDelayMs: 1000, maxDelayMs: 30000, multiplier: 2, jitter: 0.3, ...options.backoff },
    };
    this.#token = options.token;
    this.#storage = options.storage ?? new MemoryStorage();
  }

  /**
   * Loads the WASM core, restores maps and pending ops from storage, and starts
   * connecting; reads and writes work (locally) from here on.
   */
  async start() {
    await loadCore({ wasmUrl: this.#options.wasmUrl });
    await this.#restore();
    this.#closed = false;
    clearInterval(this.#expiryTimer);
    this.#expiryTimer = setInterval(() => this.#sweepExpired(), this.#options.expirySweepMs);
    this.#expiryTimer.unref?.(); // in Node, an open client alone does not keep the process alive for this
    this.#watchNetwork();
    this.#connect();
  }

  // Every map is swept even when a listener throws; the first error is rethrown afterwards.
  #sweepExpired() {
    let failure;
    for (const map of this.#maps.values()) {
      try {
        map.sweepExpired();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  // Browsers say when the network goes: drop the socket at once instead of
  // waiting for it to time out, and reconnect as soon as it is back.
  #watchNetwork() {
    if (typeof globalThis.addEventListener !== 'function' || typeof globalThis.navigator?.onLine !== 'boolean') return;
    this.#onOffline = () => this.#socket?.close();
    this.#onOnline = () => {
      if (this.#closed || this.#socket) return;
      clearTimeout(this.#reconnectTimer);
      this.#attempt = 0;
      this.#connect();
    };
    globalThis.addEventListener('offline', this.#onOffline);
    globalThis.addEventListener('online', this.#onOnline);
  }

  /** Disconnects and saves every map's snapshot; the client cannot be used afterwards. */
  async close() {
    this.#closed = true;
    if (this.#onOffline) {
      globalThis.removeEventListener('offline', this.#onOffline);
      globalThis.removeEventListener('online', this.#onOnline);
    }
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#graceTimer);
    clearInterval(this.#pingTimer);
    clearInterval(this.#expiryTimer);
    this.#socket?.close();
    this.#setState(ConnectionState.DISCONNECTED);
    await this.flush();
    for (const handle of [...this.#queries.values()]) handle.dispose();
    this.#searches.clear();
    for (const map of this.#maps.values()) map._closeSearches();
    for (const map of [...this.#maps.values(), ...this.#orMaps.values()]) map.replica.dispose();
    for (const counter of this.#counters.values()) counter.counter.dispose();
    this.#maps.clear();
    this.#orMaps.clear();
    this.#counters.clear();
  }

  /**
   * Saves every map snapshot still waiting for its timer, now; resolves once
   * storage holds every change made so far. Call it before a page may go away
   * (`pagehide`): remote changes reach storage only through snapshots.
   */
  async flush() {
    for (const [map, timer] of this.#snapshotTimers) {
      clearTimeout(timer);
      this.#saveSnapshot(map);
    }
    this.#snapshotTimers.clear();
    await this.#writes;
  }

  getConnectionState() {
    return this.#state;
  }

  onConnectionStateChange(cb) {
    this.#stateListeners.add(cb);
    return () => this.#stateListeners.delete(cb);
  }

  setAuthToken(token) {
    this.#token = token;
    if (this.#state === ConnectionState.AUTHENTICATING && this.#authRequired) this.#authenticate();
  }

  getPendingOpsCount() {
    return this.#pending.length;
  }

  getMap(name) {
    const known = this.#maps.has(name);
    const map = this.#openMap(name);
    if (!known && this.#state === ConnectionState.CONNECTED) this.#syncInit(name);
    return map;
  }

  /**
   * A live query over map `mapName` (replicated whole, see the top of the file).
   * @param {object} filter {where?, predicate?, sort? (array or {field: 'asc'|'desc'}), limit?, cursor?, fields?, groupBy?, aggregations?}
   * @returns {QueryHandle}
   * @throws Error when the query cannot run
   */
  query(mapName, filter = {}) {
    const map = this.getMap(mapName);
    // Unique across clients: the reference server keeps one subscription per
    // query id, so a second client's `q-1` would take over the first one's.
    const handle = new QueryHandle(map, wireQuery(filter), globalThis.crypto.randomUUID());
    map.queries.set(handle.id, handle);
    this.#queries.set(handle.serverId, handle);
    if (this.#state === ConnectionState.CONNECTED) this.#querySub(handle);
    return handle;
  }

  /**
   * The query's rows once the server has confirmed them (settled). Rejects
   * when that does not happen within timeoutMs, or at once when offline,
   * unless allowLocal, which resolves with the local rows instead.
   * @returns {Promise<{results: {key: string, value: any}[], hasMore: boolean, nextCursor?: string, settled: boolean}>}
   */
  async queryOnce(mapName, filter = {}, { timeoutMs = 5000, allowLocal = false } = {}) {
    const handle = this.query(mapName, filter);
    try {
      const settled = this.#state === ConnectionState.CONNECTED ? await handle.whenSettled(timeoutMs) : false;
      if (!settled && !allowLocal) {
        const why = this.#state === ConnectionState.CONNECTED ? `the server did not confirm within ${timeoutMs} ms` : 'offline';
        throw new Error(`queryOnce(${mapName}): ${why} (allowLocal accepts local data)`);
      }
      return { results: handle.getResults(), ...handle.getPaginationInfo(), settled };
    } finally {
      handle.dispose();
    }
  }

  /**
   * Full-text search on the server (BM25 over every string of each record).
   * @param {{limit?: number, minScore?: number, boost?: Record<string, number>, timeoutMs?: number}} [options]
   * @returns {Promise<{key: string, value: any, score: number, matchedTerms: string[]}[]>} best first
   * @throws Error when offline, on no answer within timeoutMs (5000), or when the server refuses
   */
  search(mapName, query, { timeoutMs = 5000, ...options } = {}) {
    if (this.#state !== ConnectionState.CONNECTED) return Promise.reject(new Error(`search(${mapName}): offline`));
    const requestId = globalThis.crypto.randomUUID();
    const failed = (reason) => ({ error: reason === 'timeout' ? `no answer within ${timeoutMs} ms` : 'the connection dropped' });
    return this._request(requestId, { type: 'SEARCH', payload: { requestId, mapName, query, options } }, timeoutMs, failed).then((answer) => {
      if (answer.error) throw new Error(`search(${mapName}): ${answer.error}`);
      return answer.results ?? [];
    });
  }

  /**
   * Sends `message` and resolves with the reply carrying `requestId`, or with
   * fallback('timeout' | 'dropped') when none comes in `timeoutMs` or the
   * connection drops first (the server forgets the request then too).
   */
  _request(requestId, message, timeoutMs, fallback) {
    return new Promise((resolve) => {
      const settle = (answer) => {
        clearTimeout(timer);
        this.#answers.delete(requestId);
        resolve(answer);
      };
      const timer = setTimeout(() => settle(fallback('timeout')), timeoutMs);
      this.#answers.set(requestId, { settle, fallback });
      this.#send(message);
    });
  }

  _connected() {
    return this.#state === ConnectionState.CONNECTED;
  }

  /** The server's event journal: every applied write, numbered (see EventJournal). */
  getEventJournal() {
    this.#journal ??= new EventJournal(this);
    return this.#journal;
  }

  _send(message) {
    this.#send(message);
  }

  /** A standing search on the server: a SearchHandle whose results follow the map's changes. */
  searchSubscribe(mapName, query, options = {}) {
    const handle = new SearchHandle(this, globalThis.crypto.randomUUID(), mapName, query, options);
    this.#searches.set(handle.id, handle);
    if (this.#state === ConnectionState.CONNECTED) this.#searchSub(handle);
    return handle;
  }

  #searchSub(handle) {
    this.#send({ type: 'SEARCH_SUB', payload: { subscriptionId: handle.id, mapName: handle.mapName, query: handle.query, options: handle.options } });
  }

  _searchClosed(handle) {
    if (!this.#searches.delete(handle.id)) return;
    if (this.#state === ConnectionState.CONNECTED) this.#send({ type: 'SEARCH_UNSUB', payload: { subscriptionId: handle.id } });
  }

  _queryClosed(handle) {
    this.#queries.delete(handle.serverId);
    if (this.#state === ConnectionState.CONNECTED) this.#send({ type: 'QUERY_UNSUB', payload: { queryId: handle.serverId } });
  }

  #querySub(handle) {
    this.#send({ type: 'QUERY_SUB', payload: { queryId: handle.serverId, mapName: handle.mapName, query: recordSort(handle.filter) } });
  }

  #syncInit(name) {
    this.#syncPending.set(name, 1);
    this.#send({ type: 'SYNC_INIT', mapName: name });
  }

  // One Merkle answer for map `name` arrived; `requested` new requests went out for it.
  #syncStep(name, requested) {
    if (!this.#syncPending.has(name)) return;
    const left = this.#syncPending.get(name) - 1 + requested;
    this.#syncPending.set(name, left);
    if (left === 0) this.#settleQueries(name, false);
  }

  #settleQueries(mapName, answered, serverId) {
    const synced = this.#syncPending.get(mapName) === 0;
    for (const handle of this.#queries.values()) {
      if (handle.mapName !== mapName) continue;
      handle._serverState({ answered: answered && handle.serverId === serverId, synced });
    }
  }

  getORMap(name) {
    const known = this.#orMaps.has(name);
    const map = this.#openOrMap(name);
    if (!known && this.#state === ConnectionState.CONNECTED) this.#orSyncInit(map);
    return map;
  }

  #openOrMap(name) {
    let map = this.#orMaps.get(name);
    if (!map) {
      map = new ClientOrMap(this, name, new OrReplica(this.#options.nodeId));
      this.#orMaps.set(name, map);
    }
    return map;
  }

  /** A pub/sub topic (names: 1 to 256 of [A-Za-z0-9_-.:/]). */
  topic(name) {
    let entry = this.#topics.get(name);
    if (!entry) {
      entry = { handle: new TopicHandle(this, name), listeners: 0 };
      this.#topics.set(name, entry);
    }
    return entry.handle;
  }

  _topicSubscribers(handle, delta) {
    const entry = this.#topics.get(handle.name);
    entry.listeners += delta;
    const connected = this.#state === ConnectionState.CONNECTED;
    if (entry.listeners === 1 && delta > 0 && connected) this.#send({ type: 'TOPIC_SUB', payload: { topic: handle.name } });
    if (entry.listeners === 0 && connected) this.#send({ type: 'TOPIC_UNSUB', payload: { topic: handle.name } });
  }

  _publish(topic, data) {
    const message = { type: 'TOPIC_PUB', payload: { topic, data } };
    if (this.#state === ConnectionState.CONNECTED) {
      this.#send(message);
      return;
    }
    this.#queuedPublishes.push(message);
    if (this.#queuedPublishes.length > MAX_QUEUED_PUBLISHES) this.#queuedPublishes.shift();
  }

  /**
   * Whether the last write to `key` of LWW or OR map `mapName` reached the
   * server: 'synced' (acked, or nothing pending), 'failed' (OP_REJECTED),
   * 'offline' (not connected now), or 'timeout'.
   */
  confirmWrite(mapName, key, timeoutMs = 5000) {
    const op = this.#pending.findLast((o) => o.mapName === mapName && o.key === key);
    if (!op) return Promise.resolve('synced');
    if (this.#state !== ConnectionState.CONNECTED) return Promise.resolve('offline');
    return new Promise((resolve) => {
      const waiter = { op, resolve };
      const timer = setTimeout(() => {
        this.#confirmWaits = this.#confirmWaits.filter((w) => w !== waiter);
        resolve('timeout');
      }, timeoutMs);
      waiter.resolve = (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      this.#confirmWaits.push(waiter);
    });
  }

  getLock(name) {
    return new DistributedLock(this, name);
  }

  // A LOCK_* request answered by the message carrying its requestId, or by a
  // local denial when offline or when no answer comes in time.
  _lockRequest(name, ttlMs) {
    return this.#lockCall({ type: 'LOCK_REQUEST', payload: { name, ttl: ttlMs } }, Math.max(ttlMs + 5000, 5000));
  }

  _lockRelease(name, fencingToken) {
    return this.#lockCall({ type: 'LOCK_RELEASE', payload: { name, fencingToken } }, 5000);
  }

  #lockCall(message, timeoutMs) {
    const denied = { type: 'LOCK_RELEASED', payload: { success: false } };
    if (this.#state !== ConnectionState.CONNECTED) return Promise.resolve(denied);
    const requestId = globalThis.crypto.randomUUID();
    message.payload.requestId = requestId;
    return this._request(requestId, message, timeoutMs, () => denied);
  }

  getPNCounter(name) {
    const known = this.#counters.has(name);
    const counter = this.#openCounter(name);
    if (!known && this.#state === ConnectionState.CONNECTED) this.#syncCounter(counter);
    return counter;
  }

  #openCounter(name) {
    let counter = this.#counters.get(name);
    if (!counter) {
      counter = new ClientCounter(this, name, new PnCounter(this.#options.nodeId));
      this.#counters.set(name, counter);
    }
    return counter;
  }

  // COUNTER_REQUEST subscribes to the server's state; COUNTER_SYNC pushes ours
  // (increments made offline included) and is answered with the merged state.
  #syncCounter(counter) {
    this.#send({ type: 'COUNTER_REQUEST', payload: { name: counter.name } });
    this.#send({ type: 'COUNTER_SYNC', payload: { name: counter.name, state: counter.counter.state() } });
  }

  _counterChanged(name, local) {
    const counter = this.#counters.get(name);
    const bytes = counter.counter.stateBytes();
    this.#store((storage) => storage.put(`counter:${name}`, bytes));
    if (local && this.#state === ConnectionState.CONNECTED) {
      this.#send({ type: 'COUNTER_SYNC', payload: { name, state: counter.counter.state() } });
    }
  }

  #openMap(name) {
    let map = this.#maps.get(name);
    if (!map) {
      map = new ClientMap(this, name, new LwwReplica(this.#options.nodeId));
      this.#maps.set(name, map);
    }
    return map;
  }

  // --- called by maps ------------------------------------------------------------------------------

  // Stores the ops, then sends them: an op is never on the wire before it is
  // in storage, so a crash cannot lose a write the server might not have.
  _enqueue(unnumbered) {
    if (unnumbered.length === 0) return;
    const ops = unnumbered.map((op) => ({ id: String(this.#nextOpId++), ...op }));
    this.#pending.push(...ops);
    const nextOpId = this.#nextOpId;
    this.#store(async (storage) => {
      for (const op of ops) await storage.put(opKey(op.id), op);
      await storage.put('meta:nextOpId', nextOpId);
    }).then(() => {
      const unacked = ops.filter((op) => this.#pending.includes(op));
      if (unacked.length > 0 && this.#state === ConnectionState.CONNECTED) this.#send({ type: 'OP_BATCH', payload: { ops: unacked } });
    });
  }

  _changed(map) {
    if (this.#snapshotTimers.has(map)) return;
    this.#snapshotTimers.set(
      map,
      setTimeout(() => {
        this.#snapshotTimers.delete(map);
        this.#saveSnapshot(map);
      }, SNAPSHOT_DELAY_MS),
    );
  }

  // --- storage -------------------------------------------------------------------------------------

  // Storage writes run one after another; a failing one is reported and does
  // not stop the next (the data stays in memory and in the op log).
  #store(write) {
    this.#writes = this.#writes.then(() => write(this.#storage)).catch((e) => this.#options.onStorageError?.(e));
    return this.#writes;
  }

  #saveSnapshot(map) {
    const bytes = map.replica.snapshot();
    this.#store((storage) => storage.put(map.storageKey, bytes));
  }

  async #restore() {
    this.#nextOpId = Math.max(this.#nextOpId, (await this.#storage.get('meta:nextOpId')) ?? 1);
    for (const [key, bytes] of await this.#storage.entries('map:')) {
      this.#openMap(key.slice('map:'.length)).replica.restore(bytes);
    }
    for (const [key, bytes] of await this.#storage.entries('ormap:')) {
      this.#openOrMap(key.slice('ormap:'.length)).replica.restore(bytes);
    }
    for (const [key, state] of await this.#storage.entries('counter:')) {
      this.#openCounter(key.slice('counter:'.length)).counter.merge(state);
    }
    // Pending ops were stored before their map's next snapshot: apply them again.
    const ops = (await this.#storage.entries('op:')).map(([, op]) => op);
    for (const op of ops) {
      if (op.opType === 'OR_ADD') this.#openOrMap(op.mapName).replica.apply([{ key: op.key, record: op.orRecord }]);
      else if (op.opType === 'OR_REMOVE') this.#openOrMap(op.mapName).replica.applyTombstones([op.orTag]);
      else this.#openMap(op.mapName).replica.merge([{ key: op.key, record: op.record }]);
    }
    this.#pending = ops;
  }

  // --- connection ----------------------------------------------------------------------------------

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    for (const cb of this.#stateListeners) cb(state);
  }

  #connect() {
    const Impl = this.#options.WebSocket ?? globalThis.WebSocket;
    if (!Impl) throw new Error('TopGunClient: no WebSocket implementation (pass options.WebSocket, e.g. the `ws` package)');
    this.#setState(ConnectionState.CONNECTING);
    const socket = new Impl(this.#options.serverUrl);
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      this.#attempt = 0;
      this.#authRequired = false;
      this.#setState(ConnectionState.AUTHENTICATING);
      this.#authenticate();
    };
    socket.onmessage = (event) => this.#receive(new Uint8Array(event.data));
    socket.onclose = () => this.#disconnected(socket);
    socket.onerror = () => {}; // onclose follows
  }

  // With a token: AUTH, answered by AUTH_ACK. Without one, as the reference
  // client: DEVICE_HELLO and go on at DEVICE_ACK or after a 500 ms grace (a
  // no-auth server needs nothing more; a JWT server sends AUTH_REQUIRED, and
  // the client waits for setAuthToken).
  async #authenticate() {
    const token = this.#token ?? (await this.#options.getToken?.());
    if (token) {
      this.#send({ type: 'AUTH', token });
      return;
    }
    this.#send({ type: 'DEVICE_HELLO' });
    const socket = this.#socket;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => {
      if (socket === this.#socket && !this.#authRequired) this.#authenticated();
    }, 500);
  }

  #disconnected(socket) {
    if (socket !== this.#socket) return;
    clearInterval(this.#pingTimer);
    this.#socket = undefined;
    this.#syncPending.clear();
    // Requests in flight die with the connection (the server drops them too).
    for (const { settle, fallback } of [...this.#answers.values()]) settle(fallback('dropped'));
    if (this.#closed) return;
    const { initialDelayMs, maxDelayMs, multiplier, jitter } = this.#options.backoff;
    const base = Math.min(maxDelayMs, initialDelayMs * multiplier ** this.#attempt++);
    const delay = base * (1 - jitter + Math.random() * 2 * jitter);
    this.#setState(ConnectionState.BACKOFF);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #send(message) {
    if (this.#socket?.readyState === 1) this.#socket.send(packr.pack(message));
  }

  // After AUTH_ACK: replay the op log, then walk every open map's Merkle tree.
  #authenticated() {
    clearTimeout(this.#graceTimer);
    if (this.#state === ConnectionState.SYNCING || this.#state === ConnectionState.CONNECTED) return;
    this.#setState(ConnectionState.SYNCING);
    if (this.#pending.length > 0) this.#send({ type: 'OP_BATCH', payload: { ops: this.#pending } });
    for (const name of this.#maps.keys()) this.#syncInit(name);
    for (const handle of this.#queries.values()) {
      handle._resetServerState();
      this.#querySub(handle);
    }
    for (const handle of this.#searches.values()) this.#searchSub(handle);
    this.#journal?._resubscribe();
    for (const map of this.#orMaps.values()) this.#orSyncInit(map);
    for (const counter of this.#counters.values()) this.#syncCounter(counter);
    for (const [topic, entry] of this.#topics) if (entry.listeners > 0) this.#send({ type: 'TOPIC_SUB', payload: { topic } });
    for (const message of this.#queuedPublishes.splice(0)) this.#send(message);
    clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => this.#send({ type: 'PING', timestamp: Date.now() }), this.#options.pingIntervalMs);
    this.#setState(ConnectionState.CONNECTED);
  }

  #receive(bytes) {
    let frame;
    try {
      frame = new ServerFrame(bytes);
    } catch {
      return; // a malformed frame from the server changes nothing here
    }
    try {
      this.#dispatch(frame);
    } finally {
      frame.dispose();
    }
  }

  // LWW records go from the frame into the replicas without becoming JS
  // objects; everything else reads frame.payload (decoded on first use).
  #dispatch(frame) {
    switch (frame.type) {
      case 'AUTH_REQUIRED':
        this.#authRequired = true;
        clearTimeout(this.#graceTimer);
        this.#authenticate();
        break;
      case 'AUTH_ACK':
      case 'DEVICE_ACK':
        this.#authenticated();
        break;
      case 'AUTH_FAIL':
        this.#socket?.close();
        break;
      case 'OP_REJECTED':
        this.#rejectedOps.add(frame.payload.opId);
        break;
      case 'OP_ACK':
        this.#acked(frame.payload.lastId);
        break;
      case 'SERVER_EVENT':
      case 'SERVER_BATCH_EVENT':
        for (const mapName of frame.lwwMaps) this.#mergeFrame(frame, mapName);
        if (frame.orEvents > 0) this.#orEvents(frame.type === 'SERVER_EVENT' ? [frame.payload] : frame.payload.events);
        break;
      case 'SYNC_RESP_ROOT':
        this.#syncStep(frame.payload.mapName, this.#compareBuckets(frame.payload.mapName, '', frame.payload.rootHash));
        break;
      case 'SYNC_RESP_BUCKETS':
        this.#syncStep(frame.payload.mapName, this.#compareChildren(frame.payload.mapName, frame.payload.path, frame.payload.buckets ?? {}));
        break;
      case 'SYNC_RESP_LEAF': {
        const [mapName] = frame.lwwMaps;
        this.#mergeFrame(frame, mapName);
        this.#syncStep(mapName, 0);
        break;
      }
      case 'SEARCH_RESP': {
        const search = this.#searches.get(frame.payload.requestId);
        if (search) search._answer(frame.payload.results ?? []);
        else this.#answers.get(frame.payload.requestId)?.settle(frame.payload);
        break;
      }
      case 'SEARCH_UPDATE':
        this.#searches.get(frame.payload.subscriptionId)?._update(frame.payload);
        break;
      case 'QUERY_RESP': {
        const handle = this.#queries.get(frame.payload.queryId);
        if (handle) this.#settleQueries(handle.mapName, true, handle.serverId);
        break;
      }
      case 'ORMAP_SYNC_RESP_ROOT': {
        const map = this.#orMaps.get(frame.payload.mapName);
        if (map && frame.payload.rootHash !== map.replica.rootHash()) this.#send({ type: 'ORMAP_MERKLE_REQ_BUCKET', payload: { mapName: map.name, path: '' } });
        break;
      }
      case 'ORMAP_SYNC_RESP_BUCKETS':
        this.#orCompareChildren(frame.payload.mapName, frame.payload.path, frame.payload.buckets ?? {});
        break;
      case 'ORMAP_SYNC_RESP_LEAF':
        this.#orMergeLeaf(frame.payload.mapName, frame.payload.path, frame.payload.entries ?? []);
        break;
      case 'LOCK_GRANTED':
      case 'LOCK_RELEASED':
        this.#answers.get(frame.payload.requestId)?.settle(frame.message);
        break;
      case 'JOURNAL_READ_RESPONSE':
        this.#answers.get(frame.payload.requestId)?.settle(frame.payload);
        break;
      case 'JOURNAL_EVENT':
        this.#journal?._event(frame.message.event);
        break;
      case 'TOPIC_MESSAGE':
        this.#topics.get(frame.payload.topic)?.handle.emit(frame.payload.data, { publisherId: frame.payload.publisherId, timestamp: frame.payload.timestamp });
        break;
      case 'COUNTER_RESPONSE':
      case 'COUNTER_UPDATE': {
        const counter = this.#counters.get(frame.payload.name);
        if (counter && frame.payload.state && counter.counter.merge(frame.payload.state)) {
          this._counterChanged(counter.name, false);
          counter.notify();
        }
        break;
      }
      default:
        break; // PONG, ERROR and kinds this client does not use yet
    }
  }

  // OP_ACK's lastId is the last op of an acked batch; op ids grow, so
  // everything up to it is acked. A non-numeric id acks nothing here (the
  // reference client takes it as "all", which an ack of something else, such
  // as an ORMAP_PUSH_DIFF, turns into lost writes); unacked ops are resent.
  #acked(lastId) {
    const upTo = Number.parseInt(lastId, 10);
    if (Number.isNaN(upTo)) return;
    const done = this.#pending.filter((op) => Number(op.id) <= upTo);
    if (done.length === 0) return;
    this.#pending = this.#pending.filter((op) => !done.includes(op));
    const finished = this.#confirmWaits.filter((w) => done.includes(w.op));
    this.#confirmWaits = this.#confirmWaits.filter((w) => !done.includes(w.op));
    for (const w of finished) w.resolve(this.#rejectedOps.has(w.op.id) ? 'failed' : 'synced');
    for (const op of done) this.#rejectedOps.delete(op.id);
    this.#store(async (storage) => {
      for (const op of done) await storage.delete(opKey(op.id));
    });
  }

  // OR events apply one by one (the frame's LWW records merge per map, from the frame).
  #orEvents(events) {
    for (const event of events) {
      const map = this.#orMaps.get(event.mapName);
      if (!map) continue;
      if (event.eventType === 'OR_ADD' && event.orRecord) map.notify(map.replica.apply([{ key: event.key, record: event.orRecord }]));
      if (event.eventType === 'OR_REMOVE' && event.orTag && map.replica.applyTombstones([event.orTag]) > 0) map.notify([event.key]);
    }
  }

  // --- OR-map sync (PROTOCOL.md §6.6) ---------------------------------------------------------------

  #orSyncInit(map) {
    this.#send({ type: 'ORMAP_SYNC_INIT', mapName: map.name, rootHash: map.replica.rootHash(), bucketHashes: map.replica.buckets('') });
  }

  // Asks for each remote child that differs; pushes whole local subtrees the
  // server lacks (as the reference client, which has no other way to send
  // OR state that never went through the op log, e.g. from a wiped server).
  #orCompareChildren(mapName, path, remote) {
    const map = this.#orMaps.get(mapName);
    if (!map || path.length >= MERKLE_DEPTH) return;
    const local = map.replica.buckets(path);
    for (const [digit, hash] of Object.entries(remote)) {
      if (local[digit] !== hash) this.#send({ type: 'ORMAP_MERKLE_REQ_BUCKET', payload: { mapName, path: path + digit } });
    }
    const missing = Object.keys(local).filter((digit) => !(digit in remote));
    const entries = missing.flatMap((digit) => this.#orEntriesUnder(map, path + digit));
    if (entries.length > 0) this.#send({ type: 'ORMAP_PUSH_DIFF', payload: { mapName, entries } });
  }

  #orEntriesUnder(map, path) {
    if (path.length >= MERKLE_DEPTH) return map.replica.leaf(path);
    return Object.keys(map.replica.buckets(path)).flatMap((digit) => this.#orEntriesUnder(map, path + digit));
  }

  // Merges the server's entries, then pushes ours for the same leaf, so the
  // server gets what only we hold there.
  #orMergeLeaf(mapName, path, entries) {
    const map = this.#orMaps.get(mapName);
    if (!map) return;
    map.notify(map.replica.mergeEntries(entries));
    const ours = map.replica.leaf(path);
    if (ours.length > 0) this.#send({ type: 'ORMAP_PUSH_DIFF', payload: { mapName, entries: ours } });
  }

  #mergeFrame(frame, mapName) {
    const map = this.#maps.get(mapName);
    if (map) map.notify(map.replica.mergeFrame(frame, mapName).changed);
  }

  // Returns how many requests went out (0 or 1).
  #compareBuckets(mapName, path, remoteRoot) {
    const map = this.#maps.get(mapName);
    if (!map || remoteRoot === map.replica.rootHash()) return 0;
    this.#send({ type: 'MERKLE_REQ_BUCKET', payload: { mapName, path } });
    return 1;
  }

  // Asks for every remote child that differs from ours; a differing leaf
  // comes back as SYNC_RESP_LEAF. Local-only data reaches the server through
  // the op log, not this walk.
  // Returns how many requests went out.
  #compareChildren(mapName, path, remote) {
    const map = this.#maps.get(mapName);
    if (!map || path.length >= MERKLE_DEPTH) return 0;
    const local = map.replica.buckets(path);
    let requested = 0;
    for (const [digit, hash] of Object.entries(remote)) {
      if (local[digit] === hash) continue;
      this.#send({ type: 'MERKLE_REQ_BUCKET', payload: { mapName, path: path + digit } });
      requested += 1;
    }
    return requested;
  }
}
