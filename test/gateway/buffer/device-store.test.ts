/**
 * The device store on a real SQLite buffer: an identity is bound to one meter and one neighbourhood for life,
 * ids once retired stay retired (across a reopen), and only a re-home releases a meter's bindings.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const N2 = 35n ** 2n;
const m01 = { id: 'm01', neighbourhood: 'north' };
const m02 = { id: 'm02', neighbourhood: 'north' };
let opened: BufferStore[] = [];
const open = (file = tempBufferFile()) => {
  const b = openTestBuffer(N2, new Metrics(), { file });
  opened.push(b);
  return b;
};
afterEach(() => {
  for (const b of opened) b.close();
  opened = [];
});

describe('DeviceStore', () => {
  it('binds sources at a first reading and refuses them to any other meter id, across a reopen', () => {
    const file = tempBufferFile();
    const first = open(file).devices;
    first.bindSources(m01, ['serial:/dev/ttyUSB0', 'serial:/dev/serial/by-id/usb-A'], 1000);
    first.bindSources(m01, ['serial:/dev/ttyUSB0'], 2000); // the same meter again: nothing changes
    opened[0]!.close();
    const devices = open(file).devices;
    expect(devices.binding('serial:/dev/ttyUSB0')).toEqual({
      meterId: 'm01',
      neighbourhood: 'north',
      kind: 'source',
    });
    expect(devices.meter('m01')).toEqual({ neighbourhood: 'north', state: 'bound' });
    expect(devices.neighbourhood('north')).toBe('live');
    expectCode('DEVICE_BOUND_ELSEWHERE', () =>
      devices.bindSources(m02, ['serial:/dev/serial/by-id/usb-A'], 3000),
    );
    // Nothing of the refused meter was recorded.
    expect(devices.meter('m02')).toBeUndefined();
    expectCode('METER_MOVED', () =>
      devices.bindSources({ id: 'm01', neighbourhood: 'south' }, ['serial:/dev/ttyUSB9'], 3000),
    );
  });

  it('binds a device identity to one meter: the same device under another id, or another device under this id, is refused', () => {
    const devices = open().devices;
    devices.identify(m01, 'dsmr:E0043007052870318', 1000);
    devices.identify(m01, 'dsmr:E0043007052870318', 2000);
    expect(devices.deviceOf('m01')).toBe('dsmr:E0043007052870318');
    expectCode('DEVICE_BOUND_ELSEWHERE', () => devices.identify(m02, 'dsmr:E0043007052870318', 3000));
    expectCode('DEVICE_CHANGED', () => devices.identify(m01, 'dsmr:E9999999999999999', 3000));
  });

  it('keeps retired ids retired, and a re-home releases the bindings, retires the id and is recorded', () => {
    const devices = open().devices;
    devices.bindSources(m01, ['mqtt:mqtt://127.0.0.1:1883#tele/m01'], 1000);
    devices.retire([m01], ['north'], 2000);
    expect(devices.meter('m01')?.state).toBe('retired');
    expect(devices.neighbourhood('north')).toBe('retired');
    expectCode('METER_ID_RETIRED', () => devices.bindSources(m01, [], 3000));
    expectCode('NEIGHBOURHOOD_ID_RETIRED', () =>
      devices.bindSources({ id: 'm09', neighbourhood: 'north' }, [], 3000),
    );
    // The source stays bound to the retired id until a re-home on site.
    expectCode('DEVICE_BOUND_ELSEWHERE', () =>
      devices.bindSources(
        { id: 'm09', neighbourhood: 'south' },
        ['mqtt:mqtt://127.0.0.1:1883#tele/m01'],
        3000,
      ),
    );
    expect(devices.rehome('m01', 'meter replaced', 4000)).toBe(1);
    devices.bindSources({ id: 'm09', neighbourhood: 'south' }, ['mqtt:mqtt://127.0.0.1:1883#tele/m01'], 5000);
    expect(devices.rehomes(0)).toEqual([{ meter: 'm01', at: 4000, reason: 'meter replaced' }]);
    expect(devices.rehomes(4001)).toEqual([]);
  });
});
