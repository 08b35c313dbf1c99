/**
 * Poller edge cases on a scripted transport: a request that never settles, a connection that cannot be opened,
 * answers of the wrong length, a consumer callback that throws, and configurations refused before anything starts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../gateway/errors.ts';
import { ModbusPoller, type ModbusDevice } from '../../../drivers/modbus/modbus-poller.ts';
import { loadRegisterMap } from '../../../drivers/modbus/register-map.ts';
import { serialOpenError } from '../../../drivers/serial/serial-errors.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { FakeTransport, type FakeRequest } from './fake-transport.ts';
import { delay, valuesOnly } from './helpers.ts';

const sdm120 = valuesOnly(loadRegisterMap('eastron-sdm120'));
const zeros = (req: FakeRequest) => Promise.resolve(new Array<number>(req.length).fill(0));
const device = (id: string, unitId: number, path = '/dev/ttyFAKE0'): ModbusDevice => ({
  id,
  endpoint: { kind: 'rtu', path },
  unitId,
  map: sdm120,
});

let pollers: ModbusPoller[] = [];
afterEach(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  pollers = [];
});

function run(devices: ModbusDevice[], transport: FakeTransport, onFrame = () => {}) {
  const errors: { id: string; error: GatewayError }[] = [];
  const poller = new ModbusPoller(
    { devices, intervalMs: 50, timeoutMs: 20, retries: 1, backoffInitialMs: 100, backoffMaxMs: 100 },
    {
      transport: () => transport,
      onFrame,
      onError: (id, error) => errors.push({ id, error }),
      random: () => 0.5,
    },
  );
  pollers.push(poller);
  return { poller, errors };
}

describe('ModbusPoller edge cases', () => {
  it('one bus: strictly one request at a time, devices by unit id', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const transport = new FakeTransport(async (req) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await delay(2);
      inFlight--;
      return zeros(req);
    });
    const { poller } = run([device('a', 1), device('b', 2), device('c', 3)], transport);
    poller.start();
    await delay(200);
    await poller.stop();
    expect(maxInFlight).toBe(1);
    expect(new Set(transport.requests.map((r) => r.unitId))).toEqual(new Set([1, 2, 3]));
    expect(transport.requests.every((r) => r.functionCode === 4)).toBe(true);
  });

  it('a request that never settles: the backstop reports DEVICE_TIMEOUT, closes the transport, polling goes on', async () => {
    const transport = new FakeTransport((req) => (req.unitId === 2 ? new Promise(() => {}) : zeros(req)));
    let frames = 0;
    const { poller, errors } = run([device('ok', 1), device('hung', 2)], transport, () => frames++);
    poller.start();
    await delay(400);
    await poller.stop();
    expect(errors.filter((e) => e.id === 'hung').map((e) => e.error.code)).toContain('DEVICE_TIMEOUT');
    expect(errors.filter((e) => e.id === 'ok')).toEqual([]);
    expect(transport.closes).toBeGreaterThanOrEqual(1);
    expect(frames).toBeGreaterThanOrEqual(2);
  });

  it('a port that cannot be opened: every device is reported and retried with back-off', async () => {
    const transport = new FakeTransport(zeros, () => Promise.reject(new Error('ENOENT: no such file')));
    const { poller, errors } = run([device('a', 1), device('b', 2)], transport);
    poller.start();
    await delay(250);
    await poller.stop();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.every((e) => e.error.code === 'DEVICE_TIMEOUT')).toBe(true);
    // 100 ms back-off, 2 attempts per poll: about 3 polls per device in 250 ms, not 5.
    expect(transport.connects).toBeLessThanOrEqual(2 * 2 * 4);
  });

  it('a port the gateway may not open (EACCES): SERIAL_PERMISSION, backed off and marked down like an unplugged one', async () => {
    // What the RTU transport makes of the OS error (transport.ts, serial-errors.ts).
    const denied = serialOpenError(
      '/dev/ttyFAKE0',
      Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }),
    );
    const transport = new FakeTransport(zeros, () => Promise.reject(denied));
    const { poller, errors } = run([device('a', 1)], transport);
    poller.start();
    await delay(250);
    await poller.stop();
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.every((e) => e.error.code === 'SERIAL_PERMISSION')).toBe(true);
    expect(errors[0]!.error.message).toContain('dialout');
    expect(poller.status()[0]).toMatchObject({ up: false });
    expect(transport.connects).toBeLessThanOrEqual(2 * 4);
  });

  it('an answer of the wrong length is FRAME_MALFORMED and counted; the device stays up', async () => {
    const transport = new FakeTransport((req) => Promise.resolve(new Array<number>(req.length - 1).fill(0)));
    const { poller, errors } = run([device('short', 1)], transport);
    poller.start();
    await delay(80);
    await poller.stop();
    expect(errors[0]?.error.code).toBe('FRAME_MALFORMED');
    expect(poller.status()[0]).toMatchObject({ up: true, frames: 0 });
    expect(poller.status()[0]!.malformed).toBeGreaterThanOrEqual(1);
  });

  it('a consumer callback that throws does not stop the loop', async () => {
    const transport = new FakeTransport(zeros);
    const { poller } = run([device('a', 1)], transport, () => {
      throw new Error('consumer bug');
    });
    poller.start();
    await delay(180);
    await poller.stop();
    expect(poller.status()[0]!.frames).toBeGreaterThanOrEqual(2);
    expect(poller.callbackErrors).toBe(poller.status()[0]!.frames);
  });

  it('refuses duplicate ids, a unit id twice on one bus, and one port with two line settings', () => {
    const t = new FakeTransport(zeros);
    expectCode('CONFIG_INVALID', () =>
      run([device('a', 1), device('a', 2, '/dev/ttyFAKE1')], t).poller.start(),
    );
    expectCode('CONFIG_INVALID', () => run([device('a', 1), device('b', 1)], t).poller.start());
    const other = {
      ...device('b', 2),
      endpoint: { kind: 'rtu' as const, path: '/dev/ttyFAKE0', baudRate: 19200 },
    };
    expectCode('CONFIG_INVALID', () => run([device('a', 1), other], t).poller.start());
    // The same unit id on two buses is fine.
    expect(() => run([device('a', 1), device('b', 1, '/dev/ttyFAKE1')], t).poller.start()).not.toThrow();
  });
});
