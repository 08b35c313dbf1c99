/**
 * Each meter's state from what its driver and the intake report: down while its link is down, stale when no
 * reading was accepted for more than N intervals (from the gateway's start for a meter never heard from, from the
 * buffer's cursor after a restart), up otherwise; refusals by code; the readings of the newest interval past the
 * aggregation grace; and meters added or removed by a new configuration.
 */
import { describe, expect, it } from 'vitest';
import type { MeterConfig } from '../../../gateway/config/schema.ts';
import { MeterStatus } from '../../../gateway/observe/meter-status.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';

const I = 15 * 60_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');

const meter = (id: string, driver: 'replay' | 'mqtt' = 'replay'): MeterConfig =>
  ({
    id,
    neighbourhood: 'nb',
    account: `A-${id}`,
    source:
      driver === 'replay' ? { driver, household: '1' } : { driver, topic: `t/${id}`, format: 'generic' },
  }) as MeterConfig;

function make(cursors: Record<string, number> = {}) {
  const clock = new ManualClock(T0);
  const status = new MeterStatus(
    { intervalMs: I, staleIntervals: 2, graceMs: 5 * 60_000, startedAt: T0, cursor: (id) => cursors[id] },
    clock,
    [meter('a'), meter('b', 'mqtt'), meter('c')],
  );
  const state = () => Object.fromEntries(status.snapshot().meters.map((m) => [m.id, m.state]));
  return { clock, status, state };
}

describe('MeterStatus', () => {
  it('tells up, stale and down apart, and counts refusals by code', () => {
    const { clock, status, state } = make();
    expect(state()).toEqual({ a: 'up', b: 'up', c: 'up' });
    clock.set(T0 + 2 * I);
    status.accepted('a', T0 + I);
    status.link('b', true);
    // Exactly N intervals without a reading is not yet stale; more is.
    expect(state()).toEqual({ a: 'up', b: 'up', c: 'up' });
    clock.set(T0 + 2 * I + 1);
    expect(state()).toEqual({ a: 'up', b: 'stale', c: 'stale' });
    status.link('b', false);
    status.rejected('b', 'PAYLOAD_MALFORMED');
    status.rejected('b', 'PAYLOAD_MALFORMED');
    status.rejected('c', 'READING_OUT_OF_BOUNDS');
    status.rejected('nobody', 'READING_UNKNOWN_METER');
    clock.set(T0 + 4 * I + 1);
    const snap = status.snapshot();
    expect(snap.counts).toEqual({ configured: 3, seen: 1, up: 0, stale: 2, down: 1 });
    expect(snap.meters).toEqual([
      {
        id: 'a',
        driver: 'replay',
        state: 'stale',
        lastIntervalEnd: '2026-03-01T00:30:00Z',
        accepted: 1,
        rejected: {},
      },
      {
        id: 'b',
        driver: 'mqtt',
        state: 'down',
        lastIntervalEnd: null,
        accepted: 0,
        rejected: { PAYLOAD_MALFORMED: 2 },
      },
      {
        id: 'c',
        driver: 'replay',
        state: 'stale',
        lastIntervalEnd: null,
        accepted: 0,
        rejected: { READING_OUT_OF_BOUNDS: 1 },
      },
    ]);
    // A late reading of an older interval does not move the newest interval end back.
    status.accepted('a', T0);
    status.link('b', true);
    status.accepted('b', T0 + 3 * I);
    expect(status.snapshot().meters.map((m) => [m.id, m.state, m.lastIntervalEnd, m.accepted])).toEqual([
      ['a', 'stale', '2026-03-01T00:30:00Z', 2],
      ['b', 'up', '2026-03-01T01:00:00Z', 1],
      ['c', 'stale', null, 0],
    ]);
  });

  it('counts the readings of the newest interval past the grace', () => {
    const { clock, status } = make();
    // At 01:10 with 5 minutes of grace, the newest decided interval is 00:45-01:00.
    clock.set(T0 + 4 * I + 10 * 60_000);
    for (const id of ['a', 'b', 'c']) status.accepted(id, T0 + 3 * I);
    status.accepted('a', T0 + 4 * I);
    status.accepted('b', T0 + 2 * I);
    expect(status.snapshot().lastInterval).toEqual({ start: T0 + 3 * I, end: T0 + 4 * I, accepted: 3 });
    clock.set(T0 + 5 * I + 5 * 60_000);
    expect(status.snapshot().lastInterval).toEqual({ start: T0 + 4 * I, end: T0 + 5 * I, accepted: 1 });
    // A reading of a long-past interval is not counted per interval (memory stays bounded).
    status.accepted('c', T0);
    clock.set(T0 + 50 * I);
    expect(status.snapshot().lastInterval.accepted).toBe(0);
  });

  it('resumes from the cursor after a restart and follows a new configuration', () => {
    const { clock, status, state } = make({ a: T0 - I });
    expect(status.snapshot().meters[0]!.lastIntervalEnd).toBe('2026-03-01T00:00:00Z');
    status.link('c', false);
    status.setMeters([meter('c'), meter('d', 'mqtt')]);
    clock.set(T0 + I);
    expect(state()).toEqual({ c: 'down', d: 'up' });
    expect(status.snapshot().counts.configured).toBe(2);
  });
});
