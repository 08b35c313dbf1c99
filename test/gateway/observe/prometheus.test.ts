/**
 * The health of real parts (a SQLite buffer with an unacknowledged batch, counters, meter status) is a valid v1
 * health body, and its Prometheus rendering passes a strict reader of the text format and shows the same figures:
 * every family with HELP and TYPE, counters ending in `_total`, labels escaped, every other counter kept.
 */
import { describe, expect, it } from 'vitest';
import { Health } from '../../../gateway/observe/health.ts';
import type { MeterConfig } from '../../../gateway/config/schema.ts';
import { MeterStatus } from '../../../gateway/observe/meter-status.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { renderPrometheus } from '../../../gateway/observe/prometheus.ts';
import { HealthBody } from '../../../gateway/protocol/health-message.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';
import { parsePrometheusText, sampleOf } from '../../helpers/prometheus-text.ts';
import path from 'node:path';

const I = 30 * 60_000;
const T0 = Date.parse('2012-10-10T00:00:00Z');
const WALL = Date.parse('2026-11-24T12:00:00Z');
const WEIRD = 'odd.name"with\\backslash\nand line feed';

function parts(limits = { maxPendingReadings: 1000, maxOutboxRecords: 1000 }) {
  const metrics = new Metrics();
  const file = tempBufferFile('health-');
  const buffer = openTestBuffer(97n * 97n, metrics, { file });
  const wall = new ManualClock(WALL);
  const data = new ManualClock(T0 + 4 * I);
  const meters = ['m1', 'm2'].map((id): MeterConfig => ({
    id,
    neighbourhood: 'n',
    account: `A-${id}`,
    source: { driver: 'serial', port: 'p1' },
  }));
  const status = new MeterStatus(
    { intervalMs: I, staleIntervals: 3, graceMs: 0, startedAt: T0, cursor: () => undefined },
    data,
    meters,
  );
  const health = new Health(
    { gatewayId: 'gw-prom', periodSeconds: 60, dataDir: path.dirname(file), limits },
    { metrics, meters: status, buffer, wall, data },
  );
  return { metrics, buffer, wall, status, health };
}

