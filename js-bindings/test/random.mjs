// Seeded randomness for the property tests, so a failure names a seed that
// reproduces it (mulberry32).
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = (random, list) => list[Math.floor(random() * list.length)];

export function shuffled(random, list) {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// Writes key = value (null removes) into an LWW replica: at random locally,
// or merged from a fresh replica elsewhere.
export function writeLocallyOrRemotely(random, replica, key, value) {
  if (random() < 0.5) {
    replica.applyLocal([{ key, value }]);
    return;
  }
  const remote = new replica.constructor('remote');
  replica.merge(remote.applyLocal([{ key, value }]));
  remote.dispose();
}
