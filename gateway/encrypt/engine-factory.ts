/** Builds the configured encryption engine, with its randomizer pool and worker thread where it has one. */
import type { Config } from '../config/schema.ts';
import { BigintEngine, RandomizedEngine, type EncryptionEngine } from './engine.ts';
import { FixedBaseTable } from './fixed-base.ts';
import type { PaillierPublicKey } from './paillier.ts';
import { RandomizerPool, type PoolStats } from './randomizer-pool.ts';
import {
  checkExponentBits,
  defaultExponentBits,
  djnBase,
  FullRandomizer,
  ShortExponentRandomizer,
  type RandomizerSource,
} from './randomizers.ts';

export interface EngineHandle {
  engine: EncryptionEngine;
  /** What was built, for the start-up log and the benchmark. */
  details: {
    engine: string;
    exponentBits?: number;
    windowBits?: number;
    tableBytes: number;
    poolSize: number;
  };
  poolStats(): PoolStats | undefined;
  /** Resolves when the pool holds `count` randomizers (benchmarks); immediately without a pool. */
  warm(count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEngine(cfg: Config['encryption'], key: PaillierPublicKey): Promise<EngineHandle> {
  if (cfg.engine === 'paillier-bigint') {
    return {
      engine: new BigintEngine(key),
      details: { engine: cfg.engine, tableBytes: 0, poolSize: 0 },
      poolStats: () => undefined,
      warm: () => Promise.resolve(),
      stop: () => Promise.resolve(),
    };
  }
  const djn = cfg.engine === 'djn';
  checkExponentBits(cfg.exponentBits, key.bits);
  const exponentBits = cfg.exponentBits ?? defaultExponentBits(key.bits);
  const hs = djn ? djnBase(key) : 1n;
  // This thread's own randomizers: for a pool that has run dry, or for every reading without a pool.
  const table = djn ? new FixedBaseTable(hs, key.n2, exponentBits, cfg.windowBits) : undefined;
  const fallback: RandomizerSource = table
    ? new ShortExponentRandomizer(table, exponentBits)
    : new FullRandomizer(key);
  let source: RandomizerSource = fallback;
  let pool: RandomizerPool | undefined;
  let tableBytes = table?.bytes ?? 0;
  if (cfg.poolSize > 0) {
    pool = new RandomizerPool(
      {
        mode: djn ? 'short-exponent' : 'full',
        n: key.n,
        n2: key.n2,
        hs,
        exponentBits,
        windowBits: cfg.windowBits,
      },
      fallback,
      { size: cfg.poolSize, refillBelow: Math.max(1, Math.floor(cfg.poolSize / 2)), chunk: 32 },
    );
    await pool.start();
    source = pool;
    // The worker holds a table of its own.
    tableBytes += pool.stats().tableBytes;
  }
  return {
    engine: new RandomizedEngine(cfg.engine, key, source),
    details: {
      engine: cfg.engine,
      ...(djn ? { exponentBits, windowBits: cfg.windowBits } : {}),
      tableBytes,
      poolSize: cfg.poolSize,
    },
    poolStats: () => pool?.stats(),
    warm: (count) => pool?.waitFor(count) ?? Promise.resolve(),
    stop: () => pool?.stop() ?? Promise.resolve(),
  };
}
