/**
 * parseSmlFrame on every file of the captures (values checked against bytes read by hand), on hand-assembled
 * messages for what the captures lack (timestamps, other units, OBIS with F ≠ 255), and on damage that survives
 * the transport CRC, which the message CRC or the structure checks must catch.
 */
import { describe, expect, it } from 'vitest';
import type { MeterFrame } from '../../../drivers/common/meter-frame.ts';
import { crc16X25, swapBytes16 } from '../../../drivers/sml/crc16-x25.ts';
import { parseSmlFrame } from '../../../drivers/sml/sml-parser.ts';
import { unwrapTransport, wrapTransport } from '../../../drivers/sml/sml-transport.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { FILE_BYTES, captureFile, dump, fixture } from './sml-fixtures.ts';

const SERVER_ID = '0901444e540100002030';

function framesOf(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at + FILE_BYTES <= bytes.length; at += FILE_BYTES)
    frames.push(bytes.subarray(at, at + FILE_BYTES));
  return frames;
}

function value(frame: MeterFrame, obis: string): number | undefined {
  return frame.values.find((v) => v.obis === obis)?.value;
}

describe('parseSmlFrame on the captures', () => {
  it('reads the first file as read by hand from its bytes', () => {
    // … 77 07 0100020800ff 64 010190 01 62 1e 52 ff 59 000000000000aad2 01 …  → 43730 × 10^-1 Wh
    // … 77 07 01000f0700ff 01 01 62 1b 52 00 65 0000002a 01 …                   → 42 W
    expect(parseSmlFrame(captureFile(0))).toEqual({
      identification: SERVER_ID,
      serial: SERVER_ID,
      values: [
        { obis: '1-0:2.8.0', value: 4373, unit: 'Wh' },
        { obis: '1-0:2.8.1', value: 4373, unit: 'Wh' },
        { obis: '1-0:2.8.2', value: 0, unit: 'Wh' },
        { obis: '1-0:15.7.0', value: 42, unit: 'W' },
      ],
    });
  });

  it('reads a file with two padding bytes (file 519: 65 0000002c = 44 W)', () => {
    const file = fixture('ttyUSB0-frame-519.dump');
    expect(file[FILE_BYTES - 3]).toBe(2);
    expect(value(parseSmlFrame(file), '1-0:15.7.0')).toBe(44);
  });

  it.each([
    ['ttyUSB0.dump', 878],
    ['ttyUSB0-3.dump', 518],
    ['ttyUSB0-2.dump', 2],
  ] as const)('parses every file of %s (%i): same meter, plausible, monotonic registers', (name, count) => {
    const frames = framesOf(dump(name)).map(parseSmlFrame);
    expect(frames).toHaveLength(count);
    let previous = -Infinity;
    for (const frame of frames) {
      expect(frame.identification).toBe(SERVER_ID);
      // secIndex only: no frame carries a time.
      expect(frame.time).toBeUndefined();
      expect(frame.values.map((v) => `${v.obis} ${v.unit}`)).toEqual([
        '1-0:2.8.0 Wh',
        '1-0:2.8.1 Wh',
        '1-0:2.8.2 Wh',
        '1-0:15.7.0 W',
      ]);
      // The captures hold no 1-0:1.8.0; 2.8.0 is their cumulative energy register (constant here).
      const total = value(frame, '1-0:2.8.0')!;
      expect(total).toBeGreaterThanOrEqual(previous);
      expect(total).toBe(value(frame, '1-0:2.8.1')! + value(frame, '1-0:2.8.2')!);
      previous = total;
      const power = value(frame, '1-0:15.7.0')!;
      expect(power).toBeGreaterThanOrEqual(0);
      expect(power).toBeLessThan(20_000);
    }
    expect(previous).toBe(4373);
  });

  it('sees the power vary across ttyUSB0.dump between 36 and 55 W', () => {
    const powers = framesOf(dump('ttyUSB0.dump')).map((f) => value(parseSmlFrame(f), '1-0:15.7.0')!);
    expect(Math.min(...powers)).toBe(36);
    expect(Math.max(...powers)).toBe(55);
  });
});

