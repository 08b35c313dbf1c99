/**
 * The mode D framer and push protocol on the EMH eHZ capture (two consecutive pushes) in random chunkings, and
 * on damaged streams.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { writeDataBlock } from '../../../drivers/iec62056-21/data-writer.ts';
import { ModeDFramer, modeDProtocol } from '../../../drivers/iec62056-21/mode-d.ts';
import type { GatewayError } from '../../../gateway/errors.ts';

const EMH = readFileSync(
  path.resolve(import.meta.dirname, '../../fixtures/iec62056-21/testSerialResponseD0FastSend.d0.bin'),
);
const SECOND = EMH.indexOf('/', 1);
const TELEGRAMS = [EMH.subarray(0, SECOND), EMH.subarray(SECOND)];

/** Runs bytes through a framer in chunks of the given sizes (cycled); returns frames and reject codes. */
function frame(
  stream: Buffer,
  sizes: number[] = [stream.length],
  opts: { expectBcc?: boolean; maxFrameBytes?: number } = {},
) {
  const rejects: string[] = [];
  const framer = new ModeDFramer({ ...opts, onReject: (e: GatewayError) => rejects.push(e.code) });
  const frames: Buffer[] = [];
  framer.on('data', (f: Buffer) => frames.push(f));
  let maxBuffered = 0;
  for (let at = 0, k = 0; at < stream.length; k++) {
    const n = sizes[k % sizes.length]!;
    framer.write(stream.subarray(at, at + n));
    maxBuffered = Math.max(maxBuffered, framer.bufferedBytes);
    at += n;
  }
  framer.end();
  return { frames, rejects, maxBuffered };
}

describe('ModeDFramer on the EMH eHZ pushes', () => {
  it('cuts the two telegrams, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }), (sizes) => {
        const result = frame(EMH, sizes);
        expect(result.frames).toEqual(TELEGRAMS);
        expect(result.rejects).toEqual([]);
      }),
      { numRuns: fuzzRuns(100) },
    );
  });

  it('parses each with the push protocol: 2400 baud 7E1, no BCC', () => {
    const protocol = modeDProtocol();
    expect(protocol.line).toEqual({ baudRate: 2400, dataBits: 7, parity: 'even', stopBits: 1 });
    expect(TELEGRAMS.map((t) => protocol.parse(t).values[0]?.value)).toEqual([32942.0231, 32942.0234]);
  });

  it('reports noise between telegrams once, and not blank lines', () => {
    const noisy = Buffer.concat([
      Buffer.from('xx\r\n'),
      TELEGRAMS[0]!,
      Buffer.from('\r\n\r\n'),
      TELEGRAMS[1]!,
      Buffer.from('zz'),
    ]);
    const result = frame(noisy, [5]);
    expect(result.frames).toEqual(TELEGRAMS);
    expect(result.rejects).toEqual(['FRAME_MALFORMED', 'FRAME_MALFORMED']);
  });

  it('a telegram cut by the next one, or by the end of input, is FRAME_TRUNCATED', () => {
    const cut = Buffer.concat([TELEGRAMS[0]!.subarray(0, 60), TELEGRAMS[1]!, TELEGRAMS[0]!.subarray(0, 30)]);
    const result = frame(cut, [7]);
    expect(result.frames).toEqual([TELEGRAMS[1]]);
    expect(result.rejects).toEqual(['FRAME_TRUNCATED', 'FRAME_TRUNCATED']);
  });

  it('a telegram without end is FRAME_TOO_LONG, the buffer stays bounded, the next telegram is found', () => {
    const endless = Buffer.concat([Buffer.from('/ABC5x\r\n'), Buffer.alloc(5000, 0x31), EMH]);
    const result = frame(endless, [100], { maxFrameBytes: 1024 });
    expect(result.rejects).toEqual(['FRAME_TOO_LONG']);
    expect(result.frames).toEqual(TELEGRAMS);
    expect(result.maxBuffered).toBeLessThanOrEqual(1024);
  });

  it('with expectBcc, a telegram ends one byte after ETX, whatever that byte is', () => {
    // 6 Wh gives the BCC "/", which would start a telegram anywhere else.
    const values = [{ obis: '1-0:1.8.0', value: 6, unit: 'Wh' }];
    expect(writeDataBlock(values).at(-1)).toBe(0x2f);
    const push = Buffer.concat([Buffer.from('/ABC5x\r\n'), writeDataBlock(values)]);
    const twice = Buffer.concat([push, push]);
    expect(frame(twice, [3], { expectBcc: true }).frames).toEqual([push, push]);
    const protocol = modeDProtocol({ expectBcc: true });
    expect(protocol.parse(push).values).toEqual(values);
  });
});
