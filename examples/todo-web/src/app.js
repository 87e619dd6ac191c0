// A todo list on @topgun-cpp/client: every edit applies locally at once, is
// kept in IndexedDB, and syncs with the server whenever there is a network.
// The server URL comes from ?server=ws://host:port/ws (default: this host, port 8080).
import { TopGunClient, IndexedDBStorage } from '@topgun-cpp/client';

const params = new URLSearchParams(location.search);
const serverUrl = params.get('server') ?? `ws://${location.hostname}:8080/ws`;

// One node id per browser profile: the HLC needs a stable, unique writer name.
function deviceNodeId() {
  let id = localStorage.getItem('topgun-node-id');
  if (!id) {
    id = `web-${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem('topgun-node-id', id);
  }
  return id;
}

const client = new TopGunClient({
  serverUrl,
  nodeId: deviceNodeId(),
  storage: new IndexedDBStorage('todo-web'),
  wasmUrl: new URL('topgun_core.wasm', location.href).href,
});
await client.start();
const todos = client.getMap('todos');

const list = document.getElementById('list');
const filter = document.getElementById('filter');
const summary = document.getElementById('summary');
const state = document.getElementById('state');

// The search box filters with local full-text search (on the replica, so it
// works offline too); the last word matches as a prefix while typing.
function shown(items) {
  const text = filter.value.trim();
  if (!text) return items;
  const hits = new Set(todos.search(text, { prefix: true, limit: 1000 }).map((hit) => hit.key));
  return items.filter(([id]) => hits.has(id));
}

function render() {
  const items = todos.entries().sort(([, a], [, b]) => a.createdAt - b.createdAt || (a.title < b.title ? -1 : 1));
  list.replaceChildren(
    ...shown(items).map(([id, todo]) => {
      const li = document.createElement('li');
      li.dataset.id = id;
      li.classList.toggle('done', todo.done);
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = todo.done;
      box.addEventListener('change', () => todos.set(id, { ...todo, done: box.checked }));
      const title = document.createElement('span');
      title.textContent = todo.title;
      label.append(box, title);
      const remove = document.createElement('button');
      remove.className = 'delete';
      remove.title = 'Delete';
      remove.textContent = '✕';
      remove.addEventListener('click', () => todos.remove(id));
      li.append(label, remove);
      return li;
    }),
  );
  const left = items.filter(([, t]) => !t.done).length;
  const pending = client.getPendingOpsCount();
  summary.textContent = `${left} left · ${pending === 0 ? 'all synced' : `${pending} waiting to sync`}`;
}

function showState(s) {
  state.dataset.state = s;
  state.textContent = s === 'CONNECTED' ? 'online' : s.toLowerCase();
  render();
}

document.getElementById('add').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('title');
  const title = input.value.trim();
  if (!title) return;
  todos.set(crypto.randomUUID(), { title, done: false, createdAt: Date.now() });
  input.value = '';
});

todos.subscribe(render);
filter.addEventListener('input', render);
client.onConnectionStateChange(showState);
setInterval(render, 500); // the pending count changes as acks arrive
// Changes merged from the server reach IndexedDB with the next snapshot;
// save them before the page goes (best effort: the browser may not wait).
addEventListener('pagehide', () => void client.flush());
// The browser test flushes through this before it reloads, as a page cannot be made to wait.
globalThis.todoClient = client;
showState(client.getConnectionState());
document.body.dataset.ready = 'true';
