/**
 * Checks that span several fields of the configuration. They run after the schema, on the parsed value, and
 * report in the same `{ path, message }` form so that every error is shown with its path.
 */
import type { Config } from './schema.ts';

export interface ConfigIssue {
  path: string;
  message: string;
}

export function crossFieldIssues(c: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  if (c.privacy.k < c.privacy.kFloor) {
    add('privacy.k', `must be at least privacy.kFloor (${c.privacy.kFloor})`);
  }
  if (c.upstream.retryMaxSeconds < c.upstream.retryInitialSeconds) {
    add('upstream.retryMaxSeconds', 'must be at least upstream.retryInitialSeconds');
  }
  if (c.upstream.password !== undefined && c.upstream.passwordFile !== undefined) {
    add('upstream.password', 'set either password or passwordFile, not both');
  }

  const neighbourhoods = new Set<string>();
  c.neighbourhoods.forEach((n, i) => {
    if (neighbourhoods.has(n.id)) add(`neighbourhoods.${i}.id`, `duplicate neighbourhood id "${n.id}"`);
    neighbourhoods.add(n.id);
  });

  const meterIds = new Set<string>();
  const used = new Set<string>();
  c.meters.forEach((m, i) => {
    if (meterIds.has(m.id)) add(`meters.${i}.id`, `duplicate meter id "${m.id}"`);
    meterIds.add(m.id);
    if (!neighbourhoods.has(m.neighbourhood)) {
      add(
        `meters.${i}.neighbourhood`,
        `unknown neighbourhood "${m.neighbourhood}" (declare it under neighbourhoods)`,
      );
    }
    used.add(m.neighbourhood);
    if (m.source.driver === 'replay' && c.drivers.replay === undefined) {
      add(`meters.${i}.source`, 'driver "replay" needs a drivers.replay section');
    }
  });
  c.neighbourhoods.forEach((n, i) => {
    if (!used.has(n.id)) add(`neighbourhoods.${i}`, `neighbourhood "${n.id}" has no meters`);
    const size = c.meters.filter((m) => m.neighbourhood === n.id).length;
    if (size > c.encryption.maxMetersPerNeighbourhood) {
      add(`neighbourhoods.${i}`, `has ${size} meters, more than encryption.maxMetersPerNeighbourhood`);
    }
  });

  // An interval is billed in the band its start falls in, so band edges must be interval edges.
  c.billing.bands.forEach((band, i) =>
    band.windows.forEach((w, j) => {
      const edges = w.split('-').map((t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3)));
      if (edges.some((minute) => minute % c.intervals.minutes !== 0)) {
        add(
          `billing.bands.${i}.windows.${j}`,
          `must start and end on a ${c.intervals.minutes}-minute interval edge`,
        );
      }
    }),
  );

  issues.push(...bandIssues(c));
  return issues;
}

/** Minutes of the day covered by `HH:MM-HH:MM` (end exclusive, may wrap past midnight). */
export function windowMinutes(window: string): number[] {
  const [from, to] = window.split('-').map((t) => {
    const [h, m] = t.split(':').map(Number);
    return h! * 60 + m!;
  });
  const minutes: number[] = [];
  for (let t = from!; t !== to! % 1440 || minutes.length === 0; t = (t + 1) % 1440) {
    minutes.push(t);
    if (minutes.length === 1440) break;
  }
  return minutes;
}

function bandIssues(c: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const owner = new Array<string | undefined>(1440);
  const names = new Set<string>();
  c.billing.bands.forEach((band, i) => {
    if (names.has(band.name))
      issues.push({ path: `billing.bands.${i}.name`, message: 'duplicate band name' });
    names.add(band.name);
    band.windows.forEach((w, j) => {
      for (const minute of windowMinutes(w)) {
        const other = owner[minute];
        if (other !== undefined) {
          const hhmm = `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
          issues.push({
            path: `billing.bands.${i}.windows.${j}`,
            message: `overlaps band "${other}" at ${hhmm}`,
          });
          return;
        }
        owner[minute] = band.name;
      }
    });
  });
  const gap = owner.findIndex((o) => o === undefined);
  if (gap >= 0 && issues.length === 0) {
    const hhmm = `${String(Math.floor(gap / 60)).padStart(2, '0')}:${String(gap % 60).padStart(2, '0')}`;
    issues.push({ path: 'billing.bands', message: `no band covers ${hhmm}; bands must cover the whole day` });
  }
  return issues;
}
