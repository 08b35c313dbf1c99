/**
 * Property-based: random bytes, random chunking and random damage never make the framer throw or error its
 * stream, never make it hold more than maxLength bytes, and never make the parser throw anything but a
 * FRAME_* GatewayError. Real telegrams survive any garbage put between them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { CAPTURES, capture, chunked, frame } from './dsmr-fixtures.ts';

const telegrams = CAPTURES.map((name) => frame([capture(name)]).telegrams[0]!);

/** Bytes that mean something to the framer and parser, so random input hits their edges often. */
const P1_ALPHABET = '/!\r\n()*.:-0123456789ABCDEFSWkWh';
const p1Bytes = fc
  .array(fc.constantFrom(...P1_ALPHABET), { maxLength: 400 })
  .map((chars) => Buffer.from(chars.join(''), 'latin1'));
const anyBytes = fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b));
const telegramPiece = fc
  .tuple(fc.constantFrom(...telegrams), fc.nat(), fc.nat())
  .map(([t, a, b]) => t.subarray(Math.min(a, b) % t.length, Math.max(a, b) % (t.length + 1)));
const input = fc.array(fc.oneof(anyBytes, p1Bytes, telegramPiece, fc.constantFrom(...telegrams)), {
  maxLength: 12,
});

/** The parser either returns a frame or throws a FRAME_* GatewayError. */
function parsesOrRejects(bytes: Buffer): void {
  try {
    parseTelegram(bytes, { mbus: true });
  } catch (error) {
    if (!isGatewayError(error) || !error.code.startsWith('FRAME_')) throw error;
  }
}

describe('DSMR framer and parser under random input', () => {
  it('the framer never throws or errors, holds at most maxLength, emits only "/…LF" within it', () => {
    fc.assert(
      fc.property(
        input,
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }),
        fc.integer({ min: 16, max: 2000 }),
        (parts, sizes, maxLength) => {
          const f = frame(chunked(Buffer.concat(parts), sizes), { maxLength });
          expect(f.streamErrors).toEqual([]);
          expect(f.maxBuffered).toBeLessThanOrEqual(maxLength);
          expect(f.framer.bufferedLength).toBe(0);
          for (const t of f.telegrams) {
            expect(t.length).toBeLessThanOrEqual(maxLength);
            expect(t[0]).toBe(0x2f);
            expect(t.at(-1)).toBe(0x0a);
            parsesOrRejects(t);
          }
          for (const r of f.rejects) expect(r.code).toMatch(/^FRAME_(TRUNCATED|TOO_LONG|MALFORMED)$/);
        },
      ),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('every real telegram comes out intact whatever garbage lies between them', () => {
    const garbage = fc.oneof(anyBytes, p1Bytes, telegramPiece);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(garbage, fc.constantFrom(...telegrams)), { minLength: 1, maxLength: 8 }),
        garbage,
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1 }),
        (pairs, tail, sizes) => {
          const real = pairs.map(([, t]) => t);
          const f = frame(chunked(Buffer.concat([...pairs.flat(), tail]), sizes));
          expect(f.telegrams.filter((t) => real.some((r) => r.equals(t)))).toEqual(real);
          for (const t of real) parsesOrRejects(t);
        },
      ),
      { numRuns: fuzzRuns(200) },
    );
  });

  it('damaged telegrams: the parser only ever rejects with a FRAME_* GatewayError', () => {
    const edit = fc.tuple(
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom('replace', 'insert', 'delete'),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...telegrams),
        fc.array(edit, { minLength: 1, maxLength: 6 }),
        (telegram, edits) => {
          const bytes = [...telegram];
          for (const [at, byte, kind] of edits) {
            const i = at % (bytes.length + 1);
            if (kind === 'insert') bytes.splice(i, 0, byte);
            else if (kind === 'delete') bytes.splice(i, 1);
            else if (i < bytes.length) bytes[i] = byte;
          }
          parsesOrRejects(Buffer.from(bytes));
        },
      ),
      { numRuns: fuzzRuns(1000) },
    );
  });

  it('random bytes straight into the parser: only FRAME_* rejects', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, p1Bytes), (bytes) => parsesOrRejects(bytes)),
      { numRuns: fuzzRuns(1000) },
    );
  });
});
