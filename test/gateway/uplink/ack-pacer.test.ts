/**
 * Re-sends paced by the MDMS's ack latency (issue #20, 8), on a manual clock: an MDMS that acks after 20 s, with
 * a 5 s configured first retry, made each batch go up about three times. Once one ack has shown the latency, a
 * batch is sent once and acked before its first re-send is due; the latencies outlive a restart (the buffer's
 * state), so the first batch after one is paced too.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { ACK_LATENCY_FACTOR, AckPacer, latencyMemory } from '../../../gateway/uplink/ack-pacer.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';

const S = 1000;
const T0 = Date.UTC(2026, 11, 8);

/**
 * Sends of one batch that the MDMS acks `ackAfterMs` after its first send, re-sent whenever its back-off is due:
 * the number of sends before the ack.
 */
function sendsUntilAck(pacer: AckPacer, clock: ManualClock, id: string, ackAfterMs: number): number {
  const start = clock.now();
  let sends = 0;
  let next = start;
  while (next < start + ackAfterMs) {
    clock.set(next);
    sends++;
    pacer.sent(id);
    next = clock.now() + pacer.delayMs(sends);
  }
  clock.set(start + ackAfterMs);
  pacer.acked(id);
  return sends;
}

describe('AckPacer', () => {
  // Jitter at its lowest (−20 %): the worst case for early re-sends.
  const lowJitter = () => 0;

  it('without the pacing, a 20 s ack with a 5 s first retry means three sends (the bug)', () => {
    const clock = new ManualClock(T0);
    const pacer = new AckPacer({ retryInitialMs: 5 * S, retryMaxMs: 600 * S }, clock, lowJitter);
    // The first batch: nothing learnt yet, the configured back-off alone (4 s, 8 s at −20 %).
    expect(sendsUntilAck(pacer, clock, 'b1', 20 * S)).toBe(3);
  });

  it('after one slow ack, later batches are sent once and re-sent only after factor × latency', () => {
    const clock = new ManualClock(T0);
    const pacer = new AckPacer({ retryInitialMs: 5 * S, retryMaxMs: 600 * S }, clock, lowJitter);
    sendsUntilAck(pacer, clock, 'b1', 20 * S);
    expect(pacer.latencyMs()).toBe(20 * S);
    for (const id of ['b2', 'b3', 'b4', 'b5']) expect(sendsUntilAck(pacer, clock, id, 20 * S)).toBe(1);
    expect(pacer.delayMs(1)).toBe(ACK_LATENCY_FACTOR * 20 * S);
  });

  it('follows an MDMS that becomes fast again (median of the recent acks)', () => {
    const clock = new ManualClock(T0);
    const pacer = new AckPacer({ retryInitialMs: 5 * S, retryMaxMs: 600 * S }, clock, lowJitter);
    sendsUntilAck(pacer, clock, 'slow', 20 * S);
    for (let i = 0; i < 8; i++) sendsUntilAck(pacer, clock, `fast${i}`, 200);
    expect(pacer.latencyMs()).toBe(200);
    // Back to the configured back-off (5 s − 20 %), which is longer than 3 × 0.2 s.
    expect(pacer.delayMs(1)).toBe(4 * S);
  });

  it('an ack after an outage counts as at most retryMax: the back-off stays within its bound', () => {
    const clock = new ManualClock(T0);
    const pacer = new AckPacer({ retryInitialMs: 5 * S, retryMaxMs: 60 * S }, clock, () => 0.5);
    pacer.sent('b');
    clock.advance(6 * 3600 * S);
    expect(pacer.acked('b')).toBe(60 * S);
    expect(pacer.delayMs(1)).toBe(60 * S);
    expect(pacer.delayMs(20)).toBe(60 * S);
  });

  it('an ack for a batch not sent in this run teaches nothing', () => {
    const clock = new ManualClock(T0);
    const pacer = new AckPacer({ retryInitialMs: 5 * S, retryMaxMs: 600 * S }, clock, () => 0.5);
    expect(pacer.acked('sent-before-a-restart')).toBeUndefined();
    expect(pacer.latencyMs()).toBeUndefined();
    expect(pacer.delayMs(1)).toBe(5 * S);
    expect(pacer.delayMs(3)).toBe(20 * S);
  });

  it('keeps the recent latencies in the buffer: after a restart the first batch is sent once', () => {
    const buffer = openTestBuffer(97n * 97n, new Metrics());
    try {
      const opts = { retryInitialMs: 5 * S, retryMaxMs: 600 * S };
      const clock = new ManualClock(T0);
      const before = new AckPacer(opts, clock, lowJitter, latencyMemory(buffer.state));
      sendsUntilAck(before, clock, 'b1', 20 * S);
      // The restart: a new pacer on the same buffer.
      const after = new AckPacer(opts, clock, lowJitter, latencyMemory(buffer.state));
      expect(after.latencyMs()).toBe(20 * S);
      expect(sendsUntilAck(after, clock, 'b2', 20 * S)).toBe(1);
      // Garbage in the state is no latency at all, not a crash.
      buffer.state.set('uplink.ack_latencies_ms', '{not json');
      expect(new AckPacer(opts, clock, lowJitter, latencyMemory(buffer.state)).latencyMs()).toBeUndefined();
    } finally {
      buffer.close();
    }
  });
});
