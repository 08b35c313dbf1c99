/**
 * A pool of precomputed randomizers, filled by a worker thread so that encryption on the intake path is a single
 * modular multiplication. Memory only: a stored randomizer would let anyone strip the encryption off a reading,
 * so the pool is never persisted, and each value is handed out once. When the pool runs dry the fallback source
 * computes one synchronously (counted as a miss).
 */
import { Worker } from 'node:worker_threads';
import type { RandomizerSource } from './randomizers.ts';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './randomizer-worker.ts';

export interface PoolOptions {
  /** Randomizers kept ready. */
  size: number;
  /** Ask the worker for more when fewer than this remain. */
  refillBelow: number;
  /** Randomizers per worker reply (small keeps the worker responsive to termination). */
  chunk: number;
}

export interface PoolStats {
  served: number;
  misses: number;
  available: number;
  tableBytes: number;
}

/** The worker's entry: the compiled .js under dist/, or a bootstrap that loads the .ts source with tsx. */
function workerUrl(): URL {
  const typescript = import.meta.url.endsWith('.ts');
  return new URL(typescript ? './randomizer-worker.boot.mjs' : './randomizer-worker.js', import.meta.url);
}

export class RandomizerPool implements RandomizerSource {
  private readonly values: bigint[] = [];
  private worker: Worker | undefined;
  private requested = false;
  private served = 0;
  private misses = 0;
  private tableBytes = 0;

  constructor(
    private readonly setup: WorkerSetup,
    private readonly fallback: RandomizerSource,
    private readonly opts: PoolOptions,
  ) {}

  /** Starts the worker and resolves once its table is built (the pool then fills in the background). */
  async start(): Promise<void> {
    // The worker needs little heap: its table and a chunk of randomizers. Small generations keep the RSS low.
    const worker = new Worker(workerUrl(), {
      workerData: this.setup,
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          this.tableBytes = reply.tableBytes;
          resolve();
        } else {
          this.requested = false;
          this.values.push(...reply.values);
        }
        this.refill();
      });
    });
    worker.unref();
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.values.length = 0;
    if (worker) await worker.terminate();
  }

  next(): bigint {
    const value = this.values.pop();
    this.refill(true);
    if (value === undefined) {
      this.misses++;
      return this.fallback.next();
    }
    this.served++;
    return value;
  }

  stats(): PoolStats {
    return {
      served: this.served,
      misses: this.misses,
      available: this.values.length,
      tableBytes: this.tableBytes,
    };
  }

  /** Resolves once the pool holds at least `count` randomizers (for benchmarks that measure a warm pool). */
  async waitFor(count: number, timeoutMs = 600_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.values.length < Math.min(count, this.opts.size)) {
      if (performance.now() > deadline) throw new Error('randomizer pool did not fill in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Asks the worker for a chunk when none is on its way and the pool is below `size` (after a reply or at start)
   * or below `refillBelow` (after handing one out): it tops up in chunks rather than after every reading.
   */
  private refill(afterNext = false): void {
    if (!this.worker || this.requested) return;
    const limit = afterNext ? this.opts.refillBelow : this.opts.size;
    if (this.values.length >= limit) return;
    this.requested = true;
    const count = Math.min(this.opts.chunk, this.opts.size - this.values.length);
    this.worker.postMessage({ type: 'fill', count } satisfies WorkerRequest);
  }
}
