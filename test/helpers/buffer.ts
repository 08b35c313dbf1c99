/** A real SQLite buffer in a fresh temporary directory (or at `file`), with roomy limits, for unit tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BufferStore, type BufferLimits } from '../../gateway/buffer/buffer.ts';
import type { Metrics } from '../../gateway/observe/metrics.ts';

export const ROOMY_LIMITS: BufferLimits = { maxPendingReadings: 1000, maxOutboxRecords: 1000 };

export function tempBufferFile(prefix = 'buffer-'): string {
  return path.join(mkdtempSync(path.join(tmpdir(), prefix)), 'buffer.sqlite');
}

export function openTestBuffer(
  n2: bigint,
  metrics: Metrics,
  opts: { file?: string; limits?: BufferLimits; synchronous?: 'NORMAL' | 'FULL' } = {},
): BufferStore {
  return BufferStore.open(
    opts.file ?? tempBufferFile(),
    { synchronous: opts.synchronous ?? 'NORMAL' },
    n2,
    opts.limits ?? ROOMY_LIMITS,
    metrics,
  );
}
