/**
 * The Modbus meter driver as the gateway builds it (build-modbus.ts from a validated config), against real peers:
 * register-server.ts over Modbus TCP on a free loopback port and over Modbus RTU on a socat pty pair, read through
 * modbus-serial. Checked at the driver's outputs only: Readings (exact Wh), metrics and what it logs.
 *
 * Modbus carries no time: a frame is placed at the data clock's time when it arrives (a ManualClock here). To keep
 * the Wh exact whatever the poll timing, `sampleAt` changes the served registers first, waits until each meter has
 * been read by a poll that began after the change, and only then moves the clock: frames read before the change
 * carry the old time, where a sample was already taken, so the series ignores them as stale. Samples fall on
 * interval boundaries, so every boundary is valued at the register itself (register-intervals.ts) and an interval's
 * Wh is the difference of the two registers.
 *
 * Polling is at the config's minimum (1 s) with generous answer timeouts for live meters; every wait is for a
 * condition, with a timeout far above what a busy machine needs.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildModbusDriver } from '../../../drivers/modbus/build-modbus.ts';
import type { ModbusMeterDriver } from '../../../drivers/modbus/modbus-meter-driver.ts';
import { loadRegisterMap, type RegisterMap } from '../../../drivers/modbus/register-map.ts';
import {
  RegisterServer,
  type ServedUnit,
  type ServerEndpoint,
} from '../../../drivers/modbus/register-server.ts';
import { emulatedSerial } from '../../../drivers/modbus/identity.ts';
import { modbusSerialTransport } from '../../../drivers/modbus/transport.ts';
import type { Reading } from '../../../gateway/acquire/reading.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { openPtyPair } from '../../../scripts/lib/pty-pair.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait.ts';
import { captureLog } from './capture-log.ts';

const I = 15 * 60_000;
const T0 = Date.parse('2024-03-01T11:00:00Z');
const ENERGY = '1-0:1.8.0';
/** Generous for a busy machine: how long any one condition may take. */
const WAIT_MS = 20_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What the emulated meters serve: the energy register per meter id (kWh; NaN or negative to emulate garbage). */
class Registers {
  readonly kwh = new Map<string, number>();
  /** Meters whose energy register read fails on the meter (exception 04, server device failure). */
  readonly failing = new Set<string>();

  unit(meterId: string, unitId: number, map: RegisterMap): ServedUnit {
    return {
      unitId,
      map,
      // Each emulated meter its own serial, as scripts/emulate serves it.
      serial: () => map.identity && emulatedSerial(map.identity, meterId),
      values: (obis) => {
        if (obis !== ENERGY) return obis === '1-0:32.7.0' ? 230 : undefined;
        if (this.failing.has(meterId)) throw new Error('energy register unreadable');
        return this.kwh.get(meterId);
      },
    };
  }
}

async function startServer(endpoint: ServerEndpoint, units: ServedUnit[]): Promise<RegisterServer> {
  const server = new RegisterServer({ endpoint, units });
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

/** The one bus of a test: its entry in the driver's config and where the emulated meters serve it. */
interface Bus {
  /** Its name in `drivers.modbus.buses`. */
  name: string;
  /** Its entry in `drivers.modbus.buses`. */
  config: Record<string, unknown>;
  endpoint: ServerEndpoint;
}

/** Modbus TCP on a free loopback port. */
async function tcpBus(): Promise<Bus> {
  const port = await freePort();
  return {
    name: 'lan',
    config: { transport: 'tcp', host: '127.0.0.1', port },
    endpoint: { kind: 'tcp', port },
  };
}

interface RtuBus extends Bus {
  /** Kills socat: the pty links vanish under the open ports. */
  unplug(): Promise<void>;
  /** A new socat pty pair at the same paths. */
  plug(): Promise<void>;
}

/**
 * Modbus RTU at 9600 Bd on a socat pty pair in a fresh directory, plugged in: the register server opens the meter
 * end, the driver the gateway end.
 */
async function rtuBus(): Promise<RtuBus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'modbus-driver-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const meterEnd = path.join(dir, 'meter');
  const gatewayEnd = path.join(dir, 'gateway');
  const openPair = async () => {
    const pair = await openPtyPair(meterEnd, gatewayEnd);
    cleanups.push(() => pair.close());
    return pair;
  };
  let pair = await openPair();
  return {
    name: 'rs485',
    config: { transport: 'rtu', path: gatewayEnd, baudRate: 9600 },
    endpoint: { kind: 'rtu', path: meterEnd, baudRate: 9600 },
    unplug: () => pair.close(),
    plug: async () => {
      pair = await openPair();
    },
  };
}

