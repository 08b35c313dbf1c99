/**
 * The reader's mode C state machine fed the real dialogues (meter-to-reader bytes, echoes included) in random
 * chunkings, its timeouts, and its bounds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { parseReadout } from '../../../drivers/iec62056-21/data-block.ts';
import { ModeCSession, type SessionAction } from '../../../drivers/iec62056-21/mode-c-session.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/iec62056-21');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));
const ISKRA = fixture('testSerialRequestResponseD0WithAck2.d0.bin');
const SIEMENS_BCC = fixture('testSerialRequestResponseD0-20.d0.bin');
const SIEMENS_PLAIN = fixture('testSerialRequestResponseD0WithAck.d0.bin');
const ITRON = fixture('testSerialRequestResponseD0ModeOverwrite.d0.bin');

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

interface Run {
  actions: SessionAction[];
  end: Extract<SessionAction, { kind: 'done' | 'fail' }> | undefined;
  writes: string[];
}

/**
 * Feeds `stream` in chunks of the given sizes (cycled). The switch timer fires after the chunk where `fireAt`
 * says so (the 300 ms between the option select and the data message happen somewhere in the stream); the
 * response timer fires once the stream is exhausted, as silence would.
 */
function replay(
  session: ModeCSession,
  stream: Buffer,
  sizes: number[] = [stream.length],
  fireAt: boolean[] = [],
): Run {
  const actions: SessionAction[] = [...session.start()];
  let pos = 0;
  for (let k = 0; pos < stream.length && !session.state.match(/done|failed/); k++) {
    const n = sizes[k % sizes.length]!;
    actions.push(...session.receive(stream.subarray(pos, pos + n)));
    pos += n;
    if (session.state === 'switching' && (fireAt[k % Math.max(fireAt.length, 1)] ?? true)) {
      actions.push(...session.timerFired());
    }
  }
  for (let i = 0; i < 3 && !session.state.match(/done|failed/); i++) actions.push(...session.timerFired());
  const end = actions.find((a): a is NonNullable<Run['end']> => a.kind === 'done' || a.kind === 'fail');
  const writes = actions.flatMap((a) => (a.kind === 'write' ? [text(a.bytes)] : []));
  return { actions, end, writes };
}

const code = (run: Run) => (run.end?.kind === 'fail' ? run.end.code : run.end?.kind);

describe('ModeCSession on the Iskra MT174 dialogue', () => {
  const expected = parseReadout(ISKRA, { expectBcc: true });

  it('runs the exchange step by step: request at 300, ACK 050, switch to 9600 after 210 ms, done', () => {
    const session = new ModeCSession();
    expect(session.start()).toEqual([
      { kind: 'setBaud', baud: 300 },
      { kind: 'write', bytes: Buffer.from('/?!\r\n') },
      // 5 characters of request at 300 baud + tr max 1500 + the longest identification (41 characters).
      { kind: 'startTimer', ms: 3034 },
    ]);
    const identEnd = ISKRA.indexOf('\r\n') + 2;
    // "ISk": lower-case third letter, tr ≥ 20 ms: switch 200 ms (ACK on the line) + 10 ms after the write.
    expect(session.receive(ISKRA.subarray(0, identEnd))).toEqual([
      { kind: 'write', bytes: Buffer.from('\x06050\r\n', 'latin1') },
      { kind: 'startTimer', ms: 210 },
    ]);
    expect(session.state).toBe('switching');
    expect(session.timerFired()).toEqual([
      { kind: 'setBaud', baud: 9600 },
      { kind: 'startTimer', ms: 2000 },
    ]);
    const last = session.receive(ISKRA.subarray(identEnd));
    expect(last).toEqual([
      {
        kind: 'done',
        frame: expected,
        identification: expect.objectContaining({ manufacturer: 'ISk', baud: 9600 }) as unknown,
      },
    ]);
    expect(session.state).toBe('done');
    expect(session.bufferedBytes).toBe(0);
    expect(session.receive(Buffer.from('more'))).toEqual([]);
    expect(session.timerFired()).toEqual([]);
  });

  it('ends with the same frame however the bytes are chunked and wherever the switch happens', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.boolean(), { maxLength: 8 }),
        (sizes, fireAt) => {
          const run = replay(new ModeCSession(), ISKRA, sizes, fireAt);
          expect(run.end).toMatchObject({ kind: 'done', frame: expected });
          expect(run.writes).toEqual(['/?!\r\n', '\x06050\r\n']);
        },
      ),
      { numRuns: fuzzRuns(150) },
    );
  });

  it('byte by byte, too', () => {
    expect(replay(new ModeCSession(), ISKRA, [1]).end).toMatchObject({ kind: 'done', frame: expected });
  });

  it('selects a lower rate when capped, and writes the device address', () => {
    // The identification (17 bytes) first, so the switch happens before the data message arrives.
    const run = replay(new ModeCSession({ maxBaud: 2400, address: '63355730' }), ISKRA, [17, ISKRA.length]);
    expect(run.writes).toEqual(['/?63355730!\r\n', '\x06030\r\n']);
    expect(run.actions).toContainEqual({ kind: 'setBaud', baud: 2400 });
    expect(code(run)).toBe('done');
    expectCode('CONFIG_INVALID', () => new ModeCSession({ address: 'a!b' }));
  });

  it('a cut dialogue times out: DEVICE_TIMEOUT before STX, FRAME_TRUNCATED after', () => {
    const stx = ISKRA.indexOf(0x02);
    for (let n = 0; n < ISKRA.length; n += 37) {
      const run = replay(new ModeCSession(), ISKRA.subarray(0, n), [64]);
      expect(code(run), `cut at ${n}`).toBe(n <= stx ? 'DEVICE_TIMEOUT' : 'FRAME_TRUNCATED');
    }
  });
});

