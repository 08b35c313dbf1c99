/**
 * The machine's speed at the moment of a measurement, as the CPU time of one modular multiplication modulo a
 * number of n²'s size: the operation that makes up most of the gateway's work (an encryption is about 33 of
 * them at 3072 bits). On a shared machine this figure moves by tens of percent from one minute to the next;
 * reporting it with each run, and the run's cost as a number of such multiplications, separates the code's cost
 * from the machine's mood.
 */
import { randomBytes } from 'node:crypto';
import { fromBytes } from '../../../gateway/encrypt/bigint.ts';

/** CPU microseconds per (a · b) mod m for random a, b < m with m of 2·`keyBits` bits. */
export function mulmodMicros(keyBits: number, count = 2000): number {
  const bytes = (2 * keyBits) / 8;
  const m = fromBytes(randomBytes(bytes)) | (1n << BigInt(2 * keyBits - 1)) | 1n;
  const a = fromBytes(randomBytes(bytes)) % m;
  let acc = fromBytes(randomBytes(bytes)) % m;
  for (let i = 0; i < 50; i++) acc = (acc * a) % m; // warm-up
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i++) acc = (acc * a) % m;
  const t = process.cpuUsage(t0);
  if (acc === 0n) throw new Error('unreachable: the product of units is never 0');
  return (t.user + t.system) / count;
}
