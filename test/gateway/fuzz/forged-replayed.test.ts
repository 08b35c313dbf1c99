/**
 * Forged and replayed input at every inbound handler (issue #7, 7): upstream acks, operator configuration
 * commands, households' requests, sealed-meter messages and plain MQTT meter messages. For each, a table of forged
 * messages (wrong signer, tampered body with the signature kept, unsigned, wrong gateway, wrong meter key) and
 * replays (the same bytes again later, an older genuine message delivered late, an ack naming an acknowledged
 * batch or the wrong digest): each is refused, counted under its code, and changes nothing — buffer, batches,
 * configuration file, enrolments, sequence numbers, consents, readings. A genuine message is accepted in between,
 * so the replays have something to replay. Real components throughout: Mosquitto, the Uplink and the MQTT meter
 * driver with the intake on real SQLite buffers; the households' and operators' handlers are called directly.
 */
import { generateKeyPairSync } from 'node:crypto';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { generateEnrolmentCode } from '../../../gateway/customer/enrolment-code.ts';
import { rawPublicKey } from '../../../gateway/customer/raw-keys.ts';
import { requestKey } from '../../../gateway/customer/request-key.ts';
import type { Metrics } from '../../../gateway/observe/metrics.ts';
import {
  consentGrantRequest,
  enrolRequest,
  historyRequest,
  sealRequest,
} from '../../../scripts/lib/customer/client.ts';
import { ackRig } from '../../helpers/ack-rig.ts';
import { meterRig, METER_I, METER_T0, METER_TOPICS } from '../../helpers/meter-rig.ts';
import { customerUnderTest, FUZZ_GW as GW, FUZZ_T as T, operatorUnderTest } from '../../helpers/services.ts';

/** A message that must be refused: its payload and the counter it must be counted under. */
interface Refused {
  what: string;
  payload: string | Buffer;
  counter: string;
}

/** Delivers each message in turn and checks that it was counted once under its counter and changed no `state`. */
async function expectRefused(
  cases: Refused[],
  deliver: (payload: string | Buffer) => Promise<void>,
  metrics: Metrics,
  state: () => unknown,
): Promise<void> {
  for (const c of cases) {
    const before = { state: state(), count: metrics.get(c.counter) };
    await deliver(c.payload);
    expect(metrics.get(c.counter), `${c.what}: counted as ${c.counter}`).toBe(before.count + 1);
    expect(state(), `${c.what}: nothing changed`).toEqual(before.state);
  }
}

/** A signed envelope with its signed body edited and the signature kept. */
function tampered(message: string | Buffer, edit: (body: string) => string): string {
  const envelope = JSON.parse(message.toString()) as { body: string };
  const body = edit(envelope.body);
  if (body === envelope.body) throw new Error('the edit changed nothing');
  return JSON.stringify({ ...envelope, body });
}

/** The same message without its signature. */
function unsigned(message: string | Buffer): string {
  const envelope = JSON.parse(message.toString()) as { sig?: string };
  delete envelope.sig;
  return JSON.stringify(envelope);
}

/**
 * The same message with its signature spelled otherwise: the base64 character before "==" holds 2 bits of the
 * signature and 4 bits that decoders ignore; set one of those.
 */
function respelled(message: string | Buffer): string {
  const envelope = JSON.parse(message.toString()) as { sig: string };
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = alphabet.indexOf(envelope.sig[85]!);
  return JSON.stringify({ ...envelope, sig: `${envelope.sig.slice(0, 85)}${alphabet[last | 1]}==` });
}

