// Typings for @topgun-cpp/client (hand-written: Emscripten 3.1.6 cannot generate them).

export interface Timestamp {
  millis: number;
  counter: number;
  nodeId: string;
}

/** An LWW record in its wire form; `value` null is a tombstone. */
export interface LwwRecord<V = unknown> {
  value: V | null;
  timestamp: Timestamp;
  ttlMs?: number | null;
}

export interface KeyedRecord<V = unknown> {
  key: string;
  record: LwwRecord<V>;
}

export interface LocalWrite<V = unknown> {
  key: string;
  /** null or undefined removes the key */
  value?: V | null;
  ttlMs?: number;
}

export interface MergeOutcome {
  changed: string[];
  driftRejected: string[];
}

/**
 * Loads the WASM core once; everything else needs it loaded. `wasmUrl`: where a browser fetches
 * topgun_core.wasm when a bundler put it somewhere else than next to dist/topgun_core.mjs.
 */
export function loadCore(options?: { wasmUrl?: string }): Promise<unknown>;

/**
 * Checks a server frame with the core's codec; throws an Error naming what is malformed.
 * `checked`: every field was checked (the kinds the client acts on), or only the MsgPack (other kinds).
 */
export function decodeFrame(bytes: Uint8Array): { type: string; message: Record<string, unknown>; checked: boolean };

/**
 * A server frame decoded once by the core; its LWW records merge straight into
 * replicas (LwwReplica.mergeFrame). Call dispose() when done.
 * @throws Error for a malformed frame
 */
export class ServerFrame {
  constructor(bytes: Uint8Array);
  /** The message kind, e.g. 'SERVER_BATCH_EVENT'. */
  readonly type: string;
  /** Whether every field was checked (the kinds the client acts on) or only the MsgPack (other kinds). */
  readonly checked: boolean;
  /** Maps the frame has LWW records for (a SYNC_RESP_LEAF: its map, even with no records). */
  readonly lwwMaps: string[];
  /** How many OR_ADD / OR_REMOVE events it carries. */
  readonly orEvents: number;
  /** The whole message, decoded on first use. */
  readonly message: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  dispose(): void;
}

/** A last-writer-wins map replica with its own hybrid logical clock, in WASM memory. */
export class LwwReplica<V = unknown> {
  /** @throws Error for an empty node id or one containing ':' */
  constructor(nodeId: string);
  readonly nodeId: string;
  /** Applies local writes at once; returns the records, ready for a CLIENT_OP / OP_BATCH (holding the values given, not copies). */
  applyLocal(writes: LocalWrite<V>[]): KeyedRecord<V>[];
  set(key: string, value: V, ttlMs?: number): LwwRecord<V>;
  remove(key: string): LwwRecord<V>;
  merge(records: KeyedRecord<V>[]): MergeOutcome;
  /** Merges the LWW records a server frame carries for one map. */
  mergeFrame(frame: ServerFrame, mapName: string): MergeOutcome;
  get(key: string): V | undefined;
  entries(): [string, V][];
  /**
   * Keys whose TTL ran out since the last call: live queries see them LEAVE and local search drops
   * them; the replica keeps the records (Merkle sync unchanged).
   */
  reportExpired(): string[];
  /** Every record, tombstones included, as bytes; restore() takes them back. */
  snapshot(): Uint8Array;
  restore(snapshot: Uint8Array): MergeOutcome;
  /** Merkle root hash (uint32), hashed exactly like the reference client. */
  rootHash(): number;
  /** Child hashes under a Merkle node, by hex digit. */
  buckets(path: string): Record<string, number>;
  /** The records of one Merkle leaf (a path of 3 hex digits). */
  leaf(path: string): KeyedRecord<V>[];
  /** Stored records, tombstones included. */
  readonly size: number;
  /** Runs a query once with the server's engine. @throws Error when the query cannot run */
  query(query: Query): QueryPage<V>;
  /** Starts a live query; its changes wait in takeQueryEvents(). @throws Error when the query cannot run */
  addQuery(query: Query): QueryPage<V> & { id: number };
  removeQuery(id: number): boolean;
  queryPage(id: number): (QueryPage<V> & { id: number }) | undefined;
  /** Changes of the live queries since the last call, in order (value null on LEAVE). */
  takeQueryEvents(): { queryId: number; key: string; value: V | null; changeType: ChangeType }[];
  /** Chooses what search() reads and how, and rebuilds the index (see SearchSetup). */
  enableSearch(setup?: SearchSetup): void;
  /** Full-text search of the replica (BM25, ranked as the server ranks); best first, limit 10 by default. */
  search(query: string, options?: LocalSearchOptions): SearchHit<V>[];
  /** Starts a standing search: its hits now; its changes wait in takeSearchEvents(). */
  addSearch(query: string, options?: LocalSearchOptions): { id: number; results: SearchHit<V>[] };
  removeSearch(id: number): boolean;
  /** Changes of the standing searches since the last call, in order (value null and score 0 on LEAVE). */
  takeSearchEvents(): (SearchHit<V | null> & { searchId: number; changeType: ChangeType })[];
  /** Frees the WASM memory; the replica cannot be used afterwards. */
  dispose(): void;
}

