/** Repeated identical warnings, rate-limited on a manual clock (issue #20, 8). */
import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../../gateway/observe/log-throttle.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';

describe('LogThrottle', () => {
  it('logs the first occurrence, then one line per period with the count held back', () => {
    const clock = new ManualClock(0);
    const throttle = new LogThrottle(clock, 10 * 60_000);
    const lines: [string, number][] = [];
    const hit = (key: string) => throttle.hit(key, (repeats) => lines.push([key, repeats]));

    // 569 identical warnings in ten minutes (the count), one a second.
    for (let i = 0; i < 569; i++) {
      hit('ack-not-applied:unknown');
      clock.advance(1000);
    }
    expect(lines).toEqual([['ack-not-applied:unknown', 0]]);
    clock.set(10 * 60_000);
    hit('ack-not-applied:unknown');
    expect(lines).toEqual([
      ['ack-not-applied:unknown', 0],
      ['ack-not-applied:unknown', 569],
    ]);
    // Another key is its own line at once.
    hit('ack-rejected:SIGNATURE_INVALID');
    expect(lines.at(-1)).toEqual(['ack-rejected:SIGNATURE_INVALID', 0]);
  });
});