describe('parseSmlFrame on damage the transport CRC does not see', () => {
  /** The file's messages changed by `edit`, wrapped again with a correct transport CRC. */
  function rewrapped(edit: (messages: Buffer) => Buffer): Buffer {
    return wrapTransport(edit(Buffer.from(unwrapTransport(captureFile(0)))));
  }

  it('rejects a changed value as FRAME_CHECKSUM (message CRC)', () => {
    const file = rewrapped((m) => {
      const at = m.indexOf(Buffer.from('650000002a', 'hex'));
      m[at + 4] = 0x2b;
      return m;
    });
    expectCode('FRAME_CHECKSUM', () => parseSmlFrame(file));
  });

  it('rejects every single-byte change of the messages, with the transport CRC fixed up, as a typed error', () => {
    const messages = unwrapTransport(captureFile(0));
    for (let pos = 0; pos < messages.length; pos++) {
      const file = rewrapped((m) => {
        m[pos]! ^= 0x10;
        return m;
      });
      let caught: unknown;
      try {
        parseSmlFrame(file);
      } catch (error) {
        caught = error;
      }
      expect(caught, `byte ${pos}`).toMatchObject({ name: 'GatewayError' });
      expect(['FRAME_CHECKSUM', 'FRAME_MALFORMED'], `byte ${pos}`).toContain(
        (caught as { code: string }).code,
      );
    }
  });

  it('rejects transport damage with the framer codes', () => {
    const file = captureFile(0);
    expectCode('FRAME_TRUNCATED', () => parseSmlFrame(file.subarray(0, 200)));
    expectCode('FRAME_TRUNCATED', () => parseSmlFrame(Buffer.concat([file.subarray(0, 200), file])));
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(file.subarray(8)));
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(Buffer.concat([file, Buffer.from([0])])));
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(Buffer.alloc(0)));
    const flipped = Buffer.from(file);
    flipped[100]! ^= 1;
    expectCode('FRAME_CHECKSUM', () => parseSmlFrame(flipped));
  });

  it('rejects a file without messages, or with a message of the wrong shape, as FRAME_MALFORMED', () => {
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(wrapTransport(Buffer.alloc(0))));
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(wrapTransport(Buffer.from('7101', 'hex'))));
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(wrapTransport(Buffer.from('6201', 'hex'))));
  });
});

