/** A deterministic byte source for tests (SHA-256 in counter mode over a seed): same seed, same bytes. */
import { createHash } from 'node:crypto';

export function seededRandom(seed: string): (size: number) => Buffer {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (size: number) => {
    while (pool.length < size) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      pool = Buffer.concat([pool, block]);
    }
    const out = pool.subarray(0, size);
    pool = pool.subarray(size);
    return Buffer.from(out);
  };
}
