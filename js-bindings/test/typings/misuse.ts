// Wrong uses the typings must refuse (each line is one expected error).
import { TopGunClient } from '@topgun-cpp/client';

const client = new TopGunClient({ serverUrl: 'ws://x' });
client.getMap<{ n: number }>('m').set('k', { n: 'not a number' });
client.getEventJournal().subscribe(() => {}, { types: ['INSERT'] });
const n: number = client.getPendingOpsCount() + client.getEventJournal();
client.getMap('m').enableSearch({ analyzer: 'french' });
client.query('m', { predicate: { op: 'match', attribute: 'title', query: 'x', matchOptions: { fuzziness: 3 } } });