describe('upstream acks: forged and replayed', () => {
  let rig: Awaited<ReturnType<typeof ackRig>>;
  beforeAll(async () => {
    rig = await ackRig();
  });
  afterAll(() => rig?.close());

  it('refuses forged acks and replays, counted by outcome; only the genuine ack deletes its batch', async () => {
    const { queueBatch, ackBody, signedAck, send, metrics, state } = rig;
    const a = queueBatch('agg:a');
    const b = queueBatch('agg:b');
    const genuine = signedAck(ackBody(a));
    // Signed by the MDMS before the genuine one, delivered after it (a delayed copy, or one an attacker kept).
    const older = signedAck({ ...ackBody(a), ackedAt: '2025-12-31T23:00:00Z' });
    const stranger = generateKeyPairSync('ed25519').privateKey;

    await expectRefused(
      [
        {
          what: 'signed by another key',
          payload: signedAck(ackBody(a), stranger),
          counter: 'acks.rejected.SIGNATURE_INVALID',
        },
        {
          what: "another batch's id and digest in the signed body, signature kept",
          payload: tampered(genuine, (body) =>
            body.replace(a.batchId, b.batchId).replace(a.bodyDigest, b.bodyDigest),
          ),
          counter: 'acks.rejected.SIGNATURE_INVALID',
        },
        {
          what: 'the ack body alone, unsigned',
          payload: JSON.stringify(ackBody(a)),
          counter: 'acks.rejected.MESSAGE_MALFORMED',
        },
        {
          what: 'the envelope without its signature',
          payload: unsigned(genuine),
          counter: 'acks.rejected.MESSAGE_MALFORMED',
        },
        {
          what: 'the genuine signature spelled otherwise (bits base64 ignores)',
          payload: respelled(genuine),
          counter: 'acks.rejected.MESSAGE_MALFORMED',
        },
        {
          what: 'signed by the MDMS for another gateway',
          payload: signedAck({ ...ackBody(a), gateway: 'gw-other' }),
          counter: 'acks.rejected.MESSAGE_MALFORMED',
        },
        {
          what: "the right batch id with another batch's digest",
          payload: signedAck({ ...ackBody(a), bodyDigest: b.bodyDigest }),
          counter: 'acks.digest-mismatch',
        },
        {
          what: 'a batch never sent',
          payload: signedAck({ ...ackBody(a), batchId: 'b-never-sent' }),
          counter: 'acks.unknown',
        },
      ],
      send,
      metrics,
      state,
    );

    await send(genuine);
    expect(metrics.get('acks.acked')).toBe(1);
    expect(rig.buffer.outbox.batch(a.batchId)).toBeUndefined();
    expect(rig.buffer.outbox.batch(b.batchId)).toBeDefined();

    await expectRefused(
      [
        { what: 'the same bytes again', payload: genuine, counter: 'acks.unknown' },
        { what: 'an older ack of the acknowledged batch', payload: older, counter: 'acks.unknown' },
        {
          what: "the acknowledged batch's id with the other batch's digest",
          payload: signedAck({ ...ackBody(a), bodyDigest: b.bodyDigest }),
          counter: 'acks.unknown',
        },
      ],
      send,
      metrics,
      state,
    );
    await send(signedAck(ackBody(b)));
    expect(rig.buffer.outbox.counts()).toEqual({ records: 0, unbatched: 0, batches: 0 });
    expect(metrics.get('acks.acked')).toBe(2);
  }, 60_000);
});

