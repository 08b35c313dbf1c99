/**
 * The gateway's health at this moment (docs/protocol.md §8a), made from the counters (`metrics.ts`), each meter's
 * status (`meter-status.ts`), the buffer's depth, the data directory's file system and the process's memory.
 * The health message and the Prometheus endpoint both show what this returns, so they agree. Counts, instants and
 * codes only: no reading's value is known here.
 */
import { statfsSync } from 'node:fs';
import type { BufferLimits, BufferStore } from '../buffer/buffer.ts';
import type { HealthBody } from '../protocol/health-message.ts';
import type { Clock } from '../time/clock.ts';
import type { ClockStatus } from '../time/steady-clock.ts';
import { isoUtc } from '../time/zoned.ts';
import type { MeterStatus } from './meter-status.ts';
import type { Metrics } from './metrics.ts';
import type { StorageStatus } from './storage-status.ts';
import type { DeliveryStatus } from './delivery-status.ts';

export interface HealthOptions {
  gatewayId: string;
  periodSeconds: number;
  dataDir: string;
  /** The buffer's limits, to say when one is reached. */
  limits: BufferLimits;
}

export interface HealthSources {
  metrics: Metrics;
  meters: MeterStatus;
  buffer: BufferStore;
  /** Calendar time (`at`). */
  wall: Clock;
  /** Elapsed time for uptime and ages (monotonic: a clock step makes neither negative nor huge); default `wall`. */
  elapsed?: Clock;
  data: Clock;
  /** Whether the data clock stands still for a clock not set or stepped back (absent: not shown). */
  clock?: () => ClockStatus;
  /** Whether the buffer takes writes (absent: not shown). */
  storage?: StorageStatus;
  /** What stops batches from arriving although the link is up (absent: not shown). */
  delivery?: DeliveryStatus;
}

/** Counters of refused readings (`readings.rejected.<CODE>`). */
const READING_REJECTED = /^readings\.rejected\.([A-Z][A-Z0-9_]*)$/;
/** Counters of refused frames: `driver.<protocol>.rejected.<CODE>` and `driver.frames_rejected.<CODE>`. */
const FRAME_REJECTED = /^driver\.(?:[a-z0-9-]+\.rejected|frames_rejected)\.([A-Z][A-Z0-9_]*)$/;

/** How far back the health message reports re-homes. */
const REHOME_REPORT_MS = 30 * 24 * 3600_000;

/** What the health reads from the buffer's tables. */
interface BufferFigures {
  outbox: { records: number; unbatched: number; batches: number };
  oldest: number | undefined;
  held: number;
  rehomes: { meter: string; at: number; reason: string }[];
}

export class Health {
  private readonly startedAt: number;
  /** The buffer's figures last read: shown while its tables cannot be read (a corrupt page, issue #20). */
  private figures: BufferFigures = {
    outbox: { records: 0, unbatched: 0, batches: 0 },
    oldest: undefined,
    held: 0,
    rehomes: [],
  };

  constructor(
    private readonly opts: HealthOptions,
    private readonly sources: HealthSources,
  ) {
    this.startedAt = (sources.elapsed ?? sources.wall).now();
  }

  snapshot(): HealthBody {
    const { metrics, meters, buffer, wall, data } = this.sources;
    const now = (this.sources.elapsed ?? wall).now();
    const counters = metrics.snapshot();
    const status = meters.snapshot();
    const { outbox, oldest, held, rehomes } = this.bufferFigures();
    const memory = process.memoryUsage();
    const pendingReadings = buffer.readings.pendingCount();
    const { limits } = this.opts;
    return {
      v: 1,
      type: 'health',
      gateway: this.opts.gatewayId,
      at: isoUtc(wall.now()),
      dataTime: isoUtc(data.now()),
      ...(this.sources.clock ? { clock: this.sources.clock() } : {}),
      uptimeSeconds: seconds(now - this.startedAt),
      periodSeconds: this.opts.periodSeconds,
      meters: status.counts,
      readings: {
        accepted: counters['readings.accepted'] ?? 0,
        lastInterval: {
          start: isoUtc(status.lastInterval.start),
          end: isoUtc(status.lastInterval.end),
          accepted: status.lastInterval.accepted,
        },
        rejected: byCode(counters, READING_REJECTED),
      },
      frames: { rejected: byCode(counters, FRAME_REJECTED) },
      groups: {
        released: counters['aggregates.released'] ?? 0,
        suppressed: counters['aggregates.suppressed'] ?? 0,
      },
      buffer: {
        pendingReadings,
        heldReadings: held,
        outboxRecords: outbox.records,
        unbatchedRecords: outbox.unbatched,
        batches: outbox.batches,
        oldestUnackedBatchAgeSeconds: oldest === undefined ? null : seconds(now - oldest),
        full: pendingReadings >= limits.maxPendingReadings || outbox.records >= limits.maxOutboxRecords,
        notAggregated: counters['readings.full'] ?? 0,
        dropped: {
          aggregate: counters['buffer.outbox_dropped.aggregate'] ?? 0,
          suppressed: counters['buffer.outbox_dropped.suppressed'] ?? 0,
        },
      },
      disk: diskOf(this.opts.dataDir),
      ...(this.sources.storage ? { storage: this.sources.storage.snapshot() } : {}),
      ...(this.sources.delivery ? { delivery: this.sources.delivery.snapshot() } : {}),
      rehomes: rehomes
        .slice(0, 100)
        .map((r) => ({ meter: r.meter, at: new Date(r.at).toISOString(), reason: r.reason.slice(0, 500) })),
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, heapTotalBytes: memory.heapTotal },
      meterStatus: status.meters,
    };
  }

  /**
   * Reads the buffer's figures, or keeps the last ones when a table cannot be read: the health is what tells the
   * operator that the buffer is corrupt, so it must still go out (the corruption is noted for `storage`).
   */
  private bufferFigures(): BufferFigures {
    const { buffer, wall } = this.sources;
    this.figures = buffer.corruption.orLast(
      () => ({
        outbox: buffer.outbox.counts(),
        oldest: buffer.outbox.oldestBatchAt(),
        held: buffer.held.summary().count,
        rehomes: buffer.devices.rehomes(wall.now() - REHOME_REPORT_MS),
      }),
      this.figures,
    );
    return this.figures;
  }
}

/** The counters matching `pattern`, summed by the code it captures, codes sorted. */
export function byCode(counters: Record<string, number>, pattern: RegExp): Record<string, number> {
  const sums = new Map<string, number>();
  for (const [name, value] of Object.entries(counters)) {
    const code = pattern.exec(name)?.[1];
    if (code) sums.set(code, (sums.get(code) ?? 0) + value);
  }
  return Object.fromEntries([...sums].sort(([a], [b]) => a.localeCompare(b)));
}

function diskOf(dir: string): HealthBody['disk'] {
  try {
    const s = statfsSync(dir);
    return { totalBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize };
  } catch {
    return null;
  }
}

const seconds = (ms: number) => Math.max(0, Math.floor(ms / 1000));
