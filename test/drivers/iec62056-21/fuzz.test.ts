/**
 * Property-based fuzzing (fast-check): random and mutated bytes into the parser, the reader's session, the mode D
 * framer and the meter responder. Nothing throws except GatewayErrors with a FRAME_* code from the parser;
 * errors reach the session's driver only as `fail` actions; every buffer stays within its bound.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { parseReadout } from '../../../drivers/iec62056-21/data-block.ts';
import { writeDataBlock } from '../../../drivers/iec62056-21/data-writer.ts';
import { MeterResponder } from '../../../drivers/iec62056-21/meter-responder.ts';
import { ModeCSession, type SessionAction } from '../../../drivers/iec62056-21/mode-c-session.ts';
import { ModeDFramer } from '../../../drivers/iec62056-21/mode-d.ts';
import type { ObisValue } from '../../../drivers/common/meter-frame.ts';
import { isGatewayError } from '../../../gateway/errors.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/iec62056-21');
const CAPTURES = [
  'testSerialRequestResponseD0WithAck2.d0.bin',
  'testSerialRequestResponseD0-20.d0.bin',
  'testSerialRequestResponseD0ModeOverwrite.d0.bin',
  'testSerialRequestResponseD0WithAck.d0.bin',
  'testSerialResponseD0FastSend.d0.bin',
].map((name) => readFileSync(path.join(FIXTURES, name)));

const FRAME_CODES = ['FRAME_CHECKSUM', 'FRAME_MALFORMED', 'FRAME_TRUNCATED', 'FRAME_TOO_LONG'];
const RUNS = { numRuns: fuzzRuns(300) };

/** Bytes biased towards what the protocol gives meaning to, so the fuzzing gets past the first check. */
const protocolByte = fc.oneof(
  fc.constantFrom(...Buffer.from('/?!\r\n()*.:-&\\05ABCk', 'latin1'), 0x02, 0x03, 0x06),
  fc.integer({ min: 0, max: 255 }),
);
const protocolBytes = (maxLength: number) =>
  fc.oneof(
    fc.uint8Array({ maxLength }),
    fc.array(protocolByte, { maxLength }).map((a) => Uint8Array.from(a)),
  );

/** A capture with a few random edits: replaced, inserted or deleted bytes. */
const mutatedCapture = fc
  .tuple(
    fc.integer({ min: 0, max: CAPTURES.length - 1 }),
    fc.array(
      fc.tuple(fc.constantFrom('set', 'insert', 'delete'), fc.nat(), fc.integer({ min: 0, max: 255 })),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  )
  .map(([which, edits]) => {
    const bytes = [...CAPTURES[which]!];
    for (const [op, at, value] of edits) {
      const i = at % (bytes.length + 1);
      if (op === 'set' && i < bytes.length) bytes[i] = value;
      else if (op === 'insert') bytes.splice(i, 0, value);
      else bytes.splice(i, 1);
    }
    return Buffer.from(bytes);
  });

function parseOrCode(bytes: Uint8Array, expectBcc: boolean): string {
  try {
    const frame = parseReadout(bytes, { expectBcc });
    for (const v of frame.values) expect(Number.isFinite(v.value)).toBe(true);
    return 'ok';
  } catch (error) {
    if (!isGatewayError(error)) throw error;
    return error.code;
  }
}

describe('parseReadout under fuzzing', () => {
  it('random bytes: a frame or a FRAME_* GatewayError, nothing else', () => {
    fc.assert(
      fc.property(protocolBytes(400), fc.boolean(), (bytes, expectBcc) => {
        expect([...FRAME_CODES, 'ok']).toContain(parseOrCode(bytes, expectBcc));
      }),
      RUNS,
    );
  });

  it('mutated captures: the same', () => {
    fc.assert(
      fc.property(mutatedCapture, fc.boolean(), (bytes, expectBcc) => {
        expect([...FRAME_CODES, 'ok']).toContain(parseOrCode(bytes, expectBcc));
      }),
      RUNS,
    );
  });
});

type Event = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'timer' };
const events = (bytes: fc.Arbitrary<Uint8Array>) =>
  fc.array(
    fc.oneof(
      { weight: 4, arbitrary: bytes.map((b): Event => ({ kind: 'bytes', bytes: b })) },
      { weight: 1, arbitrary: fc.constant<Event>({ kind: 'timer' }) },
    ),
    { maxLength: 30 },
  );

const KNOWN = ['write', 'setBaud', 'startTimer', 'done', 'fail'];

