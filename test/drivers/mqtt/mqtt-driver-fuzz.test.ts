/**
 * The MQTT meter driver's message handler under fuzzing (issue #7, 8), for every payload format — Tasmota, the
 * generic JSON and sealed readings — through a real Mosquitto into the real intake and SQLite buffer
 * (test/helpers/meter-rig.ts). Generated payloads: bytes, any JSON, envelope shapes, Tasmota and generic shapes
 * with arbitrary values and times, sealed readings signed by a stranger, a genuine sealed reading with a byte of
 * its signed body changed, and bodies of any kind signed by the meter itself. Each payload is handled exactly
 * once (counted by the driver) and none escapes as an exception; nothing unsigned reaches a sealed meter's
 * readings; whatever a meter signs is accepted, held or refused by the intake with a code, none lost. Then 20,000
 * malformed payloads leave the heap (after a forced garbage collection) within a few megabytes.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../../../gateway/encrypt/packing.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import {
  bodyRange,
  counted,
  expectBoundedFlood,
  flipped,
  FLOOD,
  fuzzRuns,
  fuzzTimeout,
  inputDerivedNames,
  junk,
  PER_RUN,
} from '../../helpers/fuzz.ts';
import { meterRig, METER_I, METER_T0, METER_TOPICS } from '../../helpers/meter-rig.ts';

const RUNS = fuzzRuns(2000);
const TOPICS = Object.values(METER_TOPICS);

const tasmotaShaped = fc
  .record(
    {
      Time: fc.oneof(
        fc
          .date({ min: new Date('2024-02-27'), max: new Date('2024-03-04'), noInvalidDate: true })
          .map((d) => d.toISOString().slice(0, 19)),
        fc.string(),
      ),
      ENERGY: fc.record(
        {
          Total: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.jsonValue()),
          Power: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  )
  .map((p) => JSON.stringify(p));

const genericShaped = fc
  .record(
    {
      time: fc.oneof(
        fc
          .date({ min: new Date('2024-02-27'), max: new Date('2024-03-04'), noInvalidDate: true })
          .map((d) => d.toISOString()),
        fc.string(),
      ),
      values: fc.array(
        fc.record({
          obis: fc.oneof(fc.constantFrom('1-0:1.8.0', '1-0:1.8.1', '1-0:1.8.2', '1-0:16.7.0'), fc.string()),
          value: fc.oneof(fc.double(), fc.integer({ min: -1e12, max: 1e12 }), fc.jsonValue()),
          unit: fc.oneof(fc.constantFrom('kWh', 'Wh', 'W', 'V', 'MWh'), fc.string({ maxLength: 10 })),
        }),
        { maxLength: 70 },
      ),
    },
    { requiredKeys: [] },
  )
  .map((p) => JSON.stringify(p));

describe('MQTT meter driver under fuzzing', () => {
  let rig: Awaited<ReturnType<typeof meterRig>>;
  beforeAll(async () => {
    rig = await meterRig();
  });
  afterAll(() => rig?.close());

  /** A sealed-reading body whose fields are each mostly what the gateway expects, sometimes anything. */
  const sealedShaped = () => {
    const { layout, engine, supplier } = rig;
    // Valid encryptions of readings in bounds, made once (an encryption costs more than the rest of a case).
    const ciphertexts = [0n, 1n, 250n, 20_000n].map((wh) =>
      engine.encrypt(pack(layout, [wh, wh])).toString(16),
    );
    const mostly = <T, U>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<U>) =>
      fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: other, weight: 1 });
    return fc.record({
      type: mostly(fc.constant('sealed-reading'), fc.string()),
      v: mostly(fc.constant(1), fc.jsonValue()),
      intervalStart: mostly(
        fc.integer({ min: -300, max: 300 }).map((k) => new Date(METER_T0 + k * METER_I).toISOString()),
        fc.oneof(
          fc.string(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        ),
      ),
      intervalMinutes: mostly(fc.constant(15), fc.integer()),
      slotBits: mostly(fc.constant(layout.slotBits), fc.integer()),
      slots: mostly(fc.constant(layout.slots), fc.array(fc.string(), { maxLength: 20 })),
      ciphertext: mostly(
        fc.constantFrom(...ciphertexts),
        fc.oneof(
          fc.constantFrom('0', supplier.n.toString(16), supplier.n2.toString(16)),
          fc.stringMatching(/^[0-9a-f]{1,600}$/),
          fc.string(),
        ),
      ),
    });
  };

  it(
    'every payload on every topic is handled once; nothing unsigned reaches a sealed meter',
    async () => {
      const { send, sendAll, sealedReading, clock, metrics, buffer } = rig;
      clock.set(METER_T0 + 2 * METER_I);
      const genuine = sealedReading(1, 300);
      await send(METER_TOPICS.sealedA, genuine);
      const stranger = generateKeyPairSync('ed25519');
      const unsigned = fc.oneof(
        junk,
        tasmotaShaped,
        genericShaped,
        sealedShaped().map((b) => signEnvelope(b, stranger.privateKey, stranger.publicKey).message),
        flipped(Buffer.from(genuine), ...bodyRange(genuine)),
      );
      const sealedRows = () =>
        buffer.db
          .prepare(
            "SELECT (SELECT COUNT(*) FROM readings WHERE meter_id LIKE 'sealed-%') AS r, " +
              "(SELECT COUNT(*) FROM held_readings WHERE meter_id LIKE 'sealed-%') AS h",
          )
          .get();
      const before = sealedRows();
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.constantFrom(...TOPICS), unsigned), {
            minLength: PER_RUN,
            maxLength: PER_RUN,
          }),
          fc.integer({ min: 0, max: 3 * METER_I }),
          async (messages, step) => {
            // The plain meters' registers are placed by the gateway's clock: let it move so intervals complete.
            clock.set(clock.now() + step);
            await sendAll(messages);
            expect(sealedRows()).toEqual(before);
          },
        ),
        { numRuns: Math.ceil(RUNS / PER_RUN) },
      );
      expect(inputDerivedNames(metrics)).toEqual([]);
    },
    fuzzTimeout(60_000),
  );

  it(
    'whatever a sealed meter signs is accepted, held or refused by the intake with a code: none lost',
    async () => {
      const { send, keyA, metrics, clock } = rig;
      clock.set(METER_T0 + 10 * METER_I);
      const signed = fc
        .oneof(sealedShaped(), fc.jsonValue())
        .map((b) => signEnvelope(b, keyA.privateKey, keyA.publicKey).message);
      const intakeOutcomes = () =>
        counted(metrics, 'readings.accepted', 'readings.held', 'readings.rejected.');
      const handed = () => metrics.get('driver.mqtt.sealed');
      await fc.assert(
        fc.asyncProperty(fc.array(signed, { minLength: PER_RUN, maxLength: PER_RUN }), async (payloads) => {
          const before = { outcomes: intakeOutcomes(), handed: handed() };
          await send(METER_TOPICS.sealedA, ...payloads);
          expect(intakeOutcomes() - before.outcomes).toBe(handed() - before.handed);
        }),
        { numRuns: Math.ceil(RUNS / PER_RUN) },
      );
      expect(inputDerivedNames(metrics)).toEqual([]);
    },
    fuzzTimeout(60_000),
  );

  it(
    `${FLOOD} malformed payloads leave the heap and the counter names bounded`,
    async () => {
      const { sendAll, metrics } = rig;
      const malformed = fc.tuple(fc.constantFrom(...TOPICS), fc.oneof(junk, tasmotaShaped, genericShaped));
      const flood = async (count: number) => {
        for (let sent = 0; sent < count; sent += 500) await sendAll(fc.sample(malformed, 500));
      };
      await expectBoundedFlood('MQTT meter driver', flood, metrics);
    },
    fuzzTimeout(120_000),
  );
});
