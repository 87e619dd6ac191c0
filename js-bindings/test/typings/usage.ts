// Typical use of the package's API: must type-check under `strict`.
import { TopGunClient, MemoryStorage, type JournalEvent, type QueryHandle } from '@topgun-cpp/client';

interface Todo {
  title: string;
  done: boolean;
}

async function main(): Promise<void> {
  const client = new TopGunClient({ serverUrl: 'ws://localhost:8080/ws', storage: new MemoryStorage() });
  await client.start();
  const todos = client.getMap<Todo>('todos');
  todos.set('t1', { title: 'milk', done: false });
  const first: Todo | undefined = todos.get('t1');
  void first;
  const open: QueryHandle<Todo> = client.query<Todo>('todos', { where: { done: false }, limit: 10 });
  open.subscribe((rows) => rows.map((r) => r.value.title));
  client.query<Todo>('todos', { predicate: { op: 'matchPrefix', attribute: 'title', query: 'mi', matchOptions: { fuzziness: 1, operator: 'and' } } });
  const hits = await client.search<Todo>('todos', 'milk', { limit: 5 });
  hits.forEach((h) => h.score.toFixed(2));
  todos.enableSearch({ fields: ['title', { path: 'notes', boost: 0.5 }], analyzer: 'english' });
  const local = todos.search('milk', { limit: 3, minScore: 0.1 });
  local.forEach((h) => h.value.title.toUpperCase() + h.matchedTerms.join());
  const standing = todos.searchSubscribe('milk', { prefix: true });
  standing.subscribe((hits) => hits.map((h) => h.value.done));
  standing.dispose();
  const journal = client.getEventJournal();
  const stop = journal.subscribe((e: JournalEvent) => e.sequence + 1n, { mapName: 'todos', types: ['UPDATE'] });
  stop();
  const latest: bigint = await journal.getLatestSequence();
  void latest;
  const state: 'synced' | 'failed' | 'offline' | 'timeout' = await client.confirmWrite('todos', 't1');
  void state;
  await client.flush();
  await client.close();
}
void main;
