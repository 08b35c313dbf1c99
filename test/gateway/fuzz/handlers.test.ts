/**
 * The MQTT handlers that anyone on the broker can reach — households' requests and operators' configuration
 * commands — fed thousands of generated payloads (issue #7, 7–8): arbitrary bytes, arbitrary JSON, well-formed
 * envelopes with arbitrary bodies, and valid messages with bytes flipped. No payload escapes the handler as an
 * exception, every one is refused and counted, nothing is enrolled, granted or written, and the handlers still
 * serve a genuine request afterwards. Real SQLite buffer, real keys and seals; the broker is a fake that hands the
 * payloads over and records the replies.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { counted, flipped, fuzzRuns, fuzzTimeout, junk } from '../../helpers/fuzz.ts';
import { customerUnderTest, FUZZ_GW as GW, FUZZ_T as T, operatorUnderTest } from '../../helpers/services.ts';

const RUNS = fuzzRuns(1500);

/** Payloads of every kind: raw bytes, any JSON, envelopes and request shapes with arbitrary contents. */
const payloads = fc.oneof(
  junk,
  fc
    .record({ v: fc.constant(1), sealed: fc.base64String({ maxLength: 400 }) })
    .map((m) => Buffer.from(JSON.stringify(m))),
  fc
    .record({
      type: fc.constantFrom(
        'enrol',
        'history',
        'erase',
        'info',
        'consent-grant',
        'consent-revoke',
        'consents',
      ),
      id: fc.string({ maxLength: 70 }),
      gatewayId: fc.constantFrom(GW, 'other', ''),
      meterId: fc.constantFrom('m1', 'm2', ''),
      seq: fc.oneof(fc.integer(), fc.double()),
      issuedAt: fc.string(),
    })
    .map((body) => Buffer.from(JSON.stringify({ v: 1, body: JSON.stringify(body), sig: 'AAAA' }))),
);

describe('households request handler under fuzzing', () => {
  const { buffer, handle, enrolment, metrics, state, household, close } = customerUnderTest();
  afterAll(close);
  const valid = (now: number) => enrolment(household, now);

  it(
    'refuses and counts every generated payload, throwing nothing and changing nothing',
    () => {
      const before = state();
      fc.assert(
        fc.property(fc.oneof(payloads, flipped(valid(T - 1000))), (payload) => {
          handle(payload);
        }),
        { numRuns: RUNS },
      );
      expect(state()).toEqual(before);
      expect(counted(metrics, 'customer.rejected.')).toBeGreaterThanOrEqual(RUNS * 0.99);
      // Still serving: the genuine request enrols.
      handle(valid(T));
      expect(buffer.customers.get('m1')?.keys.signing).toBe(household.publicKeys.signing);
    },
    fuzzTimeout(60_000),
  );
});

describe('remote configuration handler under fuzzing', () => {
  const { handle, signed, service, metrics, applied, link, fileText, close } = operatorUnderTest();
  afterAll(close);
  const original = fileText();

  it(
    'refuses every generated command without a valid signature, and every signed one with a bad body',
    async () => {
      const get = signed({
        type: 'config-get',
        id: 'g1',
        gatewayId: GW,
        seq: T - 5000,
        issuedAt: new Date(T).toISOString(),
      });
      fc.assert(
        fc.property(
          fc.oneof(
            payloads,
            flipped(get),
            // Signed by the operator, but the body is anything: arbitrary configuration text included.
            fc
              .record({
                type: fc.constantFrom('config-set', 'config-get', 'other'),
                id: fc.constantFrom('x1', ''),
                gatewayId: fc.constant(GW),
                seq: fc.constant(1),
                issuedAt: fc.string(),
                yaml: fc.oneof(
                  fc.string({ maxLength: 300 }),
                  fc.jsonValue().map((v) => stringify(v)),
                ),
              })
              .map(signed),
          ),
          (payload) => {
            handle(payload);
          },
        ),
        { numRuns: RUNS },
      );
      await service.idle();
      expect(fileText()).toBe(original);
      expect(applied).toEqual([]);
      expect(metrics.snapshot()['config.handler_failed.UNEXPECTED'] ?? 0).toBe(0);
      // Still serving, in order: a genuine request is answered.
      const before = link.replies;
      handle(
        signed({ type: 'config-get', id: 'g2', gatewayId: GW, seq: T, issuedAt: new Date(T).toISOString() }),
      );
      await service.idle();
      expect(link.replies).toBe(before + 1);
    },
    fuzzTimeout(60_000),
  );
});
