/**
 * What stops batches from arriving although the link is up (issue #20), for the health message and the
 * Prometheus endpoint: batches quarantined in the buffer, batches rebuilt, the MDMS's signed refusals (nacks) by
 * code, publishes the broker refused (MQTT 5 PUBACK reason code ≥ 0x80, e.g. 0x87 from an ACL), and the MDMS's
 * recent acknowledgement latency that paces re-sends. Counts, codes and instants only.
 */
import type { BufferStore } from '../buffer/buffer.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';
import { byCode } from './health.ts';
import type { Metrics } from './metrics.ts';

/** Counters of the MDMS's refusals: `nacks.<CODE>`. */
const NACKED = /^nacks\.([A-Z][A-Z0-9_]*)$/;
/** Counters of batches quarantined: `batches.quarantined.<CODE>`. */
const QUARANTINED = /^batches\.quarantined\.([A-Z][A-Z0-9_]*)$/;

export interface BrokerRefusal {
  /** The MQTT 5 reason code of the PUBACK (decimal; 135 = 0x87 "Not authorized"). */
  reasonCode: number;
  reason: string;
  at: string;
}

export interface DeliveryHealth {
  /** Batches set aside for good, in the buffer now (docs/reliability.md "A stored batch is damaged"). */
  quarantinedBatches: number;
  /** Batches quarantined since the start, by code. */
  quarantined: Record<string, number>;
  /** Batches rebuilt from their records since the start. */
  rebuiltBatches: number;
  /** The MDMS's signed refusals since the start, by code. */
  nacked: Record<string, number>;
  /** Batch publishes the broker refused since the start. */
  brokerRefused: number;
  lastBrokerRefusal: BrokerRefusal | null;
  /** The median of the MDMS's recent acknowledgement latencies; null before the first. */
  ackLatencySeconds: number | null;
}

export class DeliveryStatus {
  private lastRefusal: BrokerRefusal | null = null;
  /** The last count of quarantined batches the buffer could give (kept while it is corrupt). */
  private quarantinedBatches = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly buffer: BufferStore,
    private readonly wall: Clock,
    /** The pacer's recent ack latency (ms). */
    private readonly ackLatencyMs: () => number | undefined = () => undefined,
  ) {}

  /** The broker refused a publish with `reasonCode`. */
  brokerRefused(reasonCode: number, reason: string): void {
    this.lastRefusal = { reasonCode, reason, at: isoUtc(this.wall.now()) };
  }

  snapshot(): DeliveryHealth {
    const counters = this.metrics.snapshot();
    const latency = this.ackLatencyMs();
    return {
      quarantinedBatches: this.quarantinedCount(),
      quarantined: byCode(counters, QUARANTINED),
      rebuiltBatches: counters['batches.rebuilt'] ?? 0,
      nacked: byCode(counters, NACKED),
      brokerRefused: counters['batches.refused_by_broker'] ?? 0,
      lastBrokerRefusal: this.lastRefusal,
      ackLatencySeconds: latency === undefined ? null : Math.round(latency / 100) / 10,
    };
  }

  /** The batches quarantined now, or the last count while the table cannot be read (a corrupt page). */
  private quarantinedCount(): number {
    this.quarantinedBatches = this.buffer.corruption.orLast(
      () => this.buffer.outbox.quarantined().length,
      this.quarantinedBatches,
    );
    return this.quarantinedBatches;
  }
}
