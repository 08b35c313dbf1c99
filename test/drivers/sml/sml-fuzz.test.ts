/**
 * Property-based fuzzing of framer + parser as the driver chains them: random bytes, and streams stitched from
 * pieces that reach deep into the state machine (real files, damaged files, start and end sequences, 0x1b runs),
 * in random chunks. Nothing may escape the framer, its buffer must stay within maxFrameBytes after every chunk,
 * every frame it emits must carry a valid transport trailer, and the parser may only return a MeterFrame or
 * throw a GatewayError with a FRAME_ code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { parseSmlFrame } from '../../../drivers/sml/sml-parser.ts';
import { START, checkTrailer } from '../../../drivers/sml/sml-transport.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { FILE_BYTES, captureFile, runFramer } from './sml-fixtures.ts';

const FRAME_CODES = ['FRAME_CHECKSUM', 'FRAME_MALFORMED', 'FRAME_TRUNCATED', 'FRAME_TOO_LONG'];

function expectParsedOrTyped(frame: Buffer): void {
  try {
    parseSmlFrame(frame);
  } catch (error) {
    expect(isGatewayError(error), String(error)).toBe(true);
    expect(FRAME_CODES).toContain((error as { code: string }).code);
  }
}

/** Splits `bytes` at the given fractions of its length. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

const piece = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.nat(877).map((i) => captureFile(i)),
  fc.tuple(fc.nat(877), fc.nat(FILE_BYTES - 1), fc.nat(255)).map(([i, pos, mask]) => {
    const file = Buffer.from(captureFile(i));
    file[pos]! ^= mask;
    return file;
  }),
  fc.tuple(fc.nat(877), fc.nat(FILE_BYTES)).map(([i, cut]) => captureFile(i).subarray(0, cut)),
  fc.constant(START),
  fc.constant(Buffer.from('1b1b1b1b1a', 'hex')),
  fc.nat(20).map((n) => Buffer.alloc(n, 0x1b)),
  fc.constant(Buffer.from('01010101', 'hex')),
);

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('SmlFramer + parseSmlFrame under fuzzing', () => {
  it('survive random bytes in random chunks, bounded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), cuts, async (bytes, at) => {
        const run = await runFramer(split(Buffer.from(bytes), at), { maxFrameBytes: 1024 });
        expect(run.maxBuffered).toBeLessThanOrEqual(1024);
        for (const reject of run.rejects) expect(FRAME_CODES).toContain(reject.code);
        for (const frame of run.frames) expectParsedOrTyped(frame);
      }),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('survive streams stitched from real, damaged and cut files and escape sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 30 }),
        cuts,
        fc.integer({ min: 16, max: 2048 }),
        async (pieces, at, maxFrameBytes) => {
          const run = await runFramer(split(Buffer.concat(pieces), at), { maxFrameBytes });
          expect(run.maxBuffered).toBeLessThanOrEqual(maxFrameBytes);
          for (const reject of run.rejects) expect(FRAME_CODES).toContain(reject.code);
          for (const frame of run.frames) {
            expect(frame.length).toBeLessThanOrEqual(maxFrameBytes);
            expect(frame.subarray(0, 8).equals(START)).toBe(true);
            expect(() => checkTrailer(frame)).not.toThrow();
            expectParsedOrTyped(frame);
          }
        },
      ),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('let every intact file through when the pieces between them are garbage without 0x1b', async () => {
    const garbage = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b.filter((x) => x !== 0x1b)));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(garbage, fc.nat(877)), { maxLength: 10 }),
        cuts,
        async (parts, at) => {
          const bytes = Buffer.concat(parts.flatMap(([g, i]) => [g, captureFile(i)]));
          const run = await runFramer(split(bytes, at));
          expect(run.frames.map((f) => f.toString('hex'))).toEqual(
            parts.map(([, i]) => captureFile(i).toString('hex')),
          );
          expect(run.rejects.every((r) => r.code === 'FRAME_MALFORMED')).toBe(true);
        },
      ),
      { numRuns: fuzzRuns(200) },
    );
  });
});
