/**
 * Checks that span several fields of the configuration. They run after the schema, on the parsed value, and
 * report in the same `{ path, message }` form so that every error is shown with its path.
 */
import { builtInModels, loadRegisterMap } from '../../drivers/modbus/register-map.ts';
import { errorCode } from '../errors.ts';
import type { Config } from './schema.ts';

/** A Modbus `model` naming a map file rather than a built-in model. */
export function isMapPath(model: string): boolean {
  return model.includes('/') || /\.ya?ml$/.test(model);
}

/**
 * Loads every Modbus register map the meters name (after relative paths are resolved), so that a broken map
 * file is a configuration error with the meter's path, not a failure at start.
 */
export function registerMapIssues(c: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  c.meters.forEach((m, i) => {
    if (m.source.driver !== 'modbus') return;
    try {
      loadRegisterMap(m.source.model);
    } catch (error) {
      issues.push({
        path: `meters.${i}.source.model`,
        message: `${errorCode(error)}: ${(error as Error).message}`,
      });
    }
  });
  return issues;
}

export interface ConfigIssue {
  path: string;
  message: string;
  /** A machine-readable code where the issue has one of its own (device binding: DEVICE_BOUND_ELSEWHERE, …). */
  code?: string;
}

export function crossFieldIssues(c: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  if (c.privacy.k < c.privacy.kFloor) {
    add('privacy.k', `must be at least privacy.kFloor (${c.privacy.kFloor})`);
  }
  const noise = c.privacy.noise;
  if (noise.epsilonPerDay > noise.epsilonCeiling) {
    add(
      'privacy.noise.epsilonPerDay',
      `must be at most privacy.noise.epsilonCeiling (${noise.epsilonCeiling})`,
    );
  }
  if (noise.deltaPerDay > noise.deltaCeiling) {
    add('privacy.noise.deltaPerDay', `must be at most privacy.noise.deltaCeiling (${noise.deltaCeiling})`);
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
  const serialPorts = new Map<string, string>();
  const mqttTopics = new Map<string, string>();
  const modbusUnits = new Map<string, string>();
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
    if (m.source.driver === 'mqtt') {
      if (c.drivers.mqtt === undefined)
        add(`meters.${i}.source`, 'driver "mqtt" needs a drivers.mqtt section');
      if (mqttTopics.has(m.source.topic)) {
        add(`meters.${i}.source.topic`, `topic already used by meter "${mqttTopics.get(m.source.topic)}"`);
      }
      mqttTopics.set(m.source.topic, m.id);
      if (m.source.format === 'sealed' && m.source.publicKey === undefined) {
        add(`meters.${i}.source.publicKey`, 'format "sealed" needs the meter\'s public key');
      }
    }
    if (m.source.driver === 'modbus') {
      const source = m.source;
      const bus = c.drivers.modbus?.buses[source.bus];
      if (!bus) add(`meters.${i}.source.bus`, `no bus "${source.bus}" under drivers.modbus.buses`);
      // By where the bus leads, not its name: two buses naming one host would read one device twice, and one
      // device counted as several meters would defeat k (privacy invariant 2).
      const endpoint = !bus ? source.bus : bus.transport === 'tcp' ? `${bus.host}:${bus.port}` : bus.path;
      const key = `${endpoint}/${source.unit}`;
      if (modbusUnits.has(key)) {
        add(
          `meters.${i}.source.unit`,
          `unit ${source.unit} at ${endpoint} is already meter "${modbusUnits.get(key)}"`,
        );
      }
      modbusUnits.set(key, m.id);
      if (!isMapPath(source.model) && !builtInModels().includes(source.model)) {
        add(
          `meters.${i}.source.model`,
          `unknown model "${source.model}" (built in: ${builtInModels().join(', ')}; or the path of a .yaml map)`,
        );
      }
    }
    if (m.source.driver === 'serial') {
      const port = m.source.port;
      if (!c.drivers.serial?.[port]) {
        add(`meters.${i}.source.port`, `no port "${port}" under drivers.serial`);
      } else if (serialPorts.has(port)) {
        add(
          `meters.${i}.source.port`,
          `port "${port}" already serves meter "${serialPorts.get(port)}": one meter per port`,
        );
      }
      serialPorts.set(port, m.id);
    }
  });
  // Two links on one device would fight over it (EBUSY, or each getting half the bytes).
  const devices = new Map<string, string>();
  const claim = (device: string, where: string) => {
    const other = devices.get(device);
    if (other) add(where, `device ${device} is already used by ${other}`);
    else devices.set(device, where);
  };
  for (const [name, port] of Object.entries(c.drivers.serial ?? {}))
    claim(port.path, `drivers.serial.${name}.path`);
  for (const [name, bus] of Object.entries(c.drivers.modbus?.buses ?? {})) {
    if (bus.transport === 'rtu') claim(bus.path, `drivers.modbus.buses.${name}.path`);
  }

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

  issues.push(...bandIssues(c), ...bandFloorIssues(c));
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

/**
 * A bill reports each band's total over the billing period; a band covering a short window of the day would report
 * that window of every day of the account, i.e. a per-interval profile (DESIGN.md: nothing finer than the billing
 * period goes to the supplier). So each band covers at least `billing.minBandMinutes` of the day in total.
 */
function bandFloorIssues(c: Config): ConfigIssue[] {
  const floor = c.billing.minBandMinutes;
  return c.billing.bands.flatMap((band, i) => {
    const minutes = new Set(band.windows.flatMap(windowMinutes)).size;
    return minutes >= floor
      ? []
      : [
          {
            path: `billing.bands.${i}.windows`,
            message:
              `band "${band.name}" covers ${minutes} minutes of the day, fewer than billing.minBandMinutes ` +
              `(${floor}): its total on every bill would reveal that window of the day`,
          },
        ];
  });
}