/** Hand-assembled SML, hex with spaces allowed. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

/** An SML_Message with a correct crc16 around `body` (an SML_MessageBody: 72 63 tag …). */
function message(body: string): Buffer {
  const head = Buffer.concat([hex('76 0500000001 6200 6200'), hex(body)]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16BE(swapBytes16(crc16X25(head)));
  return Buffer.concat([head, hex('63'), crc, hex('00')]);
}

/** A file with one SML_GetList.Res: actSensorTime and valList entries given as hex. */
function getList(actSensorTime: string, entries: string[], serverId = '0b0a01454d480000123456'): Buffer {
  const count = (0x70 + entries.length).toString(16);
  return wrapTransport(
    message(`72 630701 77 01 ${serverId} 01 ${actSensorTime} ${count} ${entries.join(' ')} 01 01`),
  );
}

/** An SML_ListEntry: objName, valTime, unit, scaler and value as hex (01 for absent). */
function entry(obis: string, valTime: string, unit: string, scaler: string, value: string): string {
  return `77 07${obis} 01 ${valTime} ${unit} ${scaler} ${value} 01`;
}

describe('parseSmlFrame on hand-assembled messages', () => {
  it('takes absolute times (timestamp, localTimestamp) as epoch and ignores secIndex', () => {
    const ts = 1_700_000_000; // 0x6553f100
    const withTimestamp = parseSmlFrame(getList('72 6202 656553f100', []));
    expect(withTimestamp.time).toEqual({ kind: 'epoch', epochMs: ts * 1000 });
    // localTimestamp: (timestamp, localOffset +60 min, seasonTimeOffset +60 min): the instant is the timestamp.
    const withLocal = parseSmlFrame(getList('72 6203 73 656553f100 53003c 53003c', []));
    expect(withLocal.time).toEqual({ kind: 'epoch', epochMs: ts * 1000 });
    expect(parseSmlFrame(getList('72 6201 6500000010', [])).time).toBeUndefined();
    expect(parseSmlFrame(getList('01', [])).time).toBeUndefined();
  });

  it('keeps a valTime timestamp on its value', () => {
    const frame = parseSmlFrame(
      getList('01', [entry('0100010800ff', '72 6202 656553f100', '621e', '5200', '5900000000000003e8')]),
    );
    expect(frame.values).toEqual([
      { obis: '1-0:1.8.0', value: 1000, unit: 'Wh', time: { kind: 'epoch', epochMs: 1_700_000_000_000 } },
    ]);
  });

  it('maps DLMS units, scales, keeps F ≠ 255 and skips non-numeric values', () => {
    const frame = parseSmlFrame(
      getList('01', [
        entry('0100200700ff', '01', '6223', '52ff', '5300e6'), // 35 V: 230 × 10^-1
        entry('01001f0700ff', '01', '6221', '52fe', '5501020304'), // 33 A: 16909060 × 10^-2
        entry('01000e0700ff', '01', '622c', '52ff', '6301f4'), // 44 Hz: 500 × 10^-1
        entry('0100100700ff', '01', '621b', '01', '55ffffff85'), // 27 W, no scaler: -123
        entry('0100010801ff', '01', '621e', '5203', '6205'), // 30 Wh, 5 × 10^3
        entry('0100010800 01', '01', '62ff', '01', '6207'), // 255 = count, F = 1
        entry('0100600100ff', '01', '62c8', '01', '6201'), // code 200: not in the table
        entry('0100600500ff', '01', '01', '01', '4201'), // boolean: not kept
        entry('0100600101ff', '01', '01', '01', '04414243'), // text: not kept
      ]),
    );
    expect(frame.values).toEqual([
      { obis: '1-0:32.7.0', value: 23, unit: 'V' },
      { obis: '1-0:31.7.0', value: 169090.6, unit: 'A' },
      { obis: '1-0:14.7.0', value: 50, unit: 'Hz' },
      { obis: '1-0:16.7.0', value: -123, unit: 'W' },
      { obis: '1-0:1.8.1', value: 5000, unit: 'Wh' },
      { obis: '1-0:1.8.0*1', value: 7, unit: undefined },
      { obis: '1-0:96.1.0', value: 1, unit: 'dlms:200' },
    ]);
  });

  it('takes the serial from 1-0:96.1.0 (hex), else 1-0:0.0.9, else the server id', () => {
    const withSerial = parseSmlFrame(
      getList('01', [
        entry('0100000009ff', '01', '01', '01', '03aabb'),
        entry('0100600100ff', '01', '01', '01', '03ccdd'),
      ]),
    );
    expect(withSerial).toMatchObject({ identification: '0a01454d480000123456', serial: 'ccdd' });
    expect(parseSmlFrame(getList('01', [entry('0100000009ff', '01', '01', '01', '03aabb')])).serial).toBe(
      'aabb',
    );
    expect(parseSmlFrame(getList('01', [])).serial).toBe('0a01454d480000123456');
    const anonymous = parseSmlFrame(getList('01', [], '01'));
    expect(anonymous).toEqual({ values: [] });
  });

  it('rejects entries of the wrong shape as FRAME_MALFORMED', () => {
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(getList('01', ['76 01 01 01 01 01 01'])));
    // objName of 5 bytes
    expectCode('FRAME_MALFORMED', () =>
      parseSmlFrame(getList('01', ['77 060100010800 01 01 01 01 6201 01'])),
    );
    expectCode('FRAME_MALFORMED', () =>
      parseSmlFrame(getList('01', [entry('0100010800ff', '6201', '01', '01', '6201')])),
    );
    expectCode('FRAME_MALFORMED', () =>
      parseSmlFrame(getList('01', [entry('0100010800ff', '01', '0401', '01', '6201')])),
    );
    expectCode('FRAME_MALFORMED', () => parseSmlFrame(getList('72 6202 0401', [])));
  });
});
