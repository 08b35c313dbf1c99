/**
 * The upstream acknowledgement handler under fuzzing (issue #7, 8), through the real Uplink on a real Mosquitto
 * and a real SQLite buffer: bytes, any JSON, envelope-shaped JSON, bodies of any kind signed by the MDMS key,
 * ack-shaped bodies signed by the MDMS key naming the wrong gateway, batch or digest, genuine acks with a byte of
 * their signed body changed, and replays of an ack already applied with any byte changed. Every message is
 * counted exactly once, none escapes as an exception, none deletes a batch, no counter name is made from the
 * input, and a genuine ack is applied afterwards. Then 20,000 malformed acks leave the heap (after a forced
 * garbage collection) within a few megabytes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ackRig, ACK_GW } from '../../helpers/ack-rig.ts';
import {
  bodyRange,
  expectBoundedFlood,
  flipped,
  FLOOD,
  fuzzRuns,
  fuzzTimeout,
  inputDerivedNames,
  junk,
  PER_RUN,
} from '../../helpers/fuzz.ts';

const RUNS = fuzzRuns(2000);

describe('acknowledgement handler under fuzzing', () => {
  let rig: Awaited<ReturnType<typeof ackRig>>;
  beforeAll(async () => {
    rig = await ackRig();
  });
  afterAll(() => rig?.close());

  it(
    'counts every generated ack once and applies none but the genuine one',
    async () => {
      const { queueBatch, ackBody, signedAck, send, metrics, state } = rig;
      const done = queueBatch('agg:done');
      const applied = signedAck(ackBody(done));
      await send(applied);
      const a = queueBatch('agg:a');
      const b = queueBatch('agg:b');
      const genuine = signedAck(ackBody(a));
      const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
      const mdmsSigned = fc.oneof(
        fc.jsonValue().map((body) => signedAck(body)),
        fc
          .record({
            v: fc.oneof(fc.constant(1), fc.jsonValue()),
            type: fc.constantFrom('ack', 'batch', ''),
            gateway: fc.oneof(fc.constantFrom(ACK_GW, 'gw-other'), fc.string({ maxLength: 80 })),
            batchId: fc.oneof(
              fc.constantFrom(a.batchId, b.batchId, done.batchId),
              fc.string({ maxLength: 200 }),
            ),
            bodyDigest: fc.oneof(fc.constantFrom(a.bodyDigest, b.bodyDigest), hex64, fc.string()),
            ackedAt: fc.oneof(fc.constant('2026-01-01T00:00:00Z'), fc.string()),
          })
          // The one body that is a genuine ack of a pending batch would rightly be applied.
          .filter((r) => ![a, b].some((x) => r.batchId === x.batchId && r.bodyDigest === x.bodyDigest))
          .map((body) => signedAck(body)),
      );
      const message = fc.oneof(
        junk,
        mdmsSigned,
        flipped(Buffer.from(genuine), ...bodyRange(genuine)),
        flipped(Buffer.from(applied)),
      );
      const before = state();
      const acked = metrics.get('acks.acked');
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: PER_RUN, maxLength: PER_RUN }), async (messages) => {
          await send(...messages);
          expect(state()).toEqual(before);
        }),
        { numRuns: Math.ceil(RUNS / PER_RUN) },
      );
      expect(metrics.get('acks.acked')).toBe(acked);
      expect(inputDerivedNames(metrics)).toEqual([]);
      expect(Object.keys(metrics.snapshot()).filter((k) => k.startsWith('uplink.handler_failed'))).toEqual(
        [],
      );
      // Still applying: the genuine ack deletes its batch, and only it.
      await send(genuine);
      expect(metrics.get('acks.acked')).toBe(acked + 1);
      expect(rig.buffer.outbox.batch(a.batchId)).toBeUndefined();
      expect(rig.buffer.outbox.batch(b.batchId)).toBeDefined();
    },
    fuzzTimeout(60_000),
  );

  it(
    `${FLOOD} malformed acks leave the heap and the counter names bounded`,
    async () => {
      const { signedAck, send, metrics } = rig;
      // Malformed in every way, including MDMS-signed bodies naming gateways and batches an attacker makes up.
      const malformed = fc.oneof(
        junk,
        fc
          .record({ gateway: fc.string(), batchId: fc.string() })
          .map((b) => signedAck({ v: 1, type: 'ack', ...b })),
      );
      const flood = async (count: number) => {
        for (let sent = 0; sent < count; sent += 500) await send(...fc.sample(malformed, 500));
      };
      await expectBoundedFlood('ack handler', flood, metrics);
    },
    fuzzTimeout(120_000),
  );
});