describe('health and its Prometheus rendering', () => {
  it('agree, and the text passes a strict reader', () => {
    const { metrics, buffer, wall, status, health } = parts();
    metrics.inc('readings.accepted', 5);
    metrics.inc('readings.rejected.READING_DUPLICATE', 2);
    metrics.inc('driver.dsmr.rejected.CRC_MISMATCH', 3);
    metrics.inc('driver.sml.rejected.CRC_MISMATCH', 1);
    metrics.inc('driver.frames_rejected.FRAME_MALFORMED');
    metrics.inc('driver.modbus.errors.DEVICE_TIMEOUT', 7);
    metrics.inc('aggregates.released', 6);
    metrics.inc('aggregates.suppressed', 4);
    metrics.inc('uplink.connects');
    metrics.inc(WEIRD);
    for (let i = 0; i < 5; i++) status.accepted('m1', T0 + 3 * I);
    status.link('m2', false);
    status.rejected('m2', 'CRC_MISMATCH');
    buffer.outbox.add({ recordId: 'r1', kind: 'aggregate', body: '{}', createdAt: T0 });
    buffer.createBatch(10, WALL - 90_000, () => ({ batchId: 'b1', message: '{}', bodyDigest: 'd' }));
    wall.set(WALL + 30_000);

    const h = HealthBody.parse(health.snapshot());
    expect(h).toMatchObject({
      gateway: 'gw-prom',
      uptimeSeconds: 30,
      dataTime: '2012-10-10T02:00:00Z',
      meters: { configured: 2, seen: 1, up: 1, stale: 0, down: 1 },
      readings: {
        accepted: 5,
        lastInterval: { start: '2012-10-10T01:30:00Z', end: '2012-10-10T02:00:00Z', accepted: 5 },
        rejected: { READING_DUPLICATE: 2 },
      },
      frames: { rejected: { CRC_MISMATCH: 4, FRAME_MALFORMED: 1 } },
      groups: { released: 6, suppressed: 4 },
      buffer: { outboxRecords: 1, unbatchedRecords: 0, batches: 1, oldestUnackedBatchAgeSeconds: 120 },
    });
    expect(h.disk!.totalBytes).toBeGreaterThan(h.disk!.availableBytes);
    expect(h.memory.rssBytes).toBeGreaterThan(h.memory.heapUsedBytes);

    const families = parsePrometheusText(renderPrometheus(h, metrics.snapshot()));
    for (const [name, f] of families) {
      expect(name).toMatch(/^meterspace_/);
      expect(f.help, name).toBeTruthy();
      expect(['gauge', 'counter']).toContain(f.type);
      if (f.type === 'counter') expect(name).toMatch(/_total$/);
    }
    const at = (name: string, labels?: Record<string, string>) => sampleOf(families, name, labels);
    expect(at('meterspace_info', { gateway: 'gw-prom', contract: '1' })).toBe(1);
    expect(at('meterspace_uptime_seconds')).toBe(30);
    expect(at('meterspace_meters', { state: 'down' })).toBe(1);
    expect(at('meterspace_meters_seen')).toBe(1);
    expect(at('meterspace_readings_accepted_total')).toBe(5);
    expect(at('meterspace_readings_last_interval_accepted')).toBe(5);
    expect(at('meterspace_readings_last_interval_end_timestamp_seconds')).toBe((T0 + 4 * I) / 1000);
    expect(at('meterspace_readings_rejected_total', { code: 'READING_DUPLICATE' })).toBe(2);
    expect(at('meterspace_frames_rejected_total', { code: 'CRC_MISMATCH' })).toBe(4);
    expect(at('meterspace_groups_total', { outcome: 'suppressed' })).toBe(4);
    expect(at('meterspace_outbox_batches')).toBe(1);
    expect(at('meterspace_outbox_oldest_unacked_batch_age_seconds')).toBe(120);
    expect(at('meterspace_disk_available_bytes')).toBe(h.disk!.availableBytes);
    expect(at('meterspace_memory_rss_bytes')).toBe(h.memory.rssBytes);
    expect(at('meterspace_meter_state', { meter: 'm2', driver: 'serial', state: 'down' })).toBe(1);
    expect(at('meterspace_meter_state', { meter: 'm2', state: 'up' })).toBe(0);
    expect(at('meterspace_meter_readings_accepted_total', { meter: 'm1' })).toBe(5);
    expect(at('meterspace_meter_rejected_total', { meter: 'm2', code: 'CRC_MISMATCH' })).toBe(1);
    expect(at('meterspace_meter_last_interval_end_timestamp_seconds', { meter: 'm1' })).toBe(
      (T0 + 4 * I) / 1000,
    );
    // Counters without a family of their own are kept, by name, escaped and read back exactly.
    expect(at('meterspace_events_total', { counter: 'uplink.connects' })).toBe(1);
    expect(at('meterspace_events_total', { counter: 'driver.modbus.errors.DEVICE_TIMEOUT' })).toBe(7);
    expect(at('meterspace_events_total', { counter: WEIRD })).toBe(1);
    const events = families.get('meterspace_events_total')!.samples.map((s) => s.labels.counter);
    expect(events).not.toContain('readings.accepted');
    expect(events).not.toContain('driver.dsmr.rejected.CRC_MISMATCH');
  });

  it('says when a buffer limit is reached and counts what the policy left out or dropped', () => {
    const { metrics, buffer, health } = parts({ maxPendingReadings: 1000, maxOutboxRecords: 2 });
    const empty = health.snapshot().buffer;
    expect(empty).toMatchObject({ full: false, notAggregated: 0, dropped: { aggregate: 0, suppressed: 0 } });
    metrics.inc('readings.full', 4);
    metrics.inc('buffer.outbox_dropped.aggregate', 3);
    metrics.inc('buffer.outbox_dropped.suppressed');
    for (const id of ['r1', 'r2'])
      buffer.outbox.add({ recordId: id, kind: 'bill', body: '{}', createdAt: T0 });
    const h = HealthBody.parse(health.snapshot());
    expect(h.buffer).toMatchObject({
      full: true,
      notAggregated: 4,
      dropped: { aggregate: 3, suppressed: 1 },
    });
    const families = parsePrometheusText(renderPrometheus(h, metrics.snapshot()));
    expect(sampleOf(families, 'meterspace_buffer_full')).toBe(1);
    expect(sampleOf(families, 'meterspace_readings_not_aggregated_total')).toBe(4);
    expect(sampleOf(families, 'meterspace_outbox_dropped_total', { kind: 'aggregate' })).toBe(3);
    expect(sampleOf(families, 'meterspace_outbox_dropped_total', { kind: 'suppressed' })).toBe(1);
    // Shown by their own families, so not again among the other counters.
    expect(families.get('meterspace_events_total')!.samples).toEqual([]);
    // A health body of a gateway before these fields is still a valid v1 body.
    const older = JSON.parse(JSON.stringify(h)) as { buffer: Record<string, unknown> };
    for (const field of ['full', 'notAggregated', 'dropped']) delete older.buffer[field];
    expect(HealthBody.safeParse(older).success).toBe(true);
  });

  it('shows no batch age when every batch is acknowledged', () => {
    const { health, metrics } = parts();
    const h = health.snapshot();
    expect(h.buffer.oldestUnackedBatchAgeSeconds).toBeNull();
    const families = parsePrometheusText(renderPrometheus(h, metrics.snapshot()));
    expect(sampleOf(families, 'meterspace_outbox_oldest_unacked_batch_age_seconds')).toBe(0);
    expect(families.get('meterspace_meter_last_interval_end_timestamp_seconds')!.samples).toEqual([]);
  });

  it('the strict reader refuses what the format forbids', () => {
    const bad = [
      'a 1', // no final line feed
      '# TYPE a gauge\na{x="1"} 1\nb 1\na{x="2"} 2\n', // a family's samples apart
      'a 1\n# TYPE a gauge\n', // TYPE after samples
      'a{x="1"} 1\na{x="1"} 2\n', // the same series twice
      'a{x="\\q"} 1\n', // an unknown escape
      'a{x="1" y="2"} 1\n', // labels without a comma
      'a{__x="1"} 1\n', // a reserved label name
      '1a 1\n', // a bad metric name
      'a one\n', // no number
    ];
    for (const text of bad) expect(() => parsePrometheusText(text), text).toThrow();
    expect(parsePrometheusText('# HELP a x\n# TYPE a counter\na{x="q\\"\\n",} 1.5e3 123\n').get('a')).toEqual(
      {
        type: 'counter',
        help: 'x',
        samples: [{ labels: { x: 'q"\n' }, value: 1500 }],
      },
    );
  });
});