describe('operator configuration commands: forged and replayed', () => {
  const s = operatorUnderTest();
  afterAll(s.close);
  const deliver = async (payload: string | Buffer) => {
    s.handle(Buffer.from(payload));
    await s.service.idle();
  };
  const command = (seq: number, logLevel: string, extra: object = {}) => ({
    type: 'config-set',
    id: `c${seq}`,
    gatewayId: GW,
    seq,
    issuedAt: new Date(seq).toISOString(),
    yaml: stringify({ ...s.config, gateway: { ...s.config.gateway, logLevel } }),
    ...extra,
  });
  const state = () => ({
    file: s.fileText(),
    applied: s.applied.length,
    seq: s.buffer.state.get('operator.last_seq'),
  });
  /** The code of the last reply (the refusal the operator sees). */
  const lastReplyCode = () => {
    const { body } = JSON.parse(s.link.published.at(-1)!.payload) as { body: string };
    return (JSON.parse(body) as { code?: string }).code;
  };

  it('refuses forged commands and replays with their codes; nothing is written or applied', async () => {
    const genuine = s.signed(command(T, 'debug'));
    const older = s.signed(command(T - 60_000, 'warn'));
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const cases: (Refused & { code: string })[] = [
      { what: 'unsigned', payload: unsigned(genuine), code: 'SIGNATURE_MISSING' },
      {
        what: 'the genuine signature spelled otherwise',
        payload: respelled(genuine),
        code: 'MESSAGE_MALFORMED',
      },
      {
        what: 'signed by another key',
        payload: s.signed(command(T, 'debug'), stranger),
        code: 'SIGNATURE_INVALID',
      },
      {
        what: 'another configuration in the signed body, signature kept',
        payload: tampered(genuine, (body) => body.replace('logLevel: debug', 'logLevel: trace')),
        code: 'SIGNATURE_INVALID',
      },
      {
        what: 'for another gateway',
        payload: s.signed(command(T, 'debug', { gatewayId: 'gw-other' })),
        code: 'REQUEST_REFUSED',
      },
      {
        what: "dated an hour ahead of the gateway's clock",
        payload: s.signed(command(T + 3_600_000, 'debug')),
        code: 'REQUEST_REFUSED',
      },
    ].map((c) => ({ ...c, counter: `config.rejected.${c.code}` }));
    await expectRefused(cases, deliver, s.metrics, state);

    await deliver(genuine);
    expect(s.metrics.get('config.applied')).toBe(1);
    expect(s.fileText()).toContain('logLevel: debug');

    const replays = [
      { what: 'the same bytes again', payload: genuine, code: 'REQUEST_REPLAYED' },
      { what: 'an older command delivered late', payload: older, code: 'REQUEST_REPLAYED' },
      {
        what: 'a get with the same sequence number',
        payload: s.signed({
          type: 'config-get',
          id: 'g1',
          gatewayId: GW,
          seq: T,
          issuedAt: new Date(T).toISOString(),
        }),
        code: 'REQUEST_REPLAYED',
      },
    ].map((c) => ({ ...c, counter: `config.rejected.${c.code}` }));
    await expectRefused(replays, deliver, s.metrics, state);
    // Every refusal was answered with its code.
    expect(lastReplyCode()).toBe('REQUEST_REPLAYED');
    expect(s.metrics.get('config.handler_failed.UNEXPECTED')).toBe(0);
  });
});