describe('ModeCSession on the other captures', () => {
  it('Siemens 2WR5 "/SIEC2WR5" is mode B: no ACK, 2400 baud at once, then its bad BCC fails', () => {
    const session = new ModeCSession();
    session.start();
    const identEnd = SIEMENS_BCC.indexOf('\r\n') + 2;
    expect(session.receive(SIEMENS_BCC.subarray(0, identEnd))).toEqual([
      { kind: 'setBaud', baud: 2400 },
      { kind: 'startTimer', ms: 2000 },
    ]);
    expect(session.receive(SIEMENS_BCC.subarray(identEnd))).toEqual([
      { kind: 'fail', code: 'FRAME_CHECKSUM', reason: 'data message BCC mismatch' },
    ]);
  });

  it('Itron EM214 without ETX/BCC: done when told, FRAME_TRUNCATED when a BCC is expected', () => {
    const lenient = replay(new ModeCSession({ expectBcc: false }), ITRON, [7]);
    expect(lenient.end).toMatchObject({ kind: 'done', frame: parseReadout(ITRON, { expectBcc: false }) });
    expect(lenient.writes).toEqual(['/?!\r\n', '\x06050\r\n']);
    expect(code(replay(new ModeCSession(), ITRON, [7]))).toBe('FRAME_TRUNCATED');
  });

  it('Siemens 2WR5 "/SIE32WR5" without STX: ACK 030 as in the original test; no STX ever is DEVICE_TIMEOUT', () => {
    const lenient = replay(new ModeCSession({ expectBcc: false }), SIEMENS_PLAIN, [50]);
    expect(lenient.writes).toEqual(['/?!\r\n', '\x06030\r\n']);
    expect(lenient.end).toMatchObject({
      kind: 'done',
      frame: parseReadout(SIEMENS_PLAIN, { expectBcc: false }),
    });
    expect(code(replay(new ModeCSession(), SIEMENS_PLAIN, [50]))).toBe('DEVICE_TIMEOUT');
  });
});

describe('ModeCSession timeouts and bounds', () => {
  it('no identification: DEVICE_TIMEOUT', () => {
    const session = new ModeCSession();
    session.start();
    expect(session.timerFired()).toEqual([
      { kind: 'fail', code: 'DEVICE_TIMEOUT', reason: 'no identification after the request' },
    ]);
  });

  it('identification but no data message: DEVICE_TIMEOUT after the switch', () => {
    const session = new ModeCSession({ responseTimeoutMs: 1234 });
    session.start();
    session.receive(Buffer.from('/ABC5meter\r\n'));
    expect(session.timerFired()).toEqual([
      { kind: 'setBaud', baud: 9600 },
      { kind: 'startTimer', ms: 1234 },
    ]);
    expect(session.timerFired()).toMatchObject([{ kind: 'fail', code: 'DEVICE_TIMEOUT' }]);
  });

  it('every chunk of the data message restarts the response timer', () => {
    const session = new ModeCSession();
    session.start();
    session.receive(Buffer.from('/ABC5meter\r\n'));
    session.timerFired();
    expect(session.receive(Buffer.from('\x021.8.0('))).toEqual([{ kind: 'startTimer', ms: 2000 }]);
    expect(session.receive(Buffer.from('1*kWh)\r\n'))).toEqual([{ kind: 'startTimer', ms: 2000 }]);
  });

  it('skips noise and the request echo before the identification', () => {
    const run = replay(
      new ModeCSession(),
      Buffer.concat([Buffer.from('\x00\xff~/?!\r\n', 'latin1'), ISKRA]),
      [3],
    );
    expect(code(run)).toBe('done');
  });

  it('a bad or endless identification fails at once', () => {
    const bad = new ModeCSession();
    bad.start();
    expect(bad.receive(Buffer.from('/12\r\n'))).toMatchObject([{ kind: 'fail', code: 'FRAME_MALFORMED' }]);
    const endless = new ModeCSession();
    endless.start();
    expect(endless.receive(Buffer.from(`/ABC5${'x'.repeat(100)}`))).toMatchObject([
      { kind: 'fail', code: 'FRAME_TOO_LONG' },
    ]);
    expect(endless.bufferedBytes).toBe(0);
    const reserved = new ModeCSession();
    reserved.start();
    expect(reserved.receive(Buffer.from('/ABCGmeter\r\n'))).toMatchObject([
      { kind: 'fail', code: 'FRAME_MALFORMED' },
    ]);
  });

  it('a data message longer than maxFrameBytes is FRAME_TOO_LONG', () => {
    const run = replay(new ModeCSession({ maxFrameBytes: 4096 }), ISKRA, [100]);
    expect(code(run)).toBe('FRAME_TOO_LONG');
  });

  it('mode A stays at 300 baud and reads without an option select', () => {
    const run = replay(new ModeCSession(), Buffer.from('/ABCZmeter\r\n\x021.8.0(1)\r\n!\r\n\x03\x00'));
    // BCC of "1.8.0(1)\r\n!\r\n\x03" computed by hand is 0x2b; 0x00 is wrong.
    expect(code(run)).toBe('FRAME_CHECKSUM');
    expect(run.writes).toEqual(['/?!\r\n']);
    expect(run.actions.filter((a) => a.kind === 'setBaud')).toEqual([{ kind: 'setBaud', baud: 300 }]);
  });
});
