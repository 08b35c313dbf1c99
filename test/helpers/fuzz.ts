/**
 * What the fuzz tests share (issue #7, 7–8): how many cases to run (FUZZ_RUNS for the opt-in long run, `npm run
 * fuzz`), payloads of every kind, a valid message with a byte changed, a message link that hands payloads straight
 * to a handler, and the heap after a forced garbage collection (bounded-memory checks).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Metrics } from '../../gateway/observe/metrics.ts';
import type { MessageLink } from '../../gateway/uplink/uplink.ts';

/** The opt-in long run's case count (FUZZ_RUNS=100000 npm run fuzz), or undefined in an ordinary run. */
const LONG = Number(process.env.FUZZ_RUNS) > 0 ? Number(process.env.FUZZ_RUNS) : undefined;

/** Cases for one property: `ci` in an ordinary run, FUZZ_RUNS (when larger) in the opt-in long run. */
export function fuzzRuns(ci: number): number {
  return LONG === undefined ? ci : Math.max(ci, LONG);
}

/** A test's time limit: `ci` ms in an ordinary run, an hour in the long run. */
export function fuzzTimeout(ci: number): number {
  return LONG === undefined ? ci : 3_600_000;
}

/** Bytes, any JSON, and JSON shaped like a signed envelope (right field names, arbitrary contents). */
export const junk: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
  fc
    .record(
      {
        v: fc.oneof(fc.constant(1), fc.jsonValue()),
        alg: fc.oneof(fc.constant('Ed25519'), fc.string()),
        kid: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fc.string()),
        body: fc.jsonValue().map((b) => JSON.stringify(b)),
        sig: fc.oneof(fc.base64String({ minLength: 88, maxLength: 88 }), fc.string()),
      },
      { requiredKeys: [] },
    )
    .map((m) => Buffer.from(JSON.stringify(m))),
);

/** `valid` with one byte XORed, anywhere in [from, to) (default: the whole message). */
export function flipped(valid: Buffer, from = 0, to = valid.length): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.integer({ min: from, max: to - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const copy = Buffer.from(valid);
    copy[i] = copy[i]! ^ x;
    return copy;
  });
}

/** The range of a signed envelope's `body` string inside the message bytes (what the signature covers). */
export function bodyRange(message: string): [number, number] {
  const body = JSON.stringify((JSON.parse(message) as { body: string }).body);
  const at = Buffer.from(message).indexOf(body);
  return [at + 1, at + Buffer.byteLength(body) - 1];
}

/** A MessageLink without a broker: handlers are called directly; replies are counted and kept. */
export class DirectLink implements MessageLink {
  readonly handlers = new Map<string, (payload: Buffer) => void>();
  readonly published: { topic: string; payload: string }[] = [];
  replies = 0;
  constructor(private readonly keep = false) {}
  route(topic: string, handler: (payload: Buffer) => void): void {
    this.handlers.set(topic, handler);
  }
  publish(topic: string, payload: string): boolean {
    this.replies++;
    if (this.keep) this.published.push({ topic, payload });
    return true;
  }
  publishRetained(): boolean {
    return true;
  }
  onConnect(): void {}
}

/** Sum of the counters whose names start with one of `prefixes`. */
export function counted(metrics: Metrics, ...prefixes: string[]): number {
  return Object.entries(metrics.snapshot())
    .filter(([k]) => prefixes.some((p) => k.startsWith(p)))
    .reduce((n, [, v]) => n + v, 0);
}

/**
 * Every counter name must be made of fixed words and error codes only: a name built from what a message says (a
 * meter id, a request id, a code taken from the payload) would let anyone on the broker create series without
 * end. Returns the names that are not (none expected).
 */
export function inputDerivedNames(metrics: Metrics): string[] {
  return Object.keys(metrics.snapshot()).filter(
    (k) => !/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*(\.[A-Z][A-Z0-9_]{2,40})?$/.test(k),
  );
}

let gc: (() => void) | undefined;

/** Heap in use after a full garbage collection, in bytes. */
export function heapAfterGc(): number {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Messages per fast-check run where each run is a broker round trip (several messages make one). */
export const PER_RUN = 20;

/** Messages per bounded-memory check, after a warm-up of 2,000. */
export const FLOOD = 20_000;
/** Heap growth allowed over FLOOD messages (a leak of about 400 bytes a message would exceed it). */
const MAX_GROWTH_BYTES = 8 * 1024 * 1024;

/**
 * Feeds FLOOD malformed messages through `feed(count)` (which returns once they are all handled) after a warm-up,
 * and checks that the heap after a forced GC grew by less than MAX_GROWTH_BYTES and that the messages added no
 * counter name made from their contents (at most `newNames` new names: codes first seen after the warm-up).
 * Logs and returns the growth in bytes.
 */
export async function expectBoundedFlood(
  what: string,
  feed: (count: number) => Promise<void>,
  metrics: Metrics,
  newNames = 3,
): Promise<number> {
  await feed(2000); // warm up: compiled code, connections, the counters' first names
  const names = Object.keys(metrics.snapshot()).length;
  const before = heapAfterGc();
  await feed(FLOOD);
  const growth = heapAfterGc() - before;
  console.log(`${what}: heap grew ${(growth / 1024).toFixed(0)} KiB over ${FLOOD} malformed messages`);
  expect(growth).toBeLessThan(MAX_GROWTH_BYTES);
  expect(Object.keys(metrics.snapshot()).length).toBeLessThanOrEqual(names + newNames);
  expect(inputDerivedNames(metrics)).toEqual([]);
  return growth;
}