/** A meter's source config on the test's bus (beyond `driver` and `bus`). */
interface MeterSpec {
  id: string;
  unit: number;
  model: string;
  timeoutMs?: number;
  retries?: number;
}

/** The driver built from a validated config with `meters` on `bus`, not started yet. */
function startDriver(bus: Bus, meters: MeterSpec[]) {
  const buses = { [bus.name]: bus.config };
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: { modbus: { buses, pollSeconds: 1, timeoutMs: 1000, retries: 1, backoffMaxSeconds: 2 } },
    neighbourhoods: [{ id: 'n' }],
    meters: meters.map(({ id, ...source }) => ({
      id,
      neighbourhood: 'n',
      account: `acc-${id}`,
      source: { driver: 'modbus', bus: bus.name, ...source },
    })),
  });
  const metrics = new Metrics();
  const readings: Reading[] = [];
  const clock = new ManualClock(T0);
  const logs = captureLog();
  /** What the driver reports to the gateway's meter status: links up or down, refused answers by code. */
  const links: [string, boolean][] = [];
  const rejects: [string, string][] = [];
  const report = {
    link: (m: string, up: boolean) => links.push([m, up]),
    rejected: (m: string, c: string) => rejects.push([m, c]),
  };
  const driver = buildModbusDriver(
    config,
    (ms) => ({
      ...driverContext({ meters: ms, readings, clock, intervalMs: I, metrics, report }),
      log: logs.log,
    }),
    modbusSerialTransport,
  ) as ModbusMeterDriver;
  cleanups.push(() => driver.stop());

  const status = (id: string) => {
    const s = driver.status().find((x) => x.id === id);
    if (!s) throw new Error(`no meter ${id}`);
    return s;
  };
  const diag = () => JSON.stringify({ status: driver.status(), metrics: metrics.snapshot() });
  /** Waits until each meter has delivered a frame read by a poll that began after this call. */
  const readAfterNow = async (ids: readonly string[]) => {
    const polls = ids.map((id) => status(id).polls);
    await waitFor(
      () => ids.every((id, i) => status(id).frames > polls[i]!),
      WAIT_MS,
      `a fresh frame from ${ids.join(', ')}`,
      diag,
    );
  };
  /** Waits until each meter has delivered one more frame than now. */
  const nextFrame = async (ids: readonly string[]) => {
    const frames = ids.map((id) => status(id).frames);
    await waitFor(
      () => ids.every((id, i) => status(id).frames > frames[i]!),
      WAIT_MS,
      `the next frame from ${ids.join(', ')}`,
      diag,
    );
  };
  return { driver, metrics, readings, clock, logs, links, rejects, status, diag, readAfterNow, nextFrame };
}

type Driven = ReturnType<typeof startDriver>;

const sdm630 = loadRegisterMap('eastron-sdm630');
const sdm120 = loadRegisterMap('eastron-sdm120');
const em24 = loadRegisterMap('carlo-gavazzi-em24');

interface TwoMeters {
  /** The map meter 'sdm' (unit 1) serves; the driver reads it as that map's model. */
  sdm: RegisterMap;
  /** Likewise for meter 'em' (unit 2): the EM24's unless given. */
  em?: RegisterMap;
  /** Their energy registers (kWh) when the driver starts. */
  kwh: { sdm: number; em: number };
  /** Meter 'em': its own answer timeout and retries in its source config, instead of the bus's. */
  emSource?: Pick<MeterSpec, 'timeoutMs' | 'retries'>;
}

/**
 * Two meters on one bus: 'sdm' and 'em' served there, and the driver started on it and waited for until it has
 * read each once. `units()` is what the emulator serves, for a server started again on `bus.endpoint`.
 */
