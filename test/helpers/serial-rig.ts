/**
 * Serial meters as the gateway builds them, for the serial fault tests: a validated configuration, the drivers
 * from `buildSerialDrivers` (the gateway's own build path), the gateway's `MeterStatus` as their report, and one
 * socat pty pair per port that a test plugs, unplugs and writes into as the meter. `close` stops the drivers and
 * kills every socat and meter port the rig opened, whatever the test did.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Driver } from '../../drivers/driver.ts';
import { buildSerialDrivers } from '../../drivers/serial/build-serial.ts';
import { pushProtocolFor } from '../../drivers/serial/protocols.ts';
import { openSerialPort, type LineSettings } from '../../drivers/serial/serial-link.ts';
import { lineSettings, SIGN_ON_BAUD } from '../../drivers/iec62056-21/protocol.ts';
import type { Reading } from '../../gateway/acquire/reading.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import { MeterStatus } from '../../gateway/observe/meter-status.ts';
import { Metrics } from '../../gateway/observe/metrics.ts';
import type { MeterState } from '../../gateway/protocol/health-message.ts';
import type { Clock } from '../../gateway/time/clock.ts';
import { openSerialOutput, type SerialOutput } from '../../scripts/lib/emulate/serial-output.ts';
import { openPtyPair, type PtyPair } from '../../scripts/lib/pty-pair.ts';
import { driverContext } from './driver-context.ts';

/** One serial port of the configuration (drivers.serial.<name>); its meter is `m-<name>`. */
export type RigPort = Record<string, unknown> & { protocol: 'dsmr' | 'sml' | 'iec62056-21' };

export interface SerialRig {
  readonly metrics: Metrics;
  readonly status: MeterStatus;
  readonly readings: Reading[];
  /** The meter of a port's readings, in order. */
  readingsOf(port: string): Reading[];
  /** The driver of a port's meter. */
  driver(port: string): Driver;
  /** The path the meter writes into (the other end of the pair the gateway opens). */
  meterPath(port: string): string;
  /** Plugs the port in: a socat pty pair at its paths (again after an unplug). */
  plug(port: string): Promise<PtyPair>;
  /** Opens the meter's end of a plugged port with the protocol's line settings, to write as the meter. */
  meter(port: string): Promise<SerialOutput>;
  /** The meter's state and refusals by code in the gateway's meter status. */
  meterStatus(port: string): { state: MeterState; rejected: Record<string, number> };
  start(): Promise<void>;
  close(): Promise<void>;
}

const meterId = (port: string) => `m-${port}`;

export function serialRig(ports: Record<string, RigPort>, clock: Clock, intervalMinutes = 15): SerialRig {
  const dir = mkdtempSync(path.join(tmpdir(), 'serial-rig-'));
  const gatewayPath = (port: string) => path.join(dir, port, 'gateway');
  const meterPath = (port: string) => path.join(dir, port, 'meter');
  const names = Object.keys(ports);
  const config = validateConfig({
    gateway: { id: 'gw', timezone: 'UTC' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    intervals: { minutes: intervalMinutes },
    drivers: {
      serial: Object.fromEntries(names.map((n) => [n, { path: gatewayPath(n), ...ports[n] }])),
    },
    neighbourhoods: [{ id: 'n' }],
    meters: names.map((n) => ({
      id: meterId(n),
      neighbourhood: 'n',
      account: `a-${n}`,
      source: { driver: 'serial', port: n },
    })),
  });
  const metrics = new Metrics();
  const readings: Reading[] = [];
  const intervalMs = intervalMinutes * 60_000;
  const status = new MeterStatus(
    { intervalMs, staleIntervals: 1000, graceMs: 0, startedAt: clock.now(), cursor: () => undefined },
    clock,
    config.meters,
  );
  const drivers = buildSerialDrivers(
    config,
    (meters) => driverContext({ meters, readings, clock, intervalMs, metrics, report: status }),
    openSerialPort,
  );
  const byPort = new Map(names.map((n, i) => [n, drivers[i]!]));
  const cleanups: (() => Promise<void>)[] = [];
  const line = (port: string): LineSettings => {
    const cfg = config.drivers.serial![port]!;
    return cfg.protocol === 'iec62056-21' && cfg.iec.mode === 'C'
      ? lineSettings(SIGN_ON_BAUD)
      : pushProtocolFor(cfg).line;
  };
  return {
    metrics,
    status,
    readings,
    readingsOf: (port) => readings.filter((r) => r.meterId === meterId(port)),
    driver: (port) => byPort.get(port)!,
    meterPath,
    async plug(port) {
      mkdirSync(path.join(dir, port), { recursive: true });
      const pair = await openPtyPair(meterPath(port), gatewayPath(port));
      cleanups.push(() => pair.close());
      return pair;
    },
    async meter(port) {
      const out = await openSerialOutput({ device: meterPath(port) }, line(port));
      cleanups.push(() => out.close());
      return out;
    },
    meterStatus(port) {
      const m = status.snapshot().meters.find((x) => x.id === meterId(port))!;
      return { state: m.state, rejected: m.rejected };
    },
    async start() {
      for (const d of drivers) await d.start();
    },
    async close() {
      for (const d of drivers) await d.stop();
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    },
  };
}
