/**
 * What a new configuration changes, path by path, and which of the changes the gateway can apply while running.
 * Lists of things with an id (meters, neighbourhoods) or a name (tariff bands) are compared item by item
 * (`meters.m3`), other lists as a whole.
 */
import { isDeepStrictEqual } from 'node:util';

/** Paths (and everything under them) applied without a restart: the meters and how they are read, k, the privacy
 *  budget, log levels, the upload schedule. */
const LIVE = [
  'meters',
  'neighbourhoods',
  'drivers',
  'privacy.k',
  'privacy.noise.epsilonPerDay',
  'privacy.noise.deltaPerDay',
  'gateway.logLevel',
  'gateway.logLevels',
  'upstream.schedule',
];

export function changedPaths(before: unknown, after: unknown, at = ''): string[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    const key = keyOf(before) ?? keyOf(after);
    if (!key) return [at];
    const index = (list: unknown[]) =>
      new Map(list.map((x) => [String((x as Record<string, unknown>)[key]), x]));
    const b = index(before);
    const a = index(after);
    const ids = [...new Set([...b.keys(), ...a.keys()])];
    return ids.filter((id) => !isDeepStrictEqual(b.get(id), a.get(id))).map((id) => join(at, id));
  }
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedPaths(before[k], after[k], join(at, k)));
  }
  return [at];
}

/** Splits changed paths into those applied live and those that need a restart. */
export function classify(paths: readonly string[]): { live: string[]; restart: string[] } {
  const isLive = (p: string) => LIVE.some((l) => p === l || p.startsWith(`${l}.`));
  return { live: paths.filter(isLive), restart: paths.filter((p) => !isLive(p)) };
}

function keyOf(list: unknown[]): 'id' | 'name' | undefined {
  if (list.length === 0 || !list.every(isRecord)) return undefined;
  if (list.every((x) => typeof x.id === 'string')) return 'id';
  if (list.every((x) => typeof x.name === 'string')) return 'name';
  return undefined;
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

const join = (at: string, key: string) => (at ? `${at}.${key}` : key);
