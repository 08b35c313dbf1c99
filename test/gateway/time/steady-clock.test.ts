/**
 * Clock steps (issue #7, 4): the data clock never reads earlier than it has read or than a plausible time, and
 * says so once per episode (log, counter, status).
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import {
  EARLIEST_PLAUSIBLE,
  SteadyClock,
  type SteadyClockFloor,
} from '../../../gateway/time/steady-clock.ts';
import { captureLog } from '../../drivers/modbus/capture-log.ts';

const H = 3_600_000;
const T = Date.parse('2026-11-24T12:00:00Z');

function steady(
  source: ManualClock,
  floor: SteadyClockFloor = { notBefore: EARLIEST_PLAUSIBLE, resumeAt: undefined },
) {
  const metrics = new Metrics();
  const captured = captureLog();
  const find = (prefix: string) => captured.find(prefix);
  return { clock: new SteadyClock(source, floor, metrics, captured.log), metrics, find };
}

describe('the steady data clock', () => {
  it('follows its source forwards, by any step', () => {
    const source = new ManualClock(T);
    const { clock, metrics } = steady(source);
    expect(clock.now()).toBe(T);
    source.advance(1000);
    expect(clock.now()).toBe(T + 1000);
    source.advance(400 * 24 * H);
    expect(clock.now()).toBe(T + 1000 + 400 * 24 * H);
    expect(clock.status()).toEqual({ state: 'ok', behindSeconds: 0 });
    expect(metrics.snapshot()).toEqual({});
  });

  it('stands still while its source is stepped back, and says so once', () => {
    const source = new ManualClock(T);
    const { clock, metrics, find } = steady(source);
    clock.now();
    source.set(T - 2 * H);
    expect(clock.now()).toBe(T);
    source.advance(H);
    expect(clock.now()).toBe(T);
    expect(clock.highWater).toBe(T);
    expect(clock.status()).toEqual({ state: 'behind', behindSeconds: 3600 });
    expect(metrics.get('clock.held.behind')).toBe(1);
    const held = find('the clock went back');
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ level: 40, behindSeconds: 7200, holdsAt: '2026-11-24T12:00:00Z' });
    // It runs again from the moment its source passes the mark: no instant is read twice, none skipped.
    source.set(T + 1);
    expect(clock.now()).toBe(T + 1);
    expect(clock.status()).toEqual({ state: 'ok', behindSeconds: 0 });
    expect(find('the clock has caught up')).toHaveLength(1);
    // A second step back is a second episode.
    source.set(T - 60_000);
    expect(clock.now()).toBe(T + 1);
    expect(metrics.get('clock.held.behind')).toBe(2);
  });

  it('holds a clock not set yet (1970) at the earliest plausible time, or where the last run stopped', () => {
    const source = new ManualClock(0);
    const fresh = steady(source);
    expect(fresh.clock.now()).toBe(EARLIEST_PLAUSIBLE);
    expect(fresh.clock.status().state).toBe('unset');
    expect(fresh.metrics.get('clock.held.unset')).toBe(1);
    expect(fresh.find('the system clock has not been set')).toHaveLength(1);

    const resumed = steady(source, { notBefore: EARLIEST_PLAUSIBLE, resumeAt: T });
    expect(resumed.clock.now()).toBe(T);
    expect(resumed.clock.status()).toMatchObject({ state: 'unset' });
    // fake-hwclock: set, but an hour behind where the gateway stopped.
    source.set(T - H);
    expect(resumed.clock.now()).toBe(T);
    expect(resumed.clock.status()).toEqual({ state: 'unset', behindSeconds: 3600 });
    source.set(T + H);
    expect(resumed.clock.now()).toBe(T + H);
    expect(resumed.clock.status().state).toBe('ok');
  });
});