/** A predicate tree node (PROTOCOL.md §8.2). */
export interface PredicateNode {
  op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'like' | 'regex' | 'in' | 'between' | 'isNull' | 'isNotNull'
    | 'contains' | 'containsAll' | 'containsAny' | 'startsWith' | 'endsWith' | 'and' | 'or' | 'not'
    | 'match' | 'matchPhrase' | 'matchPrefix';
  attribute?: string;
  value?: unknown;
  /** "auth.<path>" (the server's principal) or "data.<path>" (the record). */
  valueRef?: string;
  children?: PredicateNode[];
  /** The words of a match, matchPhrase or matchPrefix (BM25 over the attribute's text). */
  query?: string;
  matchOptions?: {
    /** A record matches when its score × boost is at least this. */
    minScore?: number;
    boost?: number;
    /** 'and': every word must match (default 'or'). */
    operator?: 'and' | 'or';
    /** Words also match terms within this many edits. */
    fuzziness?: 0 | 1 | 2;
  };
  /** matchPhrase: extra words allowed between the phrase's words. */
  slop?: number;
  /** matchPrefix: the most terms the last word expands to. */
  maxExpansions?: number;
}

export interface Query {
  /** Exact equality per field, all of them. */
  where?: Record<string, unknown>;
  predicate?: PredicateNode;
  /** [{field, direction}] or the record form {field: 'asc' | 'desc'}. */
  sort?: { field: string; direction: 'asc' | 'desc' }[] | Record<string, 'asc' | 'desc'>;
  limit?: number;
  /** A nextCursor from an earlier page. */
  cursor?: string;
  /** Keep only these top-level fields of each value. */
  fields?: string[];
  groupBy?: string[];
  aggregations?: { func: 'count' | 'sum' | 'min' | 'max' | 'avg'; field?: string }[];
}

export type ChangeType = 'ENTER' | 'UPDATE' | 'LEAVE';

export interface QueryPage<V = unknown> {
  results: { key: string; value: V }[];
  hasMore: boolean;
  nextCursor?: string;
  cursorStatus: 'valid' | 'expired' | 'invalid' | 'none';
}

export interface OrRecord<V = unknown> {
  value: V;
  timestamp: Timestamp;
  /** "millis:counter:nodeId" of the add: unique per add */
  tag: string;
  ttlMs?: number | null;
}

export interface OrEntry<V = unknown> {
  key: string;
  records: OrRecord<V>[];
  tombstones: string[];
}