describe('ModeCSession under fuzzing', () => {
  const checkSession = (prefix: Uint8Array, list: Event[], expectBcc: boolean) => {
    const maxFrameBytes = 512;
    const session = new ModeCSession({ expectBcc, maxFrameBytes });
    const actions: SessionAction[] = [...session.start()];
    const all: Event[] = [{ kind: 'bytes', bytes: prefix }, ...list];
    for (const event of all) {
      actions.push(...(event.kind === 'timer' ? session.timerFired() : session.receive(event.bytes)));
      expect(session.bufferedBytes).toBeLessThanOrEqual(maxFrameBytes);
    }
    for (const a of actions) expect(KNOWN).toContain(a.kind);
    const ends = actions.flatMap((a, i) => (a.kind === 'done' || a.kind === 'fail' ? [i] : []));
    expect(ends.length).toBeLessThanOrEqual(1);
    if (ends.length === 1) expect(ends[0]).toBe(actions.length - 1);
    for (const a of actions)
      if (a.kind === 'fail') expect([...FRAME_CODES, 'DEVICE_TIMEOUT']).toContain(a.code);
  };

  it('random bytes and timers never throw; errors come out as fail actions; buffers stay bounded', () => {
    fc.assert(
      fc.property(events(protocolBytes(120)), fc.boolean(), (list, expectBcc) => {
        checkSession(new Uint8Array(), list, expectBcc);
      }),
      RUNS,
    );
  });

  it('the same after a valid identification (the data phase)', () => {
    const ident = Buffer.from('/ISk5MT174\r\n\x06050\r\n\x02', 'latin1');
    fc.assert(
      fc.property(events(protocolBytes(120)), fc.boolean(), (list, expectBcc) => {
        checkSession(ident, list, expectBcc);
      }),
      RUNS,
    );
  });

  it('mutated captures in random chunks', () => {
    fc.assert(
      fc.property(
        mutatedCapture,
        fc.integer({ min: 1, max: 200 }),
        fc.boolean(),
        (bytes, size, expectBcc) => {
          const list: Event[] = [];
          for (let at = 0; at < bytes.length; at += size)
            list.push({ kind: 'bytes', bytes: bytes.subarray(at, at + size) });
          list.push({ kind: 'timer' }, { kind: 'timer' }, { kind: 'timer' });
          checkSession(new Uint8Array(), list, expectBcc);
        },
      ),
      { numRuns: fuzzRuns(150) },
    );
  });
});

describe('ModeDFramer and MeterResponder under fuzzing', () => {
  it('the framer never throws, reports only FRAME_* codes and stays bounded', () => {
    fc.assert(
      fc.property(fc.array(protocolBytes(200), { maxLength: 20 }), fc.boolean(), (chunks, expectBcc) => {
        const codes: string[] = [];
        const framer = new ModeDFramer({
          expectBcc,
          maxFrameBytes: 256,
          onReject: (e) => codes.push(e.code),
        });
        for (const chunk of chunks) {
          framer.write(Buffer.from(chunk));
          expect(framer.bufferedBytes).toBeLessThanOrEqual(256);
        }
        framer.end();
        for (const c of codes) expect(FRAME_CODES).toContain(c);
      }),
      RUNS,
    );
  });

  it('the responder never throws and keeps only a request-sized buffer', () => {
    fc.assert(
      fc.property(events(protocolBytes(80)), (list) => {
        const meter = new MeterResponder({
          identification: { manufacturer: 'ABC', baudChar: '5', ident: 'x' },
          readout: () => writeDataBlock([]),
        });
        meter.receive(Buffer.from('/?!\r\n'));
        for (const event of list) {
          const actions = event.kind === 'timer' ? meter.timerFired() : meter.receive(event.bytes);
          for (const a of actions) expect(['write', 'setBaud', 'startTimer']).toContain(a.kind);
          expect(meter.bufferedBytes).toBeLessThanOrEqual(37);
        }
      }),
      RUNS,
    );
  });
});

describe('writeDataBlock ↔ parseReadout', () => {
  const group = (min: number, max: number) => fc.integer({ min, max });
  const obis = fc
    .tuple(group(0, 255), group(0, 255), group(1, 95), group(0, 255), group(0, 255), fc.option(group(0, 254)))
    .map(([a, b, c, d, e, f]) => `${a}-${b}:${c}.${d}.${e}${f === null ? '' : `*${f}`}`);
  const value: fc.Arbitrary<ObisValue> = fc.record({
    obis,
    value: fc.integer({ min: -1e9, max: 1e12 }).map((n) => (n === 0 ? 0 : n / 1000)),
    unit: fc.option(fc.constantFrom('kWh', 'Wh', 'kW', 'W', 'V', 'A', 'm3', 'kvarh'), { nil: undefined }),
  });

  it('every written block parses back to its values', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 40 }), (values) => {
        const bytes = Buffer.concat([Buffer.from('/ABC5meter\r\n'), writeDataBlock(values)]);
        expect(parseReadout(bytes, { expectBcc: true }).values).toEqual(values);
      }),
      RUNS,
    );
  });
});
