/**
 * When the poller asks a meter's serial (issue #14, review finding F1), on a scripted transport: a serial that
 * cannot be read is asked again before every poll's values, not only after a reconnect; and values read on a
 * connection opened again in the middle of a poll (after the serial was read on the old one) are dropped, so no
 * frame leaves without its connection's serial having been asked for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeIdentity } from '../../../drivers/modbus/identity.ts';
import { ModbusPoller } from '../../../drivers/modbus/modbus-poller.ts';
import { planReads } from '../../../drivers/modbus/read-plan.ts';
import { loadRegisterMap } from '../../../drivers/modbus/register-map.ts';
import type { GatewayError } from '../../../gateway/errors.ts';
import { waitFor } from '../../helpers/wait.ts';
import { FakeTransport, type FakeRequest } from './fake-transport.ts';

const SDM120 = loadRegisterMap('eastron-sdm120');
const ID = SDM120.identity!;
const isSerialRead = (req: FakeRequest) => req.functionCode === ID.functionCode && req.address === ID.address;
const zeros = (req: FakeRequest) => Promise.resolve(new Array<number>(req.length).fill(0));
const exception02 = () => Promise.reject(Object.assign(new Error('Illegal data address'), { modbusCode: 2 }));

let poller: ModbusPoller | undefined;
afterEach(async () => {
  await poller?.stop();
  poller = undefined;
});

/** Polls one SDM120 on `transport`; what left the poller, in order. */
function run(transport: FakeTransport) {
  const events: string[] = [];
  poller = new ModbusPoller(
    {
      devices: [{ id: 'm', endpoint: { kind: 'rtu', path: '/dev/ttyFAKE0' }, unitId: 1, map: SDM120 }],
      intervalMs: 20,
      timeoutMs: 30,
      retries: 1,
      backoffInitialMs: 100,
      backoffMaxMs: 100,
    },
    {
      transport: () => transport,
      onFrame: () => events.push('frame'),
      onError: (_id, error: GatewayError) => events.push(error.code),
      onIdentity: (_id, identity) => events.push(identity),
      random: () => 0.5,
    },
  );
  poller.start();
  return events;
}

describe('ModbusPoller: the serial on every connection', () => {
  it('asks a serial that cannot be read again before the values of every poll, until it answers', async () => {
    let serialReads = 0;
    const transport = new FakeTransport((req) => {
      if (!isSerialRead(req)) return zeros(req);
      return ++serialReads <= 3 ? exception02() : Promise.resolve(encodeIdentity(ID, '1001'));
    });
    const events = run(transport);
    await waitFor(() => events.filter((e) => e === 'frame').length >= 6, 5000, 'six frames');
    const upToSerial = events.slice(0, events.indexOf('modbus-serial:eastron:1001') + 1);
    // Each of the first three polls: the failed serial read reported before that poll's frame.
    expect(upToSerial).toEqual([
      'MODBUS_IDENTITY_UNREADABLE',
      'frame',
      'MODBUS_IDENTITY_UNREADABLE',
      'frame',
      'MODBUS_IDENTITY_UNREADABLE',
      'frame',
      'modbus-serial:eastron:1001',
    ]);
    // Read once it answered: not asked again on the same connection.
    expect(serialReads).toBe(4);
    expect(transport.connects).toBe(1);
  });

  it('drops the values read on a connection opened again during the poll, and asks the serial first next time', async () => {
    let valueReads = 0;
    const transport = new FakeTransport((req) => {
      if (isSerialRead(req)) return Promise.resolve(encodeIdentity(ID, '1001'));
      // The second poll's first values: the request never settles (the backstop closes the connection), and the
      // retry opens a new one, to whatever answers there now.
      if (++valueReads === planReads(SDM120).blocks.length + 1) return new Promise(() => {});
      return zeros(req);
    });
    const events = run(transport);
    await waitFor(() => events.filter((e) => e === 'frame').length >= 3, 5000, 'three frames');
    expect(events.slice(0, 6)).toEqual([
      'modbus-serial:eastron:1001',
      'frame',
      // The timed-out attempt is counted by the transport's timeouts, not reported: the retry answered.
      'DEVICE_UNCONFIRMED',
      'modbus-serial:eastron:1001',
      'frame',
      'frame',
    ]);
    expect(transport.connects).toBe(2);
  });
});