/** An observed-remove map replica (add-wins; a remove tombstones the tags it has seen). */
export class OrReplica<V = unknown> {
  constructor(nodeId: string);
  readonly nodeId: string;
  addLocal(writes: LocalWrite<V>[]): { key: string; record: OrRecord<V> }[];
  /** Returns the tombstoned tags (one OR_REMOVE op each). */
  removeLocal(key: string, value: V): string[];
  /** Remote adds; returns the keys that changed. */
  apply(records: { key: string; record: OrRecord<V> }[]): string[];
  /** Remote removes; returns how many records they dropped. */
  applyTombstones(tags: string[]): number;
  /** Entries from a sync leaf; returns the keys that changed. */
  mergeEntries(entries: OrEntry<V>[]): string[];
  get(key: string): V[];
  entries(): [string, V[]][];
  snapshot(): Uint8Array;
  restore(snapshot: Uint8Array): string[];
  /** A Merkle leaf's entries, each with the whole tombstone set (ORMAP_PUSH_DIFF form). */
  leaf(path: string): OrEntry<V>[];
  rootHash(): number;
  buckets(path: string): Record<string, number>;
  readonly size: number;
  dispose(): void;
}

/** A positive-negative counter (per-node totals; merge takes per-node maxima). */
export class PnCounter {
  constructor(nodeId: string);
  readonly nodeId: string;
  /** Adds delta (negative subtracts; 0 or non-finite changes nothing); returns the new value. */
  add(delta: number): number;
  readonly value: number;
  /** The wire form: {p, n, positive, negative}, node id -> total. */
  state(): { p?: Record<string, number>; n?: Record<string, number>; positive?: Record<string, number>; negative?: Record<string, number> };
  stateBytes(): Uint8Array;
  /** Returns whether the value changed. */
  merge(state: Uint8Array | ReturnType<PnCounter['state']>): boolean;
  dispose(): void;
}

/** Where a client keeps its state between runs. */
export interface StorageAdapter {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Entries whose key starts with prefix, in key order. */
  entries(prefix: string): Promise<[string, unknown][]>;
}

export class MemoryStorage implements StorageAdapter {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  entries(prefix: string): Promise<[string, unknown][]>;
}

export class IndexedDBStorage implements StorageAdapter {
  constructor(name?: string, indexedDB?: IDBFactory);
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  entries(prefix: string): Promise<[string, unknown][]>;
  close(): Promise<void>;
}

export declare const ConnectionState: {
  readonly INITIAL: 'INITIAL';
  readonly CONNECTING: 'CONNECTING';
  readonly AUTHENTICATING: 'AUTHENTICATING';
  readonly SYNCING: 'SYNCING';
  readonly CONNECTED: 'CONNECTED';
  readonly BACKOFF: 'BACKOFF';
  readonly DISCONNECTED: 'DISCONNECTED';
};
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

export interface TopGunClientOptions {
  /** ws:// or wss:// URL of a TopGun server */
  serverUrl: string;
  /** This replica's HLC node id (random when absent). */
  nodeId?: string;
  /** A JWT sent in AUTH; or getToken. Without either: DEVICE_HELLO (no-auth servers). */
  token?: string;
  getToken?: () => string | Promise<string>;
  backoff?: { initialDelayMs?: number; maxDelayMs?: number; multiplier?: number; jitter?: number };
  /** A WebSocket class; Node 20 has none built in (pass the `ws` package). */
  WebSocket?: unknown;
  pingIntervalMs?: number;
  /** How often records whose TTL ran out leave live queries, local search and subscribers' view (ms, default 1000). */
  expirySweepMs?: number;
  /** Memory when absent. */
  storage?: StorageAdapter;
  onStorageError?: (error: unknown) => void;
  /** Where a browser fetches topgun_core.wasm (see loadCore). */
  wasmUrl?: string;
}

/** One LWW map of a client: reads are local; writes apply locally at once and sync. */
export interface ClientMap<V = unknown> {
  readonly name: string;
  get(key: string): V | undefined;
  entries(): [string, V][];
  set(key: string, value: V, ttlMs?: number): V;
  remove(key: string): void;
  setMany(writes: LocalWrite<V>[]): void;
  /**
   * Full-text search of the local replica: at once, offline too, local writes included
   * (TopGunClient.search asks the server). The first call builds the index.
   */
  search(query: string, options?: LocalSearchOptions): SearchHit<V>[];
  /**
   * A standing search of the local replica: search()'s hits, kept current by every local write,
   * merged remote change and expiry, offline too (TopGunClient.searchSubscribe asks the server).
   */
  searchSubscribe(query: string, options?: LocalSearchOptions): SearchHandle<V>;
  /** What local search reads and how (see SearchSetup); rebuilds the index. Not while standing local searches are open. */
  enableSearch(setup?: SearchSetup): void;
  /** Called with the changed keys after local writes, merged remote changes and expiries (TTL). */
  subscribe(cb: (changedKeys: string[]) => void): () => void;
}

