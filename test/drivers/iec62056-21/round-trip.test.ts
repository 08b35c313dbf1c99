/**
 * Reader and meter emulator talking over a simulated line (`wire.ts`) in virtual time: character timing, baud
 * rates that must match, the optical head's echo. The emulated meter serves the registers of the real Iskra
 * MT174 capture.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseReadout } from '../../../drivers/iec62056-21/data-block.ts';
import { writeDataBlock, writeModeDPush } from '../../../drivers/iec62056-21/data-writer.ts';
import type { IdentificationFields } from '../../../drivers/iec62056-21/identification.ts';
import { MeterResponder } from '../../../drivers/iec62056-21/meter-responder.ts';
import { ModeCSession } from '../../../drivers/iec62056-21/mode-c-session.ts';
import { transmitMs } from '../../../drivers/iec62056-21/protocol.ts';
import { runWire } from './wire.ts';

const ISKRA = readFileSync(
  path.resolve(import.meta.dirname, '../../fixtures/iec62056-21/testSerialRequestResponseD0WithAck2.d0.bin'),
);
const captured = parseReadout(ISKRA, { expectBcc: true });
const extras = {
  serial: captured.serial!,
  time: captured.time?.kind === 'local' ? captured.time.local : undefined,
};

function meter(identification: IdentificationFields, more: { address?: string; reactionMs?: number } = {}) {
  let readouts = 0;
  const responder = new MeterResponder({
    identification,
    ...more,
    readout: () => {
      readouts++;
      return writeDataBlock(captured.values, extras);
    },
  });
  return { responder, readouts: () => readouts };
}

const ISK = { manufacturer: 'ISk', baudChar: '5', ident: 'MT174-0001' };

describe('ModeCSession ↔ MeterResponder', () => {
  it('reads the emulated MT174: the frame carries the captured registers, serial and clock', () => {
    const m = meter(ISK);
    const result = runWire(new ModeCSession(), m.responder, { echo: true });
    expect(result.outcome).toMatchObject({
      kind: 'done',
      frame: { ...captured, identification: '/ISk5MT174-0001' },
    });
    expect(result.log.map((l) => l.split(': ')[0])).toEqual([
      'reader@300',
      'meter@300',
      'reader@300',
      'meter@9600',
    ]);
    expect(result.log.slice(0, 3)).toEqual([
      'reader@300: /?!\r\n',
      'meter@300: /ISk5MT174-0001\r\n',
      'reader@300: \x06050\r\n',
    ]);
    expect(result.lost).toEqual({ reader: 0, meter: 0 });
    // The meter went back to 300 baud and idle after its data message.
    expect(m.responder.state).toBe('idle');
    expect(m.readouts()).toBe(1);
  });

  it('a fast meter (tr 20 ms) is read with the default switch delay, lost with a late one', () => {
    const ok = runWire(new ModeCSession(), meter(ISK, { reactionMs: 20 }).responder);
    expect(ok.outcome?.kind).toBe('done');
    const late = runWire(
      new ModeCSession({ baudSwitchDelayMs: 400 }),
      meter(ISK, { reactionMs: 20 }).responder,
    );
    expect(late.outcome).toMatchObject({ kind: 'fail', code: 'DEVICE_TIMEOUT' });
    expect(late.lost.reader).toBeGreaterThan(0); // the STX and the first lines went by at the wrong rate
  });

  it('switching before the option select has left the port garbles it: the meter never answers', () => {
    const early = runWire(new ModeCSession({ baudSwitchDelayMs: 100 }), meter(ISK).responder);
    expect(early.outcome).toMatchObject({ kind: 'fail', code: 'DEVICE_TIMEOUT' });
    expect(early.lost.meter).toBe(6);
  });

  it('follows every mode C rate, capped by maxBaud', () => {
    for (const [baudChar, maxBaud, baud] of [
      ['6', 19200, 19200],
      ['6', 9600, 9600],
      ['3', 19200, 2400],
      ['0', 19200, 300],
    ] as const) {
      const result = runWire(
        new ModeCSession({ maxBaud }),
        meter({ manufacturer: 'ABC', baudChar, ident: 'x' }).responder,
      );
      expect(result.outcome?.kind, `${baudChar} ${maxBaud}`).toBe('done');
      expect(result.log[3]).toMatch(new RegExp(`^meter@${baud}: `));
    }
  });

  it('reads mode B and mode A meters', () => {
    const b = runWire(
      new ModeCSession(),
      meter({ manufacturer: 'ABC', baudChar: 'E', ident: 'B' }).responder,
    );
    expect(b.outcome?.kind).toBe('done');
    expect(b.log.map((l) => l.split(':')[0])).toEqual(['reader@300', 'meter@300', 'meter@9600']);
    const a = runWire(
      new ModeCSession(),
      meter({ manufacturer: 'ABC', baudChar: 'Z', ident: 'A' }).responder,
    );
    expect(a.outcome?.kind).toBe('done');
    const block = writeDataBlock(captured.values, extras);
    expect(a.elapsedMs).toBeGreaterThan(transmitMs(block.length, 300)); // all of it at 300 baud: 3 minutes
  });

  it('an addressed meter answers its address and the empty one, and keeps quiet for others', () => {
    const mine = { address: '63355730' };
    expect(runWire(new ModeCSession(mine), meter(ISK, mine).responder).outcome?.kind).toBe('done');
    expect(runWire(new ModeCSession(), meter(ISK, mine).responder).outcome?.kind).toBe('done');
    const other = runWire(new ModeCSession({ address: '1' }), meter(ISK, mine).responder);
    expect(other.outcome).toMatchObject({ kind: 'fail', code: 'DEVICE_TIMEOUT' });
  });

  it('serves one readout after another', () => {
    const m = meter(ISK);
    for (let i = 0; i < 3; i++) expect(runWire(new ModeCSession(), m.responder).outcome?.kind).toBe('done');
    expect(m.readouts()).toBe(3);
  });

  it('ignores option selects it cannot serve (programming mode) and returns to idle', () => {
    const m = meter(ISK);
    m.responder.receive(Buffer.from('/?!\r\n'));
    m.responder.timerFired();
    expect(m.responder.state).toBe('awaitingOption');
    expect(m.responder.receive(Buffer.from('\x06051\r\n', 'latin1'))).toEqual([]);
    expect(m.responder.state).toBe('idle');
  });
});

describe('writeModeDPush', () => {
  it('writes a push that parses back to the same values', () => {
    const push = writeModeDPush(
      { manufacturer: 'EMH', baudChar: '3', ident: 'eHZ' },
      captured.values,
      extras,
    );
    expect(push.subarray(0, 9).toString('latin1')).toBe('/EMH3eHZ\r');
    expect(parseReadout(push, { expectBcc: false })).toEqual({ ...captured, identification: '/EMH3eHZ' });
  });
});
