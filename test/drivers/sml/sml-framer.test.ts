/**
 * The framer on the real captures (every file found, in any chunking) and on damaged streams built from them:
 * bit flips, cuts, garbage, overlong frames. Each damage must cost exactly the damaged file, reported once with
 * the code its position calls for, and the next good file must come through intact.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { DEFAULT_MAX_FRAME_BYTES, SmlFramer } from '../../../drivers/sml/sml-framer.ts';
import type { ErrorCode } from '../../../gateway/errors.ts';
import { FILE_BYTES, captureFile, chunked, dump, fixture, runFramer } from './sml-fixtures.ts';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const codes = (run: { rejects: { code: ErrorCode }[] }): ErrorCode[] => run.rejects.map((r) => r.code);

describe('SmlFramer on the captures', () => {
  it('rebuilds the three captures exactly from the committed fixture', () => {
    expect(sha256(dump('ttyUSB0.dump'))).toBe(
      '24209ab936c77cddbed3d6d6305df6c297c559241b6baa380f1f29fb98f23e05',
    );
    expect(sha256(dump('ttyUSB0-3.dump'))).toBe(
      'e0ab31c00ad2c3e824ee8351d1ba2a64d47de9830c57ccd41c9671be6ce69bb9',
    );
    expect(sha256(dump('ttyUSB0-2.dump'))).toBe(
      '0f9a85bcef49b7100aab23075df55242cabfda4c39e77cdb4d3df7cebd1f4d41',
    );
    expect(dump('ttyUSB0-2.dump').equals(fixture('ttyUSB0-2.dump'))).toBe(true);
  });

  it.each([
    ['ttyUSB0.dump', 878, []],
    ['ttyUSB0-3.dump', 518, ['FRAME_TRUNCATED']],
    ['ttyUSB0-2.dump', 2, ['FRAME_TRUNCATED']],
  ] as const)(
    'finds every file of %s (%i), reporting only the cut one at its end',
    async (name, count, rejects) => {
      const bytes = dump(name);
      const run = await runFramer(chunked(bytes, 64));
      expect(run.frames).toHaveLength(count);
      expect(codes(run)).toEqual(rejects);
      // Files are back to back: frame i is exactly bytes [324 i, 324 (i + 1)).
      run.frames.forEach((frame, i) => {
        expect(frame.equals(bytes.subarray(i * FILE_BYTES, (i + 1) * FILE_BYTES))).toBe(true);
      });
    },
  );

  it('finds the same files whatever the chunking, one byte at a time included', async () => {
    const bytes = fixture('ttyUSB0-frames-0-2.dump');
    const oneByOne = await runFramer(chunked(bytes, 1));
    expect(oneByOne.frames).toHaveLength(3);
    expect(oneByOne.rejects).toEqual([]);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }),
        async (sizes) => {
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const size = sizes[i % sizes.length]!;
            chunks.push(bytes.subarray(at, at + size));
            at += size;
          }
          const run = await runFramer(chunks);
          expect(run.rejects).toEqual([]);
          expect(Buffer.concat(run.frames).equals(bytes)).toBe(true);
        },
      ),
      { numRuns: fuzzRuns(200) },
    );
  });

  it('reads a CRC ending in 0x1b right before the next start (five 0x1b in a row)', async () => {
    const bytes = fixture('ttyUSB0-frames-187-188.dump');
    expect(bytes.subarray(FILE_BYTES - 2, FILE_BYTES + 4).toString('hex')).toBe('a91b1b1b1b1b');
    const run = await runFramer(chunked(bytes, 5));
    expect(run.frames.map((f) => f.length)).toEqual([FILE_BYTES, FILE_BYTES]);
    expect(run.rejects).toEqual([]);
  });

  it('keeps the cut file at the end of ttyUSB0-3 out and reports it as truncated', async () => {
    const run = await runFramer([fixture('ttyUSB0-3-tail.dump')]);
    expect(run.frames).toHaveLength(1);
    expect(codes(run)).toEqual(['FRAME_TRUNCATED']);
  });
});

/** Files 0, 1, 2 of the capture with file 1 replaced by `middle`. */
function around(middle: Buffer): Buffer {
  return Buffer.concat([captureFile(0), middle, captureFile(2)]);
}

async function expectOnlyMiddleLost(bytes: Buffer, code: ErrorCode, label: string): Promise<void> {
  const run = await runFramer([bytes]);
  expect(codes(run), label).toEqual([code]);
  expect(run.frames, label).toHaveLength(2);
  expect(run.frames[0]!.equals(captureFile(0)), label).toBe(true);
  expect(run.frames[1]!.equals(captureFile(2)), label).toBe(true);
}