/** One observed-remove map of a client: several values per key; concurrent adds all survive. */
export interface ClientOrMap<V = unknown> {
  readonly name: string;
  /** Live values of a key. */
  get(key: string): V[];
  entries(): [string, V[]][];
  add(key: string, value: V, ttlMs?: number): V;
  /** Removes the values of key equal to value that this replica has seen. */
  remove(key: string, value: V): void;
  subscribe(cb: (changedKeys: string[]) => void): () => void;
}

/** A PN counter of a client: local at once, merged with the server's state when connected. */
export interface ClientCounter {
  readonly name: string;
  get(): number;
  increment(): number;
  decrement(): number;
  addAndGet(delta: number): number;
  /** Called with the value after every change, local or remote. */
  subscribe(cb: (value: number) => void): () => void;
}

/** A pub/sub topic: messages from the other clients; nothing is stored. */
export interface TopicHandle {
  readonly name: string;
  /** Sends data to every other subscriber; queued (up to 1,000) while offline. */
  publish(data: unknown): void;
  subscribe(cb: (data: unknown, meta: { publisherId?: string; timestamp: number }) => void): () => void;
}

/** A distributed lock held through the server. */
export interface DistributedLock {
  readonly name: string;
  /** The grant's token (grows with every grant of the name); undefined when not held. */
  readonly fencingToken: number | undefined;
  /** True once granted; false when denied (offline, TTL 0, or held elsewhere past the server's 4 s wait). */
  lock(ttlMs?: number): Promise<boolean>;
  unlock(): Promise<boolean>;
  isLocked(): boolean;
}

/** A live query over a map's local replica (see TopGunClient.query). */
export interface QueryHandle<V = unknown> {
  readonly mapName: string;
  /** True once the server answered and the map's sync caught up. */
  readonly settled: boolean;
  /** The rows, in the query's order. */
  getResults(): { key: string; value: V }[];
  getPaginationInfo(): { hasMore: boolean; nextCursor?: string; cursorStatus: QueryPage['cursorStatus'] };
  /** cb(results, {settled}) now and after every change. */
  subscribe(cb: (results: { key: string; value: V }[], meta: { settled: boolean }) => void): () => void;
  /** cb(changes) per change batch. */
  onChanges(cb: (changes: { type: ChangeType; key: string; value: V | null }[]) => void): () => void;
  /** Resolves true once settled, false after timeoutMs (default 5000). */
  whenSettled(timeoutMs?: number): Promise<boolean>;
  /** Stops the query here and on the server. */
  dispose(): void;
}

export interface SearchHit<V = unknown> {
  key: string;
  value: V;
  score: number;
  matchedTerms: string[];
}

/** A field local search reads: the strings under a dot path, weighted by boost (default 1). */
export interface SearchField {
  path: string;
  boost?: number;
}

/**
 * What local search indexes. Default: every string of a record, split on non-alphanumerics and
 * lower-cased, each top-level member its own field (a search's `boost` names members), as the
 * server's search (so hits rank alike online and offline).
 */
export interface SearchSetup {
  /** The strings under each dot path (arrays and maps under it included), each a field with its boost. */
  fields?: (string | SearchField)[];
  /** 'english': stop words, Porter stemming, terms of 2 to 40 letters (the reference TS client's local search). */
  analyzer?: 'plain' | 'english';
}

export interface SearchOptions {
  limit?: number;
  minScore?: number;
  boost?: Record<string, number>;
}

/** Local search's options: SEARCH's, and two only the replica's index offers. */
export interface LocalSearchOptions extends SearchOptions {
  /** The last word also matches every term it begins (search as you type). */
  prefix?: boolean;
  /** Words also match terms within this many edits (1 or 2), ranked below exact matches. */
  fuzzy?: number;
}