async function twoMetersOnOneBus(bus: Bus, o: TwoMeters) {
  const registers = new Registers();
  const em = o.em ?? em24;
  const units = () => [registers.unit('sdm', 1, o.sdm), registers.unit('em', 2, em)];
  const server = await startServer(bus.endpoint, units());
  registers.kwh.set('sdm', o.kwh.sdm).set('em', o.kwh.em);
  const d = startDriver(bus, [
    { id: 'sdm', unit: 1, model: o.sdm.model },
    { id: 'em', unit: 2, model: em.model, ...o.emSource },
  ]);
  await d.driver.start();
  await d.nextFrame(['sdm', 'em']);
  return { registers, d, server, units };
}

/**
 * Two meters on one bus (see twoMetersOnOneBus) read over two intervals, then stopped: their energy registers (kWh)
 * are `kwh.sdm[k]` and `kwh.em[k]` at data time T0 + kI.
 */
async function readTwoIntervals(
  bus: Bus,
  sdm: RegisterMap,
  kwh: { sdm: [number, number, number]; em: [number, number, number] },
): Promise<Driven> {
  const at = (k: 0 | 1 | 2) => ({ sdm: kwh.sdm[k], em: kwh.em[k] });
  const { registers, d } = await twoMetersOnOneBus(bus, { sdm, kwh: at(0) });
  for (const k of [1, 2] as const) await sampleAt(d, registers, T0 + k * I, at(k));
  await d.driver.stop();
  return d;
}

/**
 * Serves `kwh` and waits until every one of those meters has been read with it: frames read before still carry
 * the current data time and are ignored there as stale (or rejected, when they were garbage).
 */
async function serve(d: Driven, registers: Registers, kwh: Record<string, number>): Promise<void> {
  for (const [id, value] of Object.entries(kwh)) registers.kwh.set(id, value);
  await d.readAfterNow(Object.keys(kwh));
}

/** Takes one sample per meter at data time `at` with the registers `kwh` (see the top comment). */
async function sampleAt(
  d: Driven,
  registers: Registers,
  at: number,
  kwh: Record<string, number>,
): Promise<void> {
  await serve(d, registers, kwh);
  d.clock.set(at);
  await d.nextFrame(Object.keys(kwh));
}

const byMeterAndTime = (a: Reading, b: Reading) => a.meterId.localeCompare(b.meterId) || a.start - b.start;

/**
 * Expects exactly these readings, each `[meterId, k, wh]` for the interval [T0 + kI, T0 + (k + 1)I], listed by
 * meter and then time.
 */
function expectReadings(d: Driven, ...expected: [meterId: string, k: number, wh: number][]): void {
  expect([...d.readings].sort(byMeterAndTime)).toEqual(
    expected.map(([meterId, k, wh]) => ({ meterId, start: T0 + k * I, end: T0 + (k + 1) * I, wh })),
  );
}

/** Expects each of the meters `ids` to have a status matching `fields`. */
function expectStatus(d: Driven, ids: readonly string[], fields: Record<string, unknown>): void {
  for (const id of ids) expect(d.status(id), id).toMatchObject(fields);
}

/** The driver.modbus.errors.* counters that are not zero. */
const errorCounters = (metrics: Metrics) =>
  Object.fromEntries(
    Object.entries(metrics.snapshot()).filter(([k]) => k.startsWith('driver.modbus.errors.')),
  );

/** What the driver logs, once, when a meter stops answering and when it answers again. */
const DOWN = 'Modbus meter not answering';
const BACK = 'Modbus meter answering again';

describe('Modbus meter driver: readings', () => {
  it('two meter models on one Modbus TCP connection give the exact Wh of each interval', async () => {
    // float32 (SDM630) and int32 × 0.1 kWh, low word first (EM24): values both represent exactly.
    const d = await readTwoIntervals(await tcpBus(), sdm630, {
      sdm: [1000, 1000.25, 1000.625],
      em: [2000, 2000.4, 2001.1],
    });

    expectReadings(d, ['em', 0, 400], ['em', 1, 700], ['sdm', 0, 250], ['sdm', 1, 375]);
    expect(errorCounters(d.metrics)).toEqual({});
    const frames = d.status('sdm').frames + d.status('em').frames;
    expect(d.metrics.get('driver.modbus.frames')).toBe(frames);
    expectStatus(d, ['sdm', 'em'], { up: true, timeouts: 0, exceptions: 0, rejectedValues: 0 });
    expect(d.logs.find(DOWN)).toEqual([]);
  }, 60_000);

  it('two meter models on one Modbus RTU bus (pty pair) give the exact Wh of each interval', async () => {
    const d = await readTwoIntervals(await rtuBus(), sdm120, {
      sdm: [500, 500.125, 501],
      em: [70, 70.3, 71.2],
    });

    expectReadings(d, ['em', 0, 300], ['em', 1, 900], ['sdm', 0, 125], ['sdm', 1, 875]);
    expect(errorCounters(d.metrics)).toEqual({});
    expectStatus(d, ['sdm', 'em'], { up: true, timeouts: 0 });
  }, 60_000);
});

