/**
 * A Modbus RTU meter answering slowly (issue #7, serial faults), on a real pty pair with the real modbus-serial
 * RTU client of the gateway's transport: answers delayed to just inside the timeout and answers cut into pieces
 * with gaps are read correctly; answers beyond the timeout count DEVICE_TIMEOUT and the next attempt or poll
 * succeeds; and an answer that arrives late, after the next request went out, is never taken as the answer to
 * that request (Modbus RTU answers carry no transaction id: the energy register of each answer here carries the
 * number of the request it answers, so a misattributed answer shows).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ModbusPoller } from '../../../drivers/modbus/modbus-poller.ts';
import { modbusSerialTransport } from '../../../drivers/modbus/transport.ts';
import type { GatewayError } from '../../../gateway/errors.ts';
import { openSerialOutput } from '../../../scripts/lib/emulate/serial-output.ts';
import { ScriptedRtuSlave, type ScriptedAnswer } from '../../helpers/scripted-rtu-slave.ts';
import { waitFor } from '../../helpers/wait.ts';
import { inlineMap } from './helpers.ts';

const ENERGY = '1-0:1.8.0';
const MAP = inlineMap({ registers: [{ obis: ENERGY, address: 0, type: 'uint32', unit: 'Wh' }] });
const LINE = { baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 } as const;
const TIMEOUT_MS = 1000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A scripted meter on a pty pair in `dir` (made again at the same paths after an unplug). */
async function meterIn(dir: string, script: (n: number) => ScriptedAnswer, firstRequest = 1) {
  const out = await openSerialOutput({ ptyDir: dir }, LINE);
  cleanups.push(() => out.close());
  const slave = new ScriptedRtuSlave(out, 7, MAP, ENERGY, script, firstRequest);
  cleanups.push(() => slave.stop());
  return { out, slave };
}

/** The gateway's poller on the bus at `bus`: the energy register of each answer read, the errors reported. */
function pollerOn(bus: string, retries: number) {
  const frames: number[] = [];
  const errors: GatewayError[] = [];
  const poller = new ModbusPoller(
    {
      devices: [{ id: 'm', endpoint: { kind: 'rtu', path: bus, baudRate: 9600 }, unitId: 7, map: MAP }],
      intervalMs: 200,
      timeoutMs: TIMEOUT_MS,
      retries,
      backoffInitialMs: 300,
      backoffMaxMs: 300,
    },
    {
      transport: modbusSerialTransport,
      onFrame: (_, frame) => frames.push(frame.values.find((v) => v.obis === ENERGY)!.value),
      onError: (_, error) => errors.push(error),
      random: () => 0.5,
    },
  );
  cleanups.push(() => poller.stop());
  return { poller, frames, errors };
}

async function slowMeter(script: (n: number) => ScriptedAnswer) {
  const { out, slave } = await meterIn(mkdtempSync(path.join(tmpdir(), 'slow-rtu-')), script);
  return { slave, ...pollerOn(out.gatewayPath!, 1) };
}

describe('a Modbus RTU meter answering slowly, over a pty pair', () => {
  it('reads slow and split answers, counts timeouts, and never takes a late answer for the next request', async () => {
    // Request n is answered as the script says; a late answer goes out while the next request waits for its own.
    const script: Record<number, ScriptedAnswer> = {
      2: { delayMs: 0.5 * TIMEOUT_MS }, // inside the timeout
      3: { pieces: 4, gapMs: 0.15 * TIMEOUT_MS }, // in pieces with gaps, the last at 45 % of the timeout
      4: { delayMs: 1.6 * TIMEOUT_MS }, // beyond: the retry (5) is on the line when it arrives
      5: { delayMs: 0.8 * TIMEOUT_MS }, // 5's own answer comes after the late 4
      7: { silent: true }, // 7 and 8 unanswered in time: the meter is down, polled again after the back-off
      8: { delayMs: 1.5 * TIMEOUT_MS },
      9: { delayMs: 0.4 * TIMEOUT_MS }, // the late 8 arrives while 9 waits
    };
    const m = await slowMeter((n) => script[n] ?? {});
    m.poller.start();
    await waitFor(() => m.slave.answered.includes(10) && m.frames.length >= 6, 30_000, 'ten requests');
    await m.poller.stop();
    const status = m.poller.status()[0]!;
    console.info(
      `modbus rtu: frames ${JSON.stringify(m.frames)}, timeouts ${status.timeouts}, ` +
        `errors ${JSON.stringify(m.errors.map((e) => e.code))}, answers written ${JSON.stringify(m.slave.answered)}`,
    );
    // Every answer delivered is the answer to the request that asked for it: increasing, no 4, no 8.
    expect(m.frames.slice(0, 6)).toEqual([1, 2, 3, 5, 6, 9]);
    expect(m.frames.every((v, i) => i === 0 || v > m.frames[i - 1]!)).toBe(true);
    // Timeouts: 4 (retried by 5), 7 and 8 (the meter down once, reported once, read again after the back-off).
    expect(status.timeouts).toBe(3);
    expect(m.errors.map((e) => e.code)).toEqual(['DEVICE_TIMEOUT']);
    expect(status.up).toBe(true);
  }, 40_000);

  it('a bus lost in the middle of an answer is down, then read again after the replug, no half answer joined', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'slow-rtu-'));
    let pulled: Promise<void> | undefined;
    // The answer to request 2 stops after its first half; the plug is pulled 0.3 s later.
    const first = await meterIn(dir, (n) => {
      if (n === 2) pulled = new Promise((resolve) => setTimeout(resolve, 300)).then(() => first.out.close());
      return n === 2 ? { pieces: 2, gapMs: 0.6 * TIMEOUT_MS } : {};
    });
    const m = pollerOn(first.out.gatewayPath!, 0);
    m.poller.start();
    await waitFor(() => pulled !== undefined, 10_000, 'request 2');
    await pulled;
    await waitFor(() => m.errors.length >= 2, 10_000, 'the meter down and the port gone');
    expect(m.poller.status()[0]!.up).toBe(false);
    // The meter plugged back in numbers its answers from 101.
    await meterIn(dir, () => ({}), 101);
    await waitFor(() => m.frames.length >= 3, 15_000, 'answers after the replug');
    await m.poller.stop();
    console.info(
      `modbus rtu unplugged mid-answer: frames ${JSON.stringify(m.frames)}, ` +
        `errors ${JSON.stringify(m.errors.map((e) => e.code))}`,
    );
    expect(m.frames[0]).toBe(1);
    expect(m.frames.slice(1).every((v) => v > 100)).toBe(true);
    // No answer, then no port while unplugged: counted by code.
    expect(m.errors[0]!.code).toBe('DEVICE_TIMEOUT');
    expect(new Set(m.errors.map((e) => e.code))).toEqual(new Set(['DEVICE_TIMEOUT', 'SERIAL_PORT_FAILED']));
    expect(m.poller.status()[0]!.up).toBe(true);
  }, 40_000);
});