/** A standing full-text search, on the server (TopGunClient.searchSubscribe) or on a map's replica (ClientMap.searchSubscribe). */
export interface SearchHandle<V = unknown> {
  /** Best score first. */
  getResults(): SearchHit<V>[];
  /** cb(results) at every answer and update. */
  subscribe(cb: (results: SearchHit<V>[]) => void): () => void;
  dispose(): void;
}

export type JournalEventType = 'PUT' | 'UPDATE' | 'DELETE';

/** One applied write, as the server's event journal numbers it. */
export interface JournalEvent<V = unknown> {
  sequence: bigint;
  /** PUT: the key had no live value before; UPDATE: it had (previousValue); DELETE: removed. */
  type: JournalEventType;
  mapName: string;
  key: string;
  value?: V;
  previousValue?: V;
  timestamp: Timestamp;
  nodeId: string;
  metadata?: Record<string, unknown>;
}

/** The server's event journal (TopGunClient.getEventJournal). Reads reject when offline or unanswered. */
export interface EventJournal {
  /** Up to `limit` (100) events from `sequence` on, inclusive (the server keeps the newest TOPGUN_JOURNAL_CAPACITY). */
  readFrom(sequence?: bigint, limit?: number, options?: { mapName?: string; timeoutMs?: number }): Promise<JournalEvent[]>;
  readMapEvents(mapName: string, sequence?: bigint, limit?: number): Promise<JournalEvent[]>;
  /** The newest sequence handed out; 0n before any write. */
  getLatestSequence(): Promise<bigint>;
  /**
   * Each new matching event; with fromSequence, the retained ones from there first. Survives
   * reconnects (resumes after the last event delivered). Returns the unsubscribe function.
   */
  subscribe(
    listener: (event: JournalEvent) => void,
    options?: { fromSequence?: bigint; mapName?: string; types?: JournalEventType[] },
  ): () => void;
}

export class TopGunClient {
  constructor(options: TopGunClientOptions);
  /** Loads the core, restores storage, starts connecting. */
  start(): Promise<void>;
  /** Disconnects and saves snapshots; the client cannot be used afterwards. */
  close(): Promise<void>;
  /** Saves pending map snapshots now; resolves when storage holds every change so far. */
  flush(): Promise<void>;
  getConnectionState(): ConnectionState;
  onConnectionStateChange(cb: (state: ConnectionState) => void): () => void;
  setAuthToken(token: string): void;
  getPendingOpsCount(): number;
  /** Whether the last write to key reached the server: acked ('synced', also when nothing is pending), rejected, offline now, or no answer in time. */
  confirmWrite(mapName: string, key: string, timeoutMs?: number): Promise<'synced' | 'failed' | 'offline' | 'timeout'>;
  getMap<V = unknown>(name: string): ClientMap<V>;
  getORMap<V = unknown>(name: string): ClientOrMap<V>;
  /** A live query over map `mapName` (replicated whole; runs locally, offline too). @throws Error when the query cannot run */
  query<V = unknown>(mapName: string, filter?: Query): QueryHandle<V>;
  /** The rows once the server confirmed them; rejects on timeout or offline unless allowLocal. */
  queryOnce<V = unknown>(
    mapName: string,
    filter?: Query,
    options?: { timeoutMs?: number; allowLocal?: boolean },
  ): Promise<QueryPage<V> & { settled: boolean }>;
  /** Full-text search on the server; rejects when offline or without an answer in time. */
  search<V = unknown>(mapName: string, query: string, options?: SearchOptions & { timeoutMs?: number }): Promise<SearchHit<V>[]>;
  searchSubscribe<V = unknown>(mapName: string, query: string, options?: SearchOptions): SearchHandle<V>;
  getPNCounter(name: string): ClientCounter;
  /** Names: 1 to 256 of [A-Za-z0-9_-.:/]. */
  topic(name: string): TopicHandle;
  getLock(name: string): DistributedLock;
  getEventJournal(): EventJournal;
}
