/**
 * Re-sends that follow the MDMS's actual acknowledgement latency (issue #20): an MDMS that acks after 20 s made a
 * gateway with a 5 s first retry send each batch about three times. The pacer remembers when each batch was first
 * sent in this run and, at its ack, how long the MDMS took; a re-send then waits at least ACK_LATENCY_FACTOR times
 * the median of the recent latencies, and never less than the configured exponential back-off. The recent
 * latencies are kept (`memory`, the buffer's state) so the first batches after a restart are paced too.
 */
import type { Clock } from '../time/clock.ts';

/** Where the recent latencies outlive the process; a failure to keep them only costs pacing. */
export interface LatencyMemory {
  load(): number[];
  save(latencies: readonly number[]): void;
}

/** A re-send waits this many recent ack latencies: room for a slow MDMS's spread around its median. */
export const ACK_LATENCY_FACTOR = 3;
/** Latencies remembered: the last few acks decide, so the pace follows an MDMS that speeds up or slows down. */
const WINDOW = 8;
/** First sends remembered at most (batches in flight are bounded by the outbox; this bounds a leak). */
const MAX_TRACKED = 10_000;

export class AckPacer {
  private readonly firstSent = new Map<string, number>();
  private readonly latencies: number[] = [];

  constructor(
    private readonly opts: { retryInitialMs: number; retryMaxMs: number },
    /** Elapsed (monotonic) time. */
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
    private readonly memory?: LatencyMemory,
  ) {
    for (const l of memory?.load() ?? []) {
      if (Number.isFinite(l) && l >= 0) this.latencies.push(Math.min(l, opts.retryMaxMs));
    }
    this.latencies.splice(0, Math.max(0, this.latencies.length - WINDOW));
  }

  /** A batch was handed to the broker; only its first send in this run counts for its latency. */
  sent(batchId: string): void {
    if (this.firstSent.has(batchId)) return;
    if (this.firstSent.size >= MAX_TRACKED) this.firstSent.delete(this.firstSent.keys().next().value!);
    this.firstSent.set(batchId, this.clock.now());
  }

  /** The MDMS acknowledged a batch: returns how long after its first send (undefined if not sent in this run). */
  acked(batchId: string): number | undefined {
    const at = this.firstSent.get(batchId);
    this.firstSent.delete(batchId);
    if (at === undefined) return undefined;
    // Capped: an ack after an outage measures the outage, not the MDMS; the back-off reaches the cap anyway.
    const latency = Math.min(this.clock.now() - at, this.opts.retryMaxMs);
    this.latencies.push(latency);
    if (this.latencies.length > WINDOW) this.latencies.shift();
    this.memory?.save(this.latencies);
    return latency;
  }

  /** Forgets a batch that will not be acknowledged (quarantined). */
  forget(batchId: string): void {
    this.firstSent.delete(batchId);
  }

  /** The median of the recent ack latencies (ms), or undefined before the first ack. */
  latencyMs(): number | undefined {
    if (this.latencies.length === 0) return undefined;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** How long to wait before attempt `attempts + 1` of a batch, after attempt `attempts`. */
  delayMs(attempts: number): number {
    const { retryInitialMs, retryMaxMs } = this.opts;
    const exponential = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(attempts - 1, 30));
    const learned = Math.min(retryMaxMs, ACK_LATENCY_FACTOR * (this.latencyMs() ?? 0));
    const base = Math.max(exponential, learned);
    // ±20 % jitter so that a fleet does not re-send in lock-step after an outage; never below the learned pace.
    return Math.max(learned, Math.round(base * (0.8 + 0.4 * this.random())));
  }
}

/** The recent ack latencies in the buffer's state; unreadable or unwritable, pacing starts from nothing. */
export function latencyMemory(state: {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}): LatencyMemory {
  const KEY = 'uplink.ack_latencies_ms';
  return {
    load: () => {
      try {
        const parsed: unknown = JSON.parse(state.get(KEY) ?? '[]');
        return Array.isArray(parsed) ? parsed.filter((n): n is number => typeof n === 'number') : [];
      } catch {
        return [];
      }
    },
    save: (latencies) => {
      try {
        state.set(KEY, JSON.stringify(latencies));
      } catch {
        // A full or corrupt buffer is reported where it matters (storage status); pacing is not worth a word.
      }
    },
  };
}