describe('Modbus meter driver: meters that do not answer', () => {
  it('a unit id nobody answers on the TCP connection is counted and reported once; the other meter is read on', async () => {
    const registers = new Registers();
    const bus = await tcpBus();
    await startServer(bus.endpoint, [registers.unit('sdm', 1, sdm630)]);
    registers.kwh.set('sdm', 1000);
    const d = startDriver(bus, [
      { id: 'sdm', unit: 1, model: 'eastron-sdm630' },
      { id: 'ghost', unit: 9, model: 'carlo-gavazzi-em24', timeoutMs: 100, retries: 0 },
    ]);
    await d.driver.start();
    await d.nextFrame(['sdm']);
    await sampleAt(d, registers, T0 + I, { sdm: 1000.5 });
    // The ghost is retried after its back-off (1 s, then 2 s): wait for a second failed poll.
    await waitFor(() => d.status('ghost').consecutiveFailures >= 2, WAIT_MS, 'two failed polls', d.diag);
    await sampleAt(d, registers, T0 + 2 * I, { sdm: 1001.25 });
    await d.driver.stop();

    expectReadings(d, ['sdm', 0, 500], ['sdm', 1, 750]);
    const ghost = d.status('ghost');
    expect(ghost).toMatchObject({ up: false, frames: 0, exceptions: 0 });
    // Each failed poll is reported once (a poll cut short by stop() is not reported)...
    expect(errorCounters(d.metrics)).toEqual({
      'driver.modbus.errors.DEVICE_TIMEOUT': ghost.consecutiveFailures,
    });
    // ... and is a single request: the meter's own `retries: 0` from its source config, not the bus's 1.
    expect(ghost.timeouts).toBeGreaterThanOrEqual(ghost.consecutiveFailures);
    expect(ghost.timeouts).toBeLessThanOrEqual(ghost.consecutiveFailures + 1);
    expect(d.status('sdm')).toMatchObject({ up: true, timeouts: 0, exceptions: 0 });
    // Reported when it went down, not again at each retry; the good meter never.
    expect(d.logs.find(DOWN, 'ghost')).toHaveLength(1);
    expect(d.logs.find(DOWN, 'ghost')[0]).toMatchObject({ code: 'DEVICE_TIMEOUT' });
    expect(d.logs.find(DOWN, 'sdm')).toEqual([]);
  }, 60_000);

  it('a meter on an RTU bus that stops answering is reported, the other goes on, and it is read again when back', async () => {
    const bus = await rtuBus();
    const rig = await twoMetersOnOneBus(bus, {
      sdm: sdm120,
      kwh: { sdm: 100, em: 200 },
      emSource: { timeoutMs: 300, retries: 0 },
    });
    const { registers, d } = rig;
    let server = rig.server;
    /** The emulator serving only `units` from now on (same pty), swapped just after `last` was read. */
    const swap = async (last: string, units: ServedUnit[]) => {
      await d.nextFrame([last]); // the last meter of the bus's round: the bus is idle for most of a second
      await server.stop();
      server = await startServer(bus.endpoint, units);
    };

    await swap('em', [registers.unit('sdm', 1, sdm120)]); // em loses power
    await waitFor(() => d.status('em').consecutiveFailures >= 1, WAIT_MS, 'em down', d.diag);
    await sampleAt(d, registers, T0 + I, { sdm: 100.5 });
    await sampleAt(d, registers, T0 + 2 * I, { sdm: 101.5 });
    const em = d.status('em');
    expect(em.up).toBe(false);
    expect(em.timeouts).toBeLessThanOrEqual(em.consecutiveFailures + 1); // its own retries: 0
    expect(d.logs.find(DOWN, 'em')).toHaveLength(1);

    registers.kwh.set('em', 201); // what em's register reads when it is back at T0 + 2I
    await swap('sdm', rig.units());
    await waitFor(() => d.status('em').up, WAIT_MS, 'em back', d.diag);
    await sampleAt(d, registers, T0 + 3 * I, { sdm: 101.75, em: 201.3 });
    await d.driver.stop();

    // sdm: every interval. em: nothing for the two intervals it was silent (missing, never 0), then on again.
    expectReadings(d, ['em', 2, 300], ['sdm', 0, 500], ['sdm', 1, 1000], ['sdm', 2, 250]);
    expect(d.metrics.get('driver.samples_gap')).toBe(1);
    expect(d.metrics.get('driver.modbus.errors.DEVICE_TIMEOUT')).toBeGreaterThanOrEqual(1);
    expect(d.logs.find(BACK, 'em')).toHaveLength(1);
    expect(d.logs.find(DOWN, 'sdm')).toEqual([]);
    expect(d.status('sdm').up).toBe(true);
    // The meter status hears the same: em down, then up again; sdm never down; a timeout is no refused answer.
    const emLink = d.links.filter(([m]) => m === 'em').map(([, up]) => up);
    expect(emLink.indexOf(false)).toBeGreaterThanOrEqual(0);
    expect(emLink.indexOf(false)).toBeLessThan(emLink.lastIndexOf(true));
    expect(emLink.at(-1)).toBe(true);
    expect(d.links.filter(([m, up]) => m === 'sdm' && !up)).toEqual([]);
    expect(d.rejects).toEqual([]);
  }, 90_000);

  it('an RTU bus unplugged (socat killed) is counted and reported; plugged back at the same path, readings flow again without a restart', async () => {
    const bus = await rtuBus();
    const rig = await twoMetersOnOneBus(bus, { sdm: sdm120, kwh: { sdm: 10, em: 20 } });
    const { registers, d } = rig;
    await sampleAt(d, registers, T0 + I, { sdm: 10.5, em: 20.3 });
    // The registers when the bus is back (at T0 + 3I); served before the unplug so that no late frame is stale.
    await serve(d, registers, { sdm: 12, em: 21 });

    await bus.unplug(); // socat killed: the pty links vanish under the open ports
    await rig.server.stop();
    d.clock.set(T0 + 3 * I);
    await waitFor(
      () => !d.status('sdm').up && !d.status('em').up,
      WAIT_MS,
      'both meters reported down',
      d.diag,
    );
    // Reopening a port that is gone fails: counted, and the driver keeps trying.
    await waitFor(
      () => d.metrics.get('driver.modbus.errors.SERIAL_PORT_FAILED') >= 1,
      WAIT_MS,
      'a failed reopen',
      d.diag,
    );
    expect(d.logs.find(DOWN, 'sdm')).toHaveLength(1);
    expect(d.logs.find(DOWN, 'em')).toHaveLength(1);
    const framesWhileUnplugged = d.metrics.get('driver.modbus.frames');

    await bus.plug(); // plug back: a new pty pair at the same paths, the meters' emulator on it
    await startServer(bus.endpoint, rig.units());
    await waitFor(() => d.status('sdm').up && d.status('em').up, WAIT_MS, 'both meters back', d.diag);
    expect(d.metrics.get('driver.modbus.frames')).toBeGreaterThan(framesWhileUnplugged);
    await sampleAt(d, registers, T0 + 4 * I, { sdm: 12.75, em: 21.5 });
    await d.driver.stop();

    // Before: [T0, T0 + I]. The unplugged intervals have no reading; after: [T0 + 3I, T0 + 4I].
    expectReadings(d, ['em', 0, 300], ['em', 3, 500], ['sdm', 0, 500], ['sdm', 3, 750]);
    expect(d.metrics.get('driver.samples_gap')).toBe(2);
    expect(d.logs.find(BACK, 'sdm')).toHaveLength(1);
    expect(d.logs.find(BACK, 'em')).toHaveLength(1);
  }, 90_000);
});

