/**
 * The poller's devices grouped into buses: devices sharing a physical connection (one RTU serial port, one TCP
 * host:port) share one transport and take turns on it. The device list is checked here, before anything starts:
 * a duplicate id, a unit id twice on one bus, one serial port with two line settings are CONFIG_INVALID.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { planReads, type PlanOptions, type ReadPlan } from './read-plan.ts';
import type { RegisterMap } from './register-map.ts';
import {
  endpointKey,
  type ModbusEndpoint,
  type ModbusTransport,
  type TransportFactory,
} from './transport.ts';

export interface ModbusDevice {
  /** Meter id the frames and errors are reported under. */
  id: string;
  endpoint: ModbusEndpoint;
  /** Unit id: the RTU slave address (1..247), or the unit behind a TCP gateway (0..255). */
  unitId: number;
  map: RegisterMap;
  /** Read planning overrides (default: the map's maxReadWords and maxGap). */
  plan?: PlanOptions;
  /** Per-device overrides of the poller's settings. */
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
}

/** The poller-wide values of the per-device settings. */
export interface DeviceDefaults {
  intervalMs: number;
  timeoutMs: number;
  retries: number;
}

export interface DeviceStatus {
  id: string;
  /** The last poll got an answer (false before the first poll). */
  up: boolean;
  /** Polls in a row that got no answer. */
  consecutiveFailures: number;
  nextPollAt: number;
  polls: number;
  frames: number;
  /** Requests that got no answer (every attempt counts). */
  timeouts: number;
  exceptions: number;
  /** Corrupt answers. */
  malformed: number;
  /** Values rejected by decode (not finite, out of range...). */
  rejectedValues: number;
}

export interface Device {
  cfg: ModbusDevice;
  plan: ReadPlan;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  status: DeviceStatus;
  /**
   * Its serial-number register is to be read before its next values: at the start, after a reconnect, after down,
   * and at every poll while it could not be read on the current connection.
   */
  identityDue: boolean;
}

export interface Bus {
  key: string;
  transport: ModbusTransport;
  devices: Device[];
  /** Connections opened so far: values read on a newer connection than the serial's are not that device's. */
  connections: number;
}

export function buildBuses(
  devices: readonly ModbusDevice[],
  defaults: DeviceDefaults,
  factory: TransportFactory,
  now: number,
): Bus[] {
  const invalid = (message: string) => new GatewayError('CONFIG_INVALID', `modbus: ${message}`);
  const ids = new Set<string>();
  const buses = new Map<string, { endpoint: ModbusEndpoint; devices: Device[] }>();
  for (const cfg of devices) {
    if (ids.has(cfg.id)) throw invalid(`device id ${cfg.id} is used twice`);
    ids.add(cfg.id);
    if (!Number.isInteger(cfg.unitId) || cfg.unitId < 0 || cfg.unitId > 255) {
      throw invalid(`${cfg.id}: unit id must be 0..255`);
    }
    const key = endpointKey(cfg.endpoint);
    let bus = buses.get(key);
    if (!bus) buses.set(key, (bus = { endpoint: cfg.endpoint, devices: [] }));
    else if (JSON.stringify(bus.endpoint) !== JSON.stringify(cfg.endpoint)) {
      throw invalid(`${cfg.id}: ${key} is configured with other line settings by another device`);
    }
    const clash = bus.devices.find((d) => d.cfg.unitId === cfg.unitId);
    if (clash) throw invalid(`${cfg.id}: unit id ${cfg.unitId} on ${key} is also ${clash.cfg.id}`);
    bus.devices.push({
      cfg,
      plan: planReads(cfg.map, cfg.plan),
      intervalMs: cfg.intervalMs ?? defaults.intervalMs,
      timeoutMs: cfg.timeoutMs ?? defaults.timeoutMs,
      retries: cfg.retries ?? defaults.retries,
      identityDue: cfg.map.identity !== undefined,
      status: {
        id: cfg.id,
        up: false,
        consecutiveFailures: 0,
        nextPollAt: now,
        polls: 0,
        frames: 0,
        timeouts: 0,
        exceptions: 0,
        malformed: 0,
        rejectedValues: 0,
      },
    });
  }
  return [...buses.entries()].map(([key, b]) => ({
    key,
    transport: factory(b.endpoint),
    devices: b.devices,
    connections: 0,
  }));
}