describe('SmlFramer on damaged streams', () => {
  /** The code a flipped bit at `pos` of a 324-byte file calls for. */
  function flipCode(pos: number): ErrorCode {
    if (pos < 8) return 'FRAME_MALFORMED'; // start destroyed: the file is garbage before the next start
    if (pos < FILE_BYTES - 8) return 'FRAME_CHECKSUM'; // data and padding
    if (pos < FILE_BYTES - 4) return 'FRAME_TRUNCATED'; // end escape destroyed: the next start comes first
    if (pos === FILE_BYTES - 4) return 'FRAME_MALFORMED'; // 1a → an unknown escape sequence
    return 'FRAME_CHECKSUM'; // padding count and CRC
  }

  it('rejects every single-bit flip of a file with the code for its position, and keeps its neighbours', async () => {
    const original = captureFile(1);
    for (let pos = 0; pos < FILE_BYTES; pos++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(original);
        damaged[pos]! ^= 1 << bit;
        await expectOnlyMiddleLost(around(damaged), flipCode(pos), `byte ${pos} bit ${bit}`);
      }
    }
  });

  it('rejects a file cut at any point by the next start, and keeps the next file', async () => {
    for (let cut = 1; cut < FILE_BYTES; cut++) {
      // Before its start is complete a cut file is garbage; once 1a has arrived its trailer is taken as such.
      const code = cut < 8 ? 'FRAME_MALFORMED' : cut <= FILE_BYTES - 4 ? 'FRAME_TRUNCATED' : 'FRAME_CHECKSUM';
      await expectOnlyMiddleLost(around(captureFile(1).subarray(0, cut)), code, `cut at ${cut}`);
    }
  });

  it('reports a file cut by the end of input as truncated (a partial start as garbage)', async () => {
    for (let cut = 1; cut < FILE_BYTES; cut++) {
      const run = await runFramer([Buffer.concat([captureFile(0), captureFile(1).subarray(0, cut)])]);
      expect(codes(run), `cut at ${cut}`).toEqual([cut < 8 ? 'FRAME_MALFORMED' : 'FRAME_TRUNCATED']);
      expect(run.frames, `cut at ${cut}`).toHaveLength(1);
    }
  });

  it.each([
    ['text', Buffer.from('/ISk5MT174-0001\r\n')],
    ['zeros', Buffer.alloc(100)],
    ['0x1b runs', Buffer.from('1b1b1b001b1b1b1b1b1b1b', 'hex')],
    ['a lone end sequence', Buffer.from('1b1b1b1b1a01abcd', 'hex')],
    ['an unknown escape sequence', Buffer.from('1b1b1b1b02020202', 'hex')],
    ['the tail of a file', captureFile(1).subarray(100)],
  ])(
    'reports garbage between files (%s) once as FRAME_MALFORMED and keeps both files',
    async (_what, garbage) => {
      const run = await runFramer(chunked(Buffer.concat([captureFile(0), garbage, captureFile(2)]), 7));
      expect(codes(run)).toEqual(['FRAME_MALFORMED']);
      expect(run.frames.map((f) => f.equals(captureFile(0)) || f.equals(captureFile(2)))).toEqual([
        true,
        true,
      ]);
    },
  );

  it('rejects a frame without an end within maxFrameBytes once, stays bounded and resumes', async () => {
    const start = captureFile(1).subarray(0, 200);
    const filler = Buffer.alloc(40_000, 0x42);
    const run = await runFramer(chunked(Buffer.concat([start, filler, captureFile(2)]), 1000));
    expect(codes(run)).toEqual(['FRAME_TOO_LONG']);
    expect(run.frames).toHaveLength(1);
    expect(run.maxBuffered).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
  });

  it('counts escaped data towards the limit and honours a smaller maxFrameBytes', async () => {
    const escaped = Buffer.concat([captureFile(1).subarray(0, 8), Buffer.alloc(2000, 0x1b)]);
    const run = await runFramer(chunked(Buffer.concat([escaped, captureFile(2)]), 300), {
      maxFrameBytes: 1024,
    });
    expect(codes(run)).toEqual(['FRAME_TOO_LONG']);
    expect(run.maxBuffered).toBeLessThanOrEqual(1024);
    const small = await runFramer([fixture('ttyUSB0-frames-0-2.dump')], { maxFrameBytes: 300 });
    expect(codes(small)).toEqual(['FRAME_TOO_LONG', 'FRAME_TOO_LONG', 'FRAME_TOO_LONG']);
    expect(small.frames).toEqual([]);
  });

  it('keeps working without an onReject callback and never emits an error', async () => {
    const framer = new SmlFramer();
    const errors: unknown[] = [];
    framer.on('error', (e) => errors.push(e));
    const frames: Buffer[] = [];
    framer.on('data', (f: Buffer) => frames.push(f));
    framer.end(around(Buffer.from('garbage')));
    await new Promise((resolve) => framer.on('end', resolve));
    expect(frames).toHaveLength(2);
    expect(errors).toEqual([]);
  });
});
