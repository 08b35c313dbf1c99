/**
 * The poller against real Modbus TCP servers (register-server.ts on 127.0.0.1) through modbus-serial's client:
 * a dead unit id or a stopped server never stops the good device, dead devices are retried with back-off and come
 * back, exception responses are counted and the rest of the frame delivered. Dead devices get short timeouts
 * (60 ms), live ones a generous per-device 500 ms so that a busy test machine cannot make them time out; each case
 * takes a second or two. Counts are bounded from both sides where timing decides them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../gateway/errors.ts';
import type { MeterFrame } from '../../../drivers/common/meter-frame.ts';
import {
  ModbusPoller,
  type ModbusDevice,
  type ModbusPollerOptions,
} from '../../../drivers/modbus/modbus-poller.ts';
import { loadRegisterMap, validateRegisterMap } from '../../../drivers/modbus/register-map.ts';
import { RegisterServer, type ServedUnit } from '../../../drivers/modbus/register-server.ts';
import { ModbusExceptionError, modbusSerialTransport } from '../../../drivers/modbus/transport.ts';
import { freePort } from '../../helpers/ports.ts';
import { delay, valuesOnly } from './helpers.ts';

const sdm630 = valuesOnly(loadRegisterMap('eastron-sdm630'));
const em24 = valuesOnly(loadRegisterMap('carlo-gavazzi-em24'));
const meterValues: Record<string, number> = { '1-0:1.8.0': 1234.5, '1-0:32.7.0': 230, '1-0:13.7.0': 0.5 };
const served = (unitId: number, map = sdm630): ServedUnit => ({
  unitId,
  map,
  values: (o) => meterValues[o] ?? 0,
});
const tcp = (port: number) => ({ kind: 'tcp' as const, host: '127.0.0.1', port });

const BASE: Omit<ModbusPollerOptions, 'devices'> = {
  intervalMs: 100,
  timeoutMs: 500,
  retries: 1,
  backoffInitialMs: 300,
  backoffMaxMs: 1200,
};

/** A poller that records what it reports, with timestamps relative to its start. */
function recordingPoller(devices: ModbusDevice[], opts: Partial<ModbusPollerOptions> = {}) {
  const frames: { id: string; at: number; frame: MeterFrame }[] = [];
  const errors: { id: string; at: number; error: GatewayError }[] = [];
  const t0 = Date.now();
  const poller = new ModbusPoller(
    { ...BASE, ...opts, devices },
    {
      transport: modbusSerialTransport,
      onFrame: (id, frame) => frames.push({ id, at: Date.now() - t0, frame }),
      onError: (id, error) => errors.push({ id, at: Date.now() - t0, error }),
      random: () => 0.5, // no jitter: back-off exactly initial × 2^n
    },
  );
  cleanup.push(() => poller.stop());
  const of = <T extends { id: string }>(list: T[], id: string) => list.filter((x) => x.id === id);
  const status = (id: string) => poller.status().find((s) => s.id === id)!;
  const elapsed = () => Date.now() - t0;
  return { poller, frames, errors, of, status, elapsed };
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function startServer(units: ServedUnit[], port?: number): Promise<RegisterServer> {
  const server = new RegisterServer({ endpoint: tcp(port ?? (await freePort())), units });
  await server.start();
  cleanup.push(() => server.stop());
  return server;
}

describe('ModbusPoller over Modbus TCP', () => {
  it('a unit id nobody answers: the good device keeps its schedule, the dead one backs off and is reported', async () => {
    const port = await freePort();
    await startServer([served(1)], port);
    const r = recordingPoller([
      { id: 'good', endpoint: tcp(port), unitId: 1, map: sdm630 },
      { id: 'dead', endpoint: tcp(port), unitId: 2, map: sdm630, timeoutMs: 60 },
    ]);
    r.poller.start();
    await delay(1500);
    await r.poller.stop();

    const good = r.of(r.frames, 'good');
    // 100 ms interval over 1.5 s: 15 polls; the dead device's bursts (2 × 60 ms each) cost a few.
    expect(good.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...gaps(good.map((f) => f.at)))).toBeLessThan(400);
    expect(good[0]!.frame.values.find((v) => v.obis === '1-0:1.8.0')).toEqual({
      obis: '1-0:1.8.0',
      value: 1234.5,
      unit: 'kWh',
    });
    expect(r.of(r.errors, 'good')).toEqual([]);

    // Dead: tried at 0, then 300 and 600 ms after each failure (which takes 120 ms): at ~0, ~420, ~1140; the
    // next would be at ~2460.
    const dead = r.of(r.errors, 'dead');
    expect(dead.length).toBeGreaterThanOrEqual(2);
    expect(dead.length).toBeLessThanOrEqual(3);
    expect(dead.every((e) => e.error.code === 'DEVICE_TIMEOUT')).toBe(true);
    const [first, second] = gaps(dead.map((e) => e.at));
    expect(first).toBeGreaterThanOrEqual(300);
    if (second !== undefined) expect(second).toBeGreaterThanOrEqual(600);
    expect(r.status('dead')).toMatchObject({ up: false, frames: 0, consecutiveFailures: dead.length });
    // Each poll: one attempt + one retry (a poll cut short by stop() is counted but not reported).
    expect(r.status('dead').timeouts).toBeGreaterThanOrEqual(2 * dead.length);
    expect(r.status('dead').timeouts).toBeLessThanOrEqual(2 * dead.length + 2);
    expect(r.status('good')).toMatchObject({ up: true, timeouts: 0, exceptions: 0, frames: good.length });
  });

  it('a server that stops: its device goes down with back-off, the other continues, and it comes back', async () => {
    const portA = await freePort();
    const portB = await freePort();
    await startServer([served(1)], portA);
    const serverB = await startServer([served(1, em24)], portB);
    const r = recordingPoller(
      [
        { id: 'a', endpoint: tcp(portA), unitId: 1, map: sdm630 },
        { id: 'b', endpoint: tcp(portB), unitId: 1, map: em24, timeoutMs: 100 },
      ],
      { retries: 0, backoffInitialMs: 150, backoffMaxMs: 300 },
    );
    r.poller.start();
    await delay(300);
    await serverB.stop();
    const stoppedAt = r.elapsed();
    await delay(600);
    expect(r.status('b').up).toBe(false);
    const outage = r.of(r.errors, 'b').filter((e) => e.at >= stoppedAt);
    expect(outage.length).toBeGreaterThanOrEqual(2);
    expect(outage.every((e) => e.error.code === 'DEVICE_TIMEOUT')).toBe(true);
    // Back-off: attempts 150, then 300 ms apart, not one per 100 ms interval.
    expect(outage.length).toBeLessThanOrEqual(4);
    expect(Math.min(...gaps(outage.map((e) => e.at)))).toBeGreaterThanOrEqual(150);
    expect(r.of(r.frames, 'b').every((f) => f.at < stoppedAt)).toBe(true);

    await startServer([served(1, em24)], portB);
    const restartedAt = r.elapsed();
    await delay(500);
    await r.poller.stop();
    expect(r.status('b')).toMatchObject({ up: true, consecutiveFailures: 0 });
    expect(r.of(r.frames, 'b').filter((f) => f.at > restartedAt).length).toBeGreaterThanOrEqual(1);
    // a never missed a beat: frames throughout, none more than a few intervals apart.
    const aFrames = r.of(r.frames, 'a').map((f) => f.at);
    expect(aFrames.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...gaps(aFrames))).toBeLessThan(400);
    expect(r.of(r.errors, 'a')).toEqual([]);
  });

  it('exception responses: counted as MODBUS_EXCEPTION, the rest of the frame still delivered', async () => {
    const port = await freePort();
    await startServer([served(5, em24)], port);
    // The poller's map has one register more than the meter serves: reading it gets exception 02.
    const raw = {
      model: 'em24-plus',
      name: 'EM24 with an extra register',
      functionCode: 4,
      wordOrder: 'low-first',
      registers: [
        ...em24.registers.map((r) => ({
          obis: r.obis,
          address: r.address,
          type: r.type,
          scale: r.scale,
          unit: r.unit,
        })),
        { obis: '1-0:0.2.0', address: 0x0302, type: 'uint16' },
      ],
    };
    const r = recordingPoller([
      { id: 'em24', endpoint: tcp(port), unitId: 5, map: validateRegisterMap(raw) },
    ]);
    r.poller.start();
    await delay(550);
    await r.poller.stop();

    const frames = r.of(r.frames, 'em24');
    expect(frames.length).toBeGreaterThanOrEqual(4);
    expect(frames[0]!.frame.values).toHaveLength(20);
    expect(frames[0]!.frame.values.find((v) => v.obis === '1-0:1.8.0')?.value).toBe(1234.5);
    const errors = r.of(r.errors, 'em24').map((e) => e.error);
    expect(errors.length).toBe(frames.length);
    expect(errors.every((e) => e instanceof ModbusExceptionError && e.exceptionCode === 2)).toBe(true);
    expect(errors[0]!.message).toMatch(/0x0302\+1.*exception 2 \(illegal data address\)/);
    expect(r.status('em24')).toMatchObject({ up: true, exceptions: errors.length, timeouts: 0 });
  });

  it('a read longer than the meter allows gets its exception 03 (SDM630: 80 registers)', async () => {
    const port = await freePort();
    await startServer([served(1)], port);
    const r = recordingPoller([
      { id: 'sdm', endpoint: tcp(port), unitId: 1, map: sdm630, plan: { maxWords: 125, maxGap: 200 } },
    ]);
    r.poller.start();
    await delay(250);
    await r.poller.stop();
    const codes = r.of(r.errors, 'sdm').map((e) => (e.error as ModbusExceptionError).exceptionCode);
    expect(codes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(codes)).toEqual(new Set([3]));
  });

  it('a gateway that answers 0B for a unit: the device is down and backs off', async () => {
    const port = await freePort();
    const server = new RegisterServer({ endpoint: tcp(port), units: [served(1)], unknownUnit: 'exception' });
    await server.start();
    cleanup.push(() => server.stop());
    const r = recordingPoller([
      { id: 'ok', endpoint: tcp(port), unitId: 1, map: sdm630 },
      { id: 'gone', endpoint: tcp(port), unitId: 9, map: sdm630, timeoutMs: 60 },
    ]);
    r.poller.start();
    await delay(700);
    await r.poller.stop();
    const gone = r.of(r.errors, 'gone');
    // At 0 and 300 ms later; the next would be 600 ms after that.
    expect(gone.length).toBe(2);
    expect(gone.every((e) => (e.error as ModbusExceptionError).exceptionCode === 11)).toBe(true);
    expect(r.status('gone')).toMatchObject({ up: false, consecutiveFailures: 2, exceptions: 2, timeouts: 0 });
    expect(r.of(r.frames, 'ok').length).toBeGreaterThanOrEqual(5);
  });

  it('implausible values are rejected one by one and reported; the frame keeps the others', async () => {
    const port = await freePort();
    const values: Record<string, number> = { '1-0:32.7.0': Number.NaN, '1-0:52.7.0': 5000, '1-0:1.8.0': 10 };
    await startServer([{ unitId: 1, map: sdm630, values: (o) => values[o] ?? 0 }], port);
    const r = recordingPoller([{ id: 'm', endpoint: tcp(port), unitId: 1, map: sdm630 }]);
    r.poller.start();
    await delay(150);
    await r.poller.stop();
    const frame = r.of(r.frames, 'm')[0]!.frame;
    expect(frame.values).toHaveLength(45);
    expect(frame.values.some((v) => v.obis === '1-0:32.7.0' || v.obis === '1-0:52.7.0')).toBe(false);
    const error = r.of(r.errors, 'm')[0]!.error;
    expect(error.code).toBe('FRAME_MALFORMED');
    expect(error.message).toMatch(/1-0:32\.7\.0 not-finite, 1-0:52\.7\.0 out-of-range/);
    expect(error.message).not.toMatch(/5000/); // which bound, never the reading
    expect(r.status('m').rejectedValues).toBe(2 * r.status('m').frames);
  });
});
