/**
 * A simulated serial line between the reader (`ModeCSession`) and a meter (`MeterResponder`) in virtual time,
 * so the two state machines talk without I/O. It models what makes mode C hard on a real port: every character
 * takes 10 bits of time at the sender's baud rate; bytes arrive only when the receiver's baud rate matched the
 * sender's for the whole transmission; a sender that changes its baud rate while still transmitting garbles the
 * rest; an optical head echoes the reader's own bytes back to it (`echo`).
 */
import type { LineAction } from '../../../drivers/iec62056-21/protocol.ts';
import { transmitMs } from '../../../drivers/iec62056-21/protocol.ts';
import type { ModeCSession, SessionAction } from '../../../drivers/iec62056-21/mode-c-session.ts';
import type { MeterResponder } from '../../../drivers/iec62056-21/meter-responder.ts';

type Who = 'reader' | 'meter';

/** Bytes per delivery. */
const CHUNK = 32;

interface Side {
  baud: number;
  /** (time, baud) of every change, to check the receiver's rate over a whole transmission. */
  history: { at: number; baud: number }[];
  txFreeAt: number;
  timerId: number;
  /** Transmissions not yet complete, which a baud change garbles. */
  sending: { end: number; garbled: boolean }[];
}

type Event =
  | {
      at: number;
      seq: number;
      kind: 'deliver';
      to: Who;
      bytes: Buffer;
      baud: number;
      start: number;
      tx: Side['sending'][number];
    }
  | { at: number; seq: number; kind: 'timer'; who: Who; id: number };

export interface WireResult {
  /** The reader's final action: done or fail; undefined when the run ended without one. */
  outcome: Extract<SessionAction, { kind: 'done' | 'fail' }> | undefined;
  /** Virtual ms of the last event. */
  elapsedMs: number;
  /** Bytes lost to a baud mismatch or a garbled transmission, per receiver. */
  lost: Record<Who, number>;
  /** Every write, in order, as "reader@300: /?!\r\n". */
  log: string[];
}

export function runWire(
  reader: ModeCSession,
  meter: MeterResponder,
  opts: { echo?: boolean; maxMs?: number } = {},
): WireResult {
  const sides: Record<Who, Side> = {
    reader: { baud: 300, history: [{ at: 0, baud: 300 }], txFreeAt: 0, timerId: 0, sending: [] },
    meter: { baud: 300, history: [{ at: 0, baud: 300 }], txFreeAt: 0, timerId: 0, sending: [] },
  };
  const queue: Event[] = [];
  const lost: Record<Who, number> = { reader: 0, meter: 0 };
  const log: string[] = [];
  let seq = 0;
  let now = 0;
  let outcome: WireResult['outcome'];

  const apply = (who: Who, actions: readonly (LineAction | SessionAction)[]) => {
    const side = sides[who];
    for (const a of actions) {
      switch (a.kind) {
        case 'setBaud':
          for (const tx of side.sending) if (tx.end > now) tx.garbled = true;
          side.baud = a.baud;
          side.history.push({ at: now, baud: a.baud });
          break;
        case 'write': {
          log.push(`${who}@${side.baud}: ${a.bytes.toString('latin1')}`);
          const other: Who = who === 'reader' ? 'meter' : 'reader';
          // A UART hands bytes over a few at a time: the receiver sees chunks, not the whole write at its end.
          for (let at = 0; at < a.bytes.length; at += CHUNK) {
            const bytes = a.bytes.subarray(at, at + CHUNK);
            const start = Math.max(now, side.txFreeAt);
            const end = start + transmitMs(bytes.length, side.baud);
            side.txFreeAt = end;
            const tx = { end, garbled: false };
            side.sending.push(tx);
            const base = { kind: 'deliver' as const, bytes, baud: side.baud, start, tx };
            queue.push({ ...base, at: end, seq: seq++, to: other });
            if (who === 'reader' && opts.echo) queue.push({ ...base, at: end, seq: seq++, to: 'reader' });
          }
          break;
        }
        case 'startTimer':
          queue.push({ at: now + a.ms, seq: seq++, kind: 'timer', who, id: ++side.timerId });
          break;
        case 'done':
        case 'fail':
          outcome = a;
          break;
      }
    }
  };

  const baudDuring = (side: Side, from: number, to: number): number | undefined => {
    let baud = side.history[0]!.baud;
    for (const h of side.history) {
      if (h.at <= from) baud = h.baud;
      else if (h.at < to) return undefined;
    }
    return baud;
  };

  apply('reader', reader.start());
  // Runs until the line is quiet, so the meter also finishes (back to 300 baud, idle) after the reader is done.
  while (queue.length > 0) {
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const event = queue.shift()!;
    if (event.at > (opts.maxMs ?? 3_600_000)) break;
    const to = event.kind === 'timer' ? event.who : event.to;
    if (to === 'reader' && outcome) continue;
    now = event.at;
    if (event.kind === 'timer') {
      if (event.id !== sides[event.who].timerId) continue;
      apply(event.who, event.who === 'reader' ? reader.timerFired() : meter.timerFired());
      continue;
    }
    const receiver = sides[event.to];
    if (event.tx.garbled || baudDuring(receiver, event.start, event.at) !== event.baud) {
      lost[event.to] += event.bytes.length;
      continue;
    }
    apply(event.to, event.to === 'reader' ? reader.receive(event.bytes) : meter.receive(event.bytes));
  }
  return { outcome, elapsedMs: now, lost, log };
}
