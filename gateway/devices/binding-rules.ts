/**
 * The configuration checks of device binding (issue #14 A), pure: one function for the local start, `--check`,
 * the doctor and the remote apply (with the remote rules on top). A configuration that maps a bound source or
 * identity to another meter id, moves a bound meter to another neighbourhood, or reuses a retired id is refused;
 * locally the fix is an explicit re-home on site (`rehomeHint`).
 */
import { loadRegisterMap } from '../../drivers/modbus/register-map.ts';
import { isMapPath, type ConfigIssue } from '../config/rules.ts';
import { GatewayError, type ErrorCode } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { KnownDevices } from '../buffer/device-store.ts';
import { sourceKeys, type RealPath } from './source-keys.ts';

/** The on-site command that releases a meter's bindings (scripts/gateway rehome). */
export function rehomeHint(meterId: string): string {
  return `if this is intended, run on site: scripts/gateway --config FILE rehome ${meterId} --reason "…", then give the meter a new id`;
}

/** Every meter of `config` against what the gateway has bound, and against each other. */
export function bindingIssues(
  config: Readonly<Config>,
  known: KnownDevices,
  realpath: RealPath,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (code: string, path: string, message: string) => issues.push({ path, message, code });
  const retiredNbs = new Set(config.neighbourhoods.filter((n) => known.neighbourhood(n.id) === 'retired'));
  for (const n of retiredNbs) {
    add(
      'NEIGHBOURHOOD_ID_RETIRED',
      `neighbourhoods.${n.id}`,
      'this neighbourhood id is retired: never used again',
    );
  }
  const claimed = new Map<string, string>();
  for (const m of config.meters) {
    const path = `meters.${m.id}`;
    const state = known.meter(m.id);
    if (state?.state === 'retired') {
      add('METER_ID_RETIRED', path, 'this meter id is retired (removed or re-homed): never used again');
      continue;
    }
    if (state && state.neighbourhood !== m.neighbourhood) {
      add(
        'METER_MOVED',
        `${path}.neighbourhood`,
        `meter ${m.id} is bound to neighbourhood ${state.neighbourhood} for life; ${rehomeHint(m.id)}`,
      );
    }
    for (const key of sourceKeys(config, m, realpath)) {
      const other = claimed.get(key);
      if (other !== undefined && other !== m.id) {
        add('DEVICE_BOUND_ELSEWHERE', `${path}.source`, `reads the same device as meter ${other}`);
      }
      claimed.set(key, m.id);
      const bound = known.binding(key);
      if (bound && bound.meterId !== m.id) {
        add(
          'DEVICE_BOUND_ELSEWHERE',
          `${path}.source`,
          `its source is bound to meter ${bound.meterId} (neighbourhood ${bound.neighbourhood}) for life; ` +
            rehomeHint(bound.meterId),
        );
      }
    }
  }
  return dedupe(issues);
}

/**
 * What a remote command may not do to membership, on top of `bindingIssues`: remove a meter from a neighbourhood
 * that keeps other meters (that steers who a release is made of), or add a meter whose id, source or
 * neighbourhood id the gateway has seen before (a remotely added meter is a device never seen), or add a Modbus
 * meter whose model reports no serial. A new meter's reported identity is checked again at its first
 * identification (MeterGuard): a device already bound elsewhere is refused there.
 */
export function remoteMembershipIssues(
  running: Readonly<Config>,
  next: Readonly<Config>,
  known: KnownDevices,
  realpath: RealPath,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (code: string, path: string, message: string) => issues.push({ path, message, code });
  const nextMeters = new Set(next.meters.map((m) => m.id));
  const nextNbs = new Set(next.neighbourhoods.map((n) => n.id));
  for (const m of running.meters) {
    if (!nextMeters.has(m.id) && nextNbs.has(m.neighbourhood)) {
      add(
        'MEMBERSHIP_STEERED',
        `meters.${m.id}`,
        `a command may remove neighbourhood ${m.neighbourhood} with all its meters, not one of its meters`,
      );
    }
  }
  const runningMeters = new Set(running.meters.map((m) => m.id));
  // Sources of the running meters, bound or not yet (a meter that has not sent a reading yet is still its device).
  const runningKeys = new Map(
    running.meters.flatMap((m) => sourceKeys(running, m, realpath).map((k) => [k, m.id] as const)),
  );
  const runningNbs = new Set(running.neighbourhoods.map((n) => n.id));
  for (const n of next.neighbourhoods) {
    if (!runningNbs.has(n.id) && known.neighbourhood(n.id) !== undefined) {
      add(
        'NEIGHBOURHOOD_ID_RETIRED',
        `neighbourhoods.${n.id}`,
        'this neighbourhood id has carried data before',
      );
    }
  }
  for (const m of next.meters) {
    if (runningMeters.has(m.id)) continue;
    if (known.meter(m.id) !== undefined) {
      add('METER_ID_RETIRED', `meters.${m.id}`, 'this meter id has carried data before: never reused');
    }
    if (m.source.driver === 'modbus' && !reportsSerial(m.source.model)) {
      // Without a serial the gateway checks, a Modbus meter is only its endpoint, which has many spellings (host
      // names, IPv4 forms with leading zeros or in one number, other unit ids of one device): a command could read
      // one household's meter under many ids. Such meters are added on site, in the local file.
      add(
        'DEVICE_UNVERIFIABLE',
        `meters.${m.id}.source`,
        'this Modbus meter model reports no serial the gateway can check (or its map is a file a command could ' +
          'choose): it is added on site, never remotely',
      );
    }
    for (const key of sourceKeys(next, m, realpath)) {
      const owner = known.binding(key)?.meterId ?? runningKeys.get(key);
      if (owner !== undefined) {
        add(
          'DEVICE_NOT_NEW',
          `meters.${m.id}.source`,
          `a meter added remotely must be a device never seen; this source is meter ${owner}'s`,
        );
      }
    }
  }
  return dedupe([...issues, ...bindingIssues(next, known, realpath)]);
}

/**
 * A built-in model whose map names a serial-number register: its serial is read at connect and bound like a DSMR
 * equipment id, so the same device under a second spelling is DEVICE_BOUND_ELSEWHERE at its first identification.
 * A map file does not count: it could name any register as the serial.
 */
function reportsSerial(model: string): boolean {
  if (isMapPath(model)) return false;
  try {
    return loadRegisterMap(model).identity !== undefined;
  } catch {
    return false; // an unknown model: the schema rules report it
  }
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.code}|${i.path}|${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The local start's check: throws one error naming every meter in conflict, its binding and the on-site command
 * (the code is the first issue's).
 */
export function assertBindings(config: Readonly<Config>, known: KnownDevices, realpath: RealPath): void {
  const issues = bindingIssues(config, known, realpath);
  if (issues.length === 0) return;
  throw new GatewayError(
    (issues[0]!.code ?? 'DEVICE_BOUND_ELSEWHERE') as ErrorCode,
    `the configuration re-points meters bound on this gateway: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
  );
}
