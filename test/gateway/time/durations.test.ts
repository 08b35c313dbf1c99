/**
 * Durations across clock steps (issue #7, 4): back-off, ages, rates and uptime run on the monotonic clock, so a
 * step of the calendar (NTP on a Pi without a real-time clock) makes none of them negative, huge or stalled.
 */
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../../gateway/customer/token-bucket.ts';
import { Health } from '../../../gateway/observe/health.ts';
import { MeterStatus } from '../../../gateway/observe/meter-status.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { HealthBody } from '../../../gateway/protocol/health-message.ts';
import { ManualClock, monotonicClock } from '../../../gateway/time/clock.ts';
import { renderPrometheus } from '../../../gateway/observe/prometheus.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';
import { parsePrometheusText, sampleOf } from '../../helpers/prometheus-text.ts';

const H = 3_600_000;
const T = Date.parse('2026-11-24T12:00:00Z');

describe('durations across clock steps', () => {
  it('the monotonic clock reads epoch milliseconds and does not follow Date.now', () => {
    const before = monotonicClock.now();
    expect(Math.abs(before - Date.now())).toBeLessThan(60_000);
    const spy = vi.spyOn(Date, 'now').mockReturnValue(0);
    try {
      expect(monotonicClock.now()).toBeGreaterThanOrEqual(before);
    } finally {
      spy.mockRestore();
    }
  });

  it('a rate limit neither owes tokens after a step back nor hoards them after a step forward', () => {
    const wall = new ManualClock(T);
    const bucket = new TokenBucket(1, 3, () => wall.now());
    for (let i = 0; i < 3; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    wall.advance(-5 * H);
    expect(bucket.take()).toBe(false);
    // One second of real time later a token is back (it would take five hours if the step were owed).
    wall.advance(1000);
    expect(bucket.take()).toBe(true);
    wall.advance(365 * 24 * H);
    for (let i = 0; i < 3; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('health: uptime and the oldest batch age run on elapsed time; `at` is the calendar; the clock state', () => {
    const metrics = new Metrics();
    const file = tempBufferFile('clock-health-');
    const buffer = openTestBuffer(97n * 97n, metrics, { file });
    const wall = new ManualClock(T);
    const elapsed = new ManualClock(T);
    const data = new ManualClock(T);
    const meters = new MeterStatus(
      { intervalMs: 30 * 60_000, staleIntervals: 3, graceMs: 0, startedAt: T, cursor: () => undefined },
      data,
      [],
    );
    const options = {
      gatewayId: 'gw-steps',
      periodSeconds: 60,
      dataDir: path.dirname(file),
      limits: { maxPendingReadings: 1000, maxOutboxRecords: 1000 },
    };
    const health = new Health(options, {
      metrics,
      meters,
      buffer,
      wall,
      elapsed,
      data,
      clock: () => ({ state: 'behind', behindSeconds: 7200 }),
    });
    buffer.outbox.add({ recordId: 'r1', kind: 'aggregate', body: '{}', createdAt: T });
    buffer.createBatch(10, elapsed.now(), () => ({ batchId: 'b1', message: '{}', bodyDigest: 'd' }));
    elapsed.advance(90_000);
    wall.set(T - 2 * H + 90_000);
    const h = HealthBody.parse(health.snapshot());
    expect(h.at).toBe('2026-11-24T10:01:30Z');
    expect(h.uptimeSeconds).toBe(90);
    expect(h.buffer.oldestUnackedBatchAgeSeconds).toBe(90);
    // The data clock's state, in the health message and on the Prometheus endpoint.
    expect(h.clock).toEqual({ state: 'behind', behindSeconds: 7200 });
    const families = parsePrometheusText(renderPrometheus(h, metrics.snapshot()));
    expect(sampleOf(families, 'meterspace_clock_state', { state: 'behind' })).toBe(1);
    expect(sampleOf(families, 'meterspace_clock_state', { state: 'ok' })).toBe(0);
    expect(sampleOf(families, 'meterspace_clock_behind_seconds')).toBe(7200);
    wall.set(T + 3 * 365 * 24 * H);
    elapsed.advance(10_000);
    expect(HealthBody.parse(health.snapshot())).toMatchObject({ uptimeSeconds: 100 });
    buffer.close();
  });
});
