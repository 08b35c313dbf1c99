/**
 * Bounded memory at the handlers anyone on the upstream broker can reach (issue #7, 8): 20,000 malformed or
 * forged messages each at the households' request handler and the remote configuration handler — junk, and
 * well-formed requests signed by strangers that name a new meter, gateway and request id every time — leave the
 * heap (after a forced garbage collection) within a few megabytes, add no sequence number, enrolment or counter
 * name, and are answered no faster than the refusal rate limit (a flood cannot make the gateway publish a flood).
 * The acknowledgement handler and the MQTT meter driver have the same check beside their fuzz tests.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { historyRequest } from '../../../scripts/lib/customer/client.ts';
import { expectBoundedFlood, FLOOD, fuzzTimeout, junk } from '../../helpers/fuzz.ts';
import { customerUnderTest, FUZZ_GW as GW, FUZZ_T as T, operatorUnderTest } from '../../helpers/services.ts';

/** Refusals answered in a burst before the rate limit (the test's clock does not move). */
const REFUSAL_BURST = 20;

/** A new name every time: what an attacker puts where an id goes. */
const fresh = (() => {
  let n = 0;
  return (prefix: string) => `${prefix}${(n++).toString(36)}`;
})();

/** Feeds `count` messages from `make` in chunks, waiting for each chunk to be handled. */
async function flood(
  count: number,
  make: () => Buffer,
  handle: (p: Buffer) => void,
  idle: () => Promise<void>,
) {
  for (let i = 0; i < count; i++) {
    handle(make());
    if (i % 1000 === 999) await idle();
  }
  await idle();
}

describe('households request handler: bounded memory', () => {
  const s = customerUnderTest();
  afterAll(s.close);
  const strangers = Array.from({ length: 4 }, () => generateCustomerKeys());
  const junkSamples = fc.sample(junk, 500);

  it(
    `${FLOOD} junk and forged requests naming new meters and ids leave no state behind`,
    async () => {
      const before = s.state();
      let i = 0;
      const make = () => {
        i++;
        if (i % 2 === 0) return junkSamples[i % junkSamples.length]!;
        // A well-formed history request from a key that is not enrolled, for a meter id never seen.
        const { message } = historyRequest({
          gatewayId: i % 3 === 0 ? fresh('gw-') : GW,
          meterId: fresh('m-'),
          keys: strangers[i % strangers.length]!,
          from: T - 86_400_000,
          to: T,
          now: T - i,
        });
        return i % 11 === 0 ? s.sealed(message) : Buffer.from(message);
      };
      const feed = (count: number) => flood(count, make, s.handle, () => Promise.resolve());
      await expectBoundedFlood('households request handler', feed, s.metrics);
      expect(s.state()).toEqual(before);
      expect(s.link.replies).toBeLessThanOrEqual(REFUSAL_BURST);
      expect(s.metrics.get('customer.refusals_unanswered')).toBeGreaterThan(FLOOD / 4);
    },
    fuzzTimeout(120_000),
  );
});

describe('remote configuration handler: bounded memory', () => {
  const s = operatorUnderTest({ keepReplies: false });
  afterAll(s.close);
  const stranger = generateKeyPairSync('ed25519').privateKey;
  const junkSamples = fc.sample(junk, 500);
  const yaml = 'gateway:\n  id: x\n';

  it(
    `${FLOOD} junk and forged commands naming new gateways and ids leave no state behind`,
    async () => {
      const before = { file: s.fileText(), seq: s.buffer.state.get('operator.last_seq') };
      let i = 0;
      const make = () => {
        i++;
        if (i % 2 === 0) return junkSamples[i % junkSamples.length]!;
        const id = fresh('c');
        const gatewayId = i % 3 === 0 ? fresh('gw-') : GW;
        const body = {
          type: 'config-set',
          id,
          gatewayId,
          seq: T - i,
          issuedAt: new Date(T).toISOString(),
          yaml,
        };
        return s.signed(body, stranger);
      };
      const feed = (count: number) => flood(count, make, s.handle, () => s.service.idle());
      await expectBoundedFlood('remote configuration handler', feed, s.metrics);
      expect({ file: s.fileText(), seq: s.buffer.state.get('operator.last_seq') }).toEqual(before);
      expect(s.applied).toEqual([]);
      expect(s.link.replies).toBeLessThanOrEqual(REFUSAL_BURST);
    },
    fuzzTimeout(120_000),
  );
});
