/**
 * The `delivery` part of health (issue #20) from real parts: a SQLite buffer with a quarantined batch, the
 * counters the repair, the ack handler and the uplink keep, a broker refusal. It is a valid health body, and the
 * Prometheus rendering shows the same figures and passes the strict reader.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeliveryStatus } from '../../../gateway/observe/delivery-status.ts';
import { Health } from '../../../gateway/observe/health.ts';
import { MeterStatus } from '../../../gateway/observe/meter-status.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { renderPrometheus } from '../../../gateway/observe/prometheus.ts';
import { HealthBody } from '../../../gateway/protocol/health-message.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';
import { parsePrometheusText, sampleOf } from '../../helpers/prometheus-text.ts';

const WALL = Date.parse('2026-12-08T02:00:00Z');

describe('delivery health', () => {
  it('reports quarantine, rebuilds, nacks, broker refusals and the ack latency, in health and Prometheus', () => {
    const metrics = new Metrics();
    const file = tempBufferFile('delivery-');
    const buffer = openTestBuffer(97n * 97n, metrics, { file });
    const wall = new ManualClock(WALL);
    buffer.outbox.add({ recordId: 'r1', kind: 'bill', body: '{}', createdAt: WALL });
    buffer.createBatch(10, WALL, () => ({ batchId: 'b1', message: '{}', bodyDigest: 'd' }));
    expect(buffer.outbox.quarantine('b1', WALL, 'SIGNATURE_INVALID', 'refused twice')).toBe(true);
    expect(buffer.outbox.quarantine('b1', WALL, 'SIGNATURE_INVALID', 'again')).toBe(false);
    metrics.inc('batches.quarantined.SIGNATURE_INVALID');
    metrics.inc('batches.rebuilt', 2);
    metrics.inc('nacks.SIGNATURE_INVALID', 2);
    metrics.inc('nacks.outcome.rebuilt');
    metrics.inc('batches.refused_by_broker', 3);
    metrics.inc('batches.refused_by_broker.NOT_AUTHORIZED', 3);
    const delivery = new DeliveryStatus(metrics, buffer, wall, () => 20_000);
    delivery.brokerRefused(0x87, 'Not authorized');
    const health = new Health(
      {
        gatewayId: 'gw-delivery',
        periodSeconds: 60,
        dataDir: path.dirname(file),
        limits: { maxPendingReadings: 10, maxOutboxRecords: 10 },
      },
      {
        metrics,
        meters: new MeterStatus(
          { intervalMs: 1800_000, staleIntervals: 3, graceMs: 0, startedAt: WALL, cursor: () => undefined },
          wall,
          [],
        ),
        buffer,
        wall,
        data: wall,
        delivery,
      },
    );

    const h = HealthBody.parse(health.snapshot());
    expect(h.delivery).toEqual({
      quarantinedBatches: 1,
      quarantined: { SIGNATURE_INVALID: 1 },
      rebuiltBatches: 2,
      nacked: { SIGNATURE_INVALID: 2 },
      brokerRefused: 3,
      lastBrokerRefusal: { reasonCode: 135, reason: 'Not authorized', at: '2026-12-08T02:00:00Z' },
      ackLatencySeconds: 20,
    });
    // The quarantined batch is not due, however late it is.
    expect(buffer.outbox.dueBatches(Number.MAX_SAFE_INTEGER)).toEqual([]);

    const families = parsePrometheusText(renderPrometheus(h, metrics.snapshot()));
    const at = (name: string, labels?: Record<string, string>) => sampleOf(families, name, labels);
    expect(at('meterspace_batches_quarantined')).toBe(1);
    expect(at('meterspace_batches_quarantined_total', { code: 'SIGNATURE_INVALID' })).toBe(1);
    expect(at('meterspace_batches_nacked_total', { code: 'SIGNATURE_INVALID' })).toBe(2);
    expect(at('meterspace_batches_refused_by_broker_total', { reason: 'NOT_AUTHORIZED' })).toBe(3);
    expect(at('meterspace_ack_latency_seconds')).toBe(20);
    // Shown by their own families, not again among the other counters.
    const events = families.get('meterspace_events_total')?.samples.map((s) => s.labels.counter) ?? [];
    expect(events).not.toContain('nacks.SIGNATURE_INVALID');
    expect(events).toContain('nacks.outcome.rebuilt');
    buffer.close();
  });
});
