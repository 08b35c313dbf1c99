/**
 * Modbus RTU end to end on a real pty pair (socat): register-server.ts's ServerSerial on one end, the poller's
 * modbus-serial RTU client on the other, two unit ids on the one bus of which one is absent. Missing socat is a
 * failure, not a skip (.ci/run installs it).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../gateway/errors.ts';
import { ModbusPoller } from '../../../drivers/modbus/modbus-poller.ts';
import { loadRegisterMap } from '../../../drivers/modbus/register-map.ts';
import { RegisterServer } from '../../../drivers/modbus/register-server.ts';
import { modbusSerialTransport } from '../../../drivers/modbus/transport.ts';
import { openPtyPair, type PtyPair } from '../../../scripts/lib/pty-pair.ts';
import { delay, valuesOnly } from './helpers.ts';

const em24 = valuesOnly(loadRegisterMap('carlo-gavazzi-em24'));

describe('Modbus RTU over a pty pair', () => {
  let pair: PtyPair;
  let server: RegisterServer;
  let bus: string;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modbus-pty-'));
    bus = path.join(dir, 'master');
    const meterSide = path.join(dir, 'meter');
    pair = await openPtyPair(meterSide, bus);
    const values: Record<string, number> = { '1-0:1.8.0': 98765.4, '1-0:32.7.0': 231.2 };
    server = new RegisterServer({
      endpoint: { kind: 'rtu', path: meterSide, baudRate: 9600 },
      units: [{ unitId: 3, map: em24, values: (o) => values[o] ?? 0 }],
    });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await pair?.close();
  });

  it('polls the present meter on schedule while the absent one times out and backs off', async () => {
    const frames: number[] = [];
    const errors: GatewayError[] = [];
    const values = new Map<string, number>();
    const poller = new ModbusPoller(
      {
        devices: [
          // One read of the whole map (the emulator answers the unmapped registers in between).
          { id: 'em24', endpoint: { kind: 'rtu', path: bus }, unitId: 3, map: em24, plan: { maxGap: 100 } },
          {
            id: 'absent',
            endpoint: { kind: 'rtu', path: bus },
            unitId: 4,
            map: em24,
            plan: { maxGap: 100 },
            timeoutMs: 100,
          },
        ],
        intervalMs: 150,
        timeoutMs: 500, // the present meter: generous, so that a busy machine cannot fail it
        retries: 0,
        backoffInitialMs: 400,
        backoffMaxMs: 800,
      },
      {
        transport: modbusSerialTransport,
        onFrame: (_, frame) => {
          frames.push(Date.now());
          for (const v of frame.values) values.set(v.obis, v.value);
        },
        onError: (_, error) => errors.push(error),
        random: () => 0.5,
      },
    );
    poller.start();
    await delay(1200);
    await poller.stop();
    expect(frames.length).toBeGreaterThanOrEqual(4);
    expect(values.get('1-0:1.8.0')).toBe(98765.4);
    expect(values.get('1-0:32.7.0')).toBe(231.2);
    // Absent: at 0, then 400 and 800 ms after each failure: 2 or 3 attempts, each a DEVICE_TIMEOUT.
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeLessThanOrEqual(3);
    expect(errors.every((e) => e.code === 'DEVICE_TIMEOUT')).toBe(true);
    // Every request to the absent unit was one reported timeout (but one cut short by stop()).
    expect(server.requests.get(4)! - errors.length).toBeGreaterThanOrEqual(0);
    expect(server.requests.get(4)! - errors.length).toBeLessThanOrEqual(1);
  });
});