describe('households requests: forged and replayed', () => {
  const s = customerUnderTest();
  afterAll(s.close);
  const deliver = (payload: string | Buffer) => {
    s.handle(Buffer.from(payload));
    return Promise.resolve();
  };
  const keys = s.household;
  const refused = (what: string, payload: string | Buffer, code: string): Refused => ({
    what,
    payload,
    counter: `customer.rejected.${code}`,
  });

  it('refuses forged requests and replays with their codes; no enrolment, sequence number, consent or history changes', async () => {
    const genuineEnrol = s.enrolment(keys, T - 50_000);
    const enrol = (o: { gatewayId?: string; code?: string; now: number }) =>
      enrolRequest({
        gatewayId: o.gatewayId ?? GW,
        meterId: 'm1',
        keys,
        authority: { kind: 'code', code: o.code ?? s.code },
        now: o.now,
      }).message;
    const otherGatewayKey = rawPublicKey(requestKey(generateKeyPairSync('ed25519').privateKey).publicKey);
    await expectRefused(
      [
        refused(
          'enrolment with a wrong code',
          s.sealed(enrol({ code: generateEnrolmentCode(), now: T - 60_000 })),
          'ENROLMENT_REFUSED',
        ),
        refused(
          'enrolment with another key in the signed body, signature kept',
          s.sealed(
            tampered(enrol({ now: T - 60_000 }), (b) =>
              b.replace(keys.publicKeys.signing, generateCustomerKeys().publicKeys.signing),
            ),
          ),
          'SIGNATURE_INVALID',
        ),
        refused(
          'enrolment naming another gateway',
          s.sealed(enrol({ gatewayId: 'gw-other', now: T - 60_000 })),
          'REQUEST_REFUSED',
        ),
        refused(
          "sealed to another gateway's request key",
          sealRequest(enrol({ now: T - 60_000 }), otherGatewayKey, GW),
          'SEAL_INVALID',
        ),
      ],
      deliver,
      s.metrics,
      s.state,
    );

    await deliver(genuineEnrol);
    expect(s.metrics.get('customer.enrolled')).toBe(1);

    const history = (now: number, signer = keys) =>
      historyRequest({ gatewayId: GW, meterId: 'm1', keys: signer, from: T - 86_400_000, to: T, now })
        .message;
    const genuineHistory = s.sealed(history(T - 40_000));
    const olderHistory = s.sealed(history(T - 45_000));
    const grant = s.sealed(
      consentGrantRequest({
        gatewayId: GW,
        meterId: 'm1',
        keys,
        grantee: { name: 'energy-coach', sealing: generateCustomerKeys().publicKeys.sealing },
        granularity: 'hourly',
        until: T + 7 * 86_400_000,
        now: T - 30_000,
      }).message,
    );
    await expectRefused(
      [
        refused('the same enrolment bytes again', genuineEnrol, 'REQUEST_REPLAYED'),
        refused(
          'history signed by a key not enrolled',
          s.sealed(history(T - 40_000, generateCustomerKeys())),
          'SIGNATURE_INVALID',
        ),
        refused(
          'history with another time range in the signed body, signature kept',
          s.sealed(
            tampered(history(T - 40_000), (b) =>
              b.replace(new Date(T - 86_400_000).toISOString(), '2000-01-01T00:00:00.000Z'),
            ),
          ),
          'SIGNATURE_INVALID',
        ),
      ],
      deliver,
      s.metrics,
      s.state,
    );

    await deliver(genuineHistory);
    await deliver(grant);
    expect(s.metrics.get('customer.history_served')).toBe(1);
    expect(s.metrics.get('customer.consent_granted')).toBe(1);

    await expectRefused(
      [
        refused('the same history bytes again', genuineHistory, 'REQUEST_REPLAYED'),
        refused('an older history request delivered late', olderHistory, 'REQUEST_REPLAYED'),
        refused('the same consent grant again', grant, 'REQUEST_REPLAYED'),
        refused('the first enrolment, once more', genuineEnrol, 'REQUEST_REPLAYED'),
      ],
      deliver,
      s.metrics,
      s.state,
    );
    expect(s.metrics.get('customer.consent_granted')).toBe(1);
  });
});

