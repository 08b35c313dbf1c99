/**
 * What remote configuration may change (DESIGN.md invariant 4; issue #6), as an allowlist: everything else is
 * set only in the gateway's local file, by someone on site. A command may
 *
 * - add a neighbourhood together with its new meters (devices never seen: ids, sources and identities the
 *   gateway has not bound, gateway/devices/binding-rules.ts), and remove a neighbourhood with all its meters:
 *   an existing meter's neighbourhood, account and source never change remotely (that would move a household
 *   into a neighbourhood of meters the operator controls, re-route its readings to another household, or bill it
 *   per reading), no meter joins an existing neighbourhood remotely and none leaves one that stays (that would
 *   leave a household among meters the operator knows); removed ids are retired, never reused;
 * - add (or remove) a serial port, a Modbus bus or the meter broker, without naming any file (a key, a password
 *   file, a map, a CSV): a remote command never makes the gateway read a file of its choosing; a Modbus TCP
 *   host it adds, or the host of a bus it adds a meter to, is an IP literal (./modbus-hosts.ts);
 * - change k (never below the local kFloor: the schema's rule), the privacy budget ε and δ per day (never above
 *   the local ceilings), the log levels, the upload schedule, batch size
 *   and retry timing, and how often health is sent. The metrics endpoint's address is local only (a command
 *   must not open it to the network).
 *
 * Not remotely: the upstream connection (a command could cut the gateway off or send its credentials elsewhere),
 * keys, clock, data directory and files, intervals, billing (period, bands, prices, reveal), encryption (the
 * packing layout of buffered data), the households' settings. Each violation is reported with its path.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ConfigIssue } from '../config/rules.ts';
import { isMapPath } from '../config/rules.ts';
import type { Config, MeterConfig } from '../config/schema.ts';
import type { KnownDevices } from '../buffer/device-store.ts';
import { remoteMembershipIssues } from '../devices/binding-rules.ts';
import type { RealPath } from '../devices/source-keys.ts';
import { changedPaths } from './config-diff.ts';
import { modbusHostIssues } from './modbus-hosts.ts';

/** What the gateway has bound (its buffer), for the membership rules (issue #14 A). */
export interface DeviceView {
  known: KnownDevices;
  realpath: RealPath;
}

/** Paths a command may change freely (and everything under them). */
const FREE = [
  'privacy.k',
  // Never above the local ceilings (the schema's rule); clipWh and the ceilings are local only.
  'privacy.noise.epsilonPerDay',
  'privacy.noise.deltaPerDay',
  'gateway.logLevel',
  'gateway.logLevels',
  'upstream.schedule',
  'upstream.maxRecordsPerBatch',
  'upstream.retryInitialSeconds',
  'upstream.retryMaxSeconds',
  'observe.healthSeconds',
  'observe.staleIntervals',
];

/** Where a command may add or remove whole entries (never change one that exists on both sides). */
const ENTRIES = ['meters', 'neighbourhoods', 'drivers.serial', 'drivers.modbus.buses', 'drivers.mqtt'];

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`);

export function floorViolations(
  running: Readonly<Config>,
  next: Readonly<Config>,
  devices?: DeviceView,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  for (const path of changedPaths(running, next)) {
    if (FREE.some((p) => under(path, p))) continue;
    const section = ENTRIES.find((p) => under(path, p));
    if (!section) {
      add(path, "is set only in the gateway's local file, never remotely");
      continue;
    }
    // The entry the change is in: `meters.m3`, `drivers.serial.p1`, or the meter broker section as a whole.
    const entry =
      section === 'drivers.mqtt'
        ? section
        : path
            .split('.')
            .slice(0, section.split('.').length + 1)
            .join('.');
    if (valueAt(running, entry) !== undefined && valueAt(next, entry) !== undefined) {
      add(entry, 'an existing entry changes only locally (a command may add or remove entries)');
    }
  }
  issues.push(...newMeterIssues(running, next), ...fileIssues(running, next));
  issues.push(...modbusHostIssues(running, next));
  if (devices) issues.push(...remoteMembershipIssues(running, next, devices.known, devices.realpath));
  return issues;
}

/** New meters only in new neighbourhoods, so no meter joins an existing neighbourhood remotely. */
function newMeterIssues(running: Readonly<Config>, next: Readonly<Config>): ConfigIssue[] {
  const oldMeters = new Set(running.meters.map((m) => m.id));
  const oldNeighbourhoods = new Set(running.neighbourhoods.map((n) => n.id));
  return next.meters
    .filter((m) => !oldMeters.has(m.id) && oldNeighbourhoods.has(m.neighbourhood))
    .map((m) => ({
      path: `meters.${m.id}`,
      message: `a meter added remotely must be in a neighbourhood added with it, not in "${m.neighbourhood}"`,
    }));
}

/** No file named by anything a command adds: keys, password files, register maps, CSVs. */
function fileIssues(running: Readonly<Config>, next: Readonly<Config>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const file = (path: string) =>
    issues.push({ path, message: 'a remote command may not name a file (it is set only locally)' });
  const oldMeters = new Map(running.meters.map((m) => [m.id, m]));
  for (const m of next.meters) {
    if (oldMeters.has(m.id)) continue;
    for (const p of meterFiles(m)) file(`meters.${m.id}.source.${p}`);
  }
  for (const [name, port] of Object.entries(next.drivers.serial ?? {})) {
    if (running.drivers.serial?.[name] === undefined && port.decryptionKeyFile !== undefined) {
      file(`drivers.serial.${name}.decryptionKeyFile`);
    }
  }
  const mqtt = next.drivers.mqtt;
  if (mqtt && running.drivers.mqtt === undefined && mqtt.passwordFile !== undefined) {
    file('drivers.mqtt.passwordFile');
  }
  return issues;
}

function meterFiles(m: MeterConfig): string[] {
  const s = m.source;
  if (s.driver === 'modbus' && isMapPath(s.model)) return ['model'];
  if (s.driver === 'mqtt' && s.publicKey !== undefined) return ['publicKey'];
  return [];
}

/** The value at a changed path (`meters.<id>` and `neighbourhoods.<id>` name list entries by id). */
function valueAt(config: Readonly<Config>, path: string): unknown {
  const [head, ...rest] = path.split('.');
  let value: unknown = (config as Record<string, unknown>)[head!];
  for (const key of rest) {
    if (Array.isArray(value)) value = value.find((x) => isDeepStrictEqual((x as { id?: unknown }).id, key));
    else if (value && typeof value === 'object') value = (value as Record<string, unknown>)[key];
    else return undefined;
  }
  return value;
}