describe('Modbus meter driver: bad answers', () => {
  it('exception responses are counted; the rest of the frame still gives exact readings, and no meter is reported down', async () => {
    // This EM24 does not have the export register the map reads: exception 02 at every poll.
    const em24NoExport: RegisterMap = {
      ...em24,
      registers: em24.registers.filter((r) => r.obis !== '1-0:2.8.0'),
    };
    const bus = await tcpBus();
    const { registers, d } = await twoMetersOnOneBus(bus, {
      sdm: sdm630,
      em: em24NoExport,
      kwh: { sdm: 1000, em: 2000 },
    });
    await sampleAt(d, registers, T0 + I, { sdm: 1000.5, em: 2000.5 });
    // The SDM630's energy register read fails (exception 04): its frames carry no energy and give no sample.
    registers.failing.add('sdm');
    await d.readAfterNow(['sdm']);
    await d.readAfterNow(['sdm']);
    const withoutEnergy = d.metrics.get('driver.frames_without_energy');
    registers.failing.delete('sdm');
    await sampleAt(d, registers, T0 + 2 * I, { sdm: 1001, em: 2001.2 });
    await d.driver.stop();

    expectReadings(d, ['em', 0, 500], ['em', 1, 700], ['sdm', 0, 500], ['sdm', 1, 500]);
    const sdm = d.status('sdm');
    const em = d.status('em');
    expect(em.exceptions).toBe(em.frames); // every completed poll
    expect(sdm.exceptions).toBeGreaterThanOrEqual(2);
    expect(withoutEnergy).toBeGreaterThanOrEqual(2);
    expect(d.metrics.get('driver.frames_without_energy')).toBe(sdm.exceptions);
    expect(errorCounters(d.metrics)).toEqual({
      'driver.modbus.errors.MODBUS_EXCEPTION': sdm.exceptions + em.exceptions,
    });
    expect(sdm.up && em.up).toBe(true);
    // A meter that answers with an exception is alive: never reported as not answering, its answers refused.
    expect(d.logs.find(DOWN)).toEqual([]);
    expect(d.links.filter(([, up]) => !up)).toEqual([]);
    expect(d.rejects.filter(([m]) => m === 'em')).toHaveLength(em.exceptions);
    expect(new Set(d.rejects.map(([, code]) => code))).toEqual(new Set(['MODBUS_EXCEPTION']));
  }, 60_000);

  it('an energy register that decodes to NaN or a negative value is counted and skipped; the series goes on exactly', async () => {
    const bus = await tcpBus();
    const { registers, d } = await twoMetersOnOneBus(bus, { sdm: sdm630, kwh: { sdm: 1000, em: 2000 } });
    await sampleAt(d, registers, T0 + I, { sdm: 1000.5, em: 2000.5 });
    // Garbage at T0 + 2I: NaN (float32) and −5 kWh (int32); had either been taken, the next reading would differ.
    await sampleAt(d, registers, T0 + 2 * I, { sdm: Number.NaN, em: -5 });
    await d.nextFrame(['sdm', 'em']);
    // The right registers at T0 + 2I: the first good frame there is the sample.
    await serve(d, registers, { sdm: 1000.75, em: 2000.8 });
    await sampleAt(d, registers, T0 + 3 * I, { sdm: 1001, em: 2001 });
    await d.driver.stop();

    expectReadings(
      d,
      ['em', 0, 500],
      ['em', 1, 300],
      ['em', 2, 200],
      ['sdm', 0, 500],
      ['sdm', 1, 250],
      ['sdm', 2, 250],
    );
    const rejected = d.status('sdm').rejectedValues + d.status('em').rejectedValues;
    expect(d.status('sdm').rejectedValues).toBeGreaterThanOrEqual(2);
    expect(d.status('em').rejectedValues).toBeGreaterThanOrEqual(2);
    // One rejected value per garbage frame, reported once, and that frame has no energy.
    expect(errorCounters(d.metrics)).toEqual({ 'driver.modbus.errors.FRAME_MALFORMED': rejected });
    expect(d.metrics.get('driver.frames_without_energy')).toBe(rejected);
    expect(d.metrics.get('driver.samples_regressed')).toBe(0);
    expect(d.logs.find(DOWN)).toEqual([]);
  }, 60_000);
});