describe('MQTT meter messages: forged and replayed', () => {
  let rig: Awaited<ReturnType<typeof meterRig>>;
  beforeAll(async () => {
    rig = await meterRig();
  });
  afterAll(() => rig?.close());

  it('sealed meters: a wrong meter key, tampering or a bad ciphertext is refused; a replay is a duplicate', async () => {
    const { sealedReading, send, metrics, state, keyB, clock } = rig;
    clock.set(METER_T0 + 2 * METER_I);
    const sealedA = (payload: string | Buffer) => send(METER_TOPICS.sealedA, payload);
    const genuine = sealedReading(1, 420);
    const older = sealedReading(0, 400); // signed before interval 1's, delivered after it
    const ahead = sealedReading(100, 410); // 25 hours ahead of the gateway's clock: held
    await expectRefused(
      [
        {
          what: "signed with meter B's key",
          payload: sealedReading(1, 420, keyB.privateKey),
          counter: 'driver.mqtt.rejected.SIGNATURE_INVALID',
        },
        {
          what: 'another ciphertext in the signed body, signature kept',
          payload: tampered(genuine, (b) =>
            b.replace(/"ciphertext":"(.)/, (_, c) => `"ciphertext":"${c === '1' ? 2 : 1}`),
          ),
          counter: 'driver.mqtt.rejected.SIGNATURE_INVALID',
        },
        { what: 'unsigned', payload: unsigned(genuine), counter: 'driver.mqtt.rejected.PAYLOAD_MALFORMED' },
        {
          what: 'the genuine signature spelled otherwise (bits base64 ignores)',
          payload: respelled(genuine),
          counter: 'driver.mqtt.rejected.PAYLOAD_MALFORMED',
        },
        {
          what: 'signed by the meter in another packing layout',
          payload: sealedReading(1, 420, undefined, { slotBits: 7 }),
          counter: 'driver.mqtt.rejected.PAYLOAD_MALFORMED',
        },
        {
          what: 'signed by the meter, not a Paillier ciphertext',
          payload: sealedReading(1, 420, undefined, { ciphertext: '0' }),
          counter: 'readings.rejected.CIPHERTEXT_INVALID',
        },
      ],
      sealedA,
      metrics,
      state,
    );
    // Meter A's genuine message on meter B's topic: B's key does not verify it.
    await expectRefused(
      [
        {
          what: "meter A's message as meter B's",
          payload: genuine,
          counter: 'driver.mqtt.rejected.SIGNATURE_INVALID',
        },
      ],
      (p) => send(METER_TOPICS.sealedB, p),
      metrics,
      state,
    );

    await sealedA(genuine);
    await sealedA(ahead);
    expect(metrics.get('readings.accepted')).toBe(1);
    expect(metrics.get('readings.held')).toBe(1);

    await expectRefused(
      [
        { what: 'the same bytes again', payload: genuine, counter: 'readings.rejected.READING_DUPLICATE' },
        {
          what: 'an older reading delivered late',
          payload: older,
          counter: 'readings.rejected.READING_DUPLICATE',
        },
        { what: 'a held reading again', payload: ahead, counter: 'readings.rejected.READING_DUPLICATE' },
      ],
      sealedA,
      metrics,
      state,
    );
    expect(metrics.get('readings.accepted')).toBe(1);
  });

  it('plain meters: a repeated frame is stale, a payload of another format is refused; neither makes a reading', async () => {
    const { send, metrics, state, clock, sealedReading } = rig;
    const tasmota = (local: string, kwh: number) =>
      JSON.stringify({ Time: local, ENERGY: { Total: kwh, Power: 230 } });
    const first = tasmota('2024-03-01T12:00:00', 10);
    clock.set(Date.parse('2024-03-01T11:00:00Z'));
    await send(METER_TOPICS.plug, first);
    clock.set(Date.parse('2024-03-01T11:15:00Z'));
    const second = tasmota('2024-03-01T12:15:00', 10.25);
    await send(METER_TOPICS.plug, second);
    const readings = metrics.get('readings.accepted');
    expect(readings).toBeGreaterThanOrEqual(2); // the sealed reading above and the plug's first interval

    await expectRefused(
      [
        { what: 'the same frame again', payload: second, counter: 'driver.samples_stale' },
        {
          what: 'the generic JSON on a Tasmota topic',
          payload: JSON.stringify({ values: [{ obis: '1-0:1.8.0', value: 11, unit: 'kWh' }] }),
          counter: 'driver.mqtt.rejected.PAYLOAD_MALFORMED',
        },
        {
          what: 'a sealed reading on a plain topic',
          payload: sealedReading(2, 1),
          counter: 'driver.mqtt.rejected.PAYLOAD_MALFORMED',
        },
      ],
      (p) => send(METER_TOPICS.plug, p),
      metrics,
      state,
    );
    expect(metrics.get('readings.accepted')).toBe(readings);
  });
});
