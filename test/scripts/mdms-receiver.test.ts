/**
 * The reference MDMS against a real Mosquitto: it stores and acknowledges genuine batches exactly once and
 * refuses, without acknowledging, anything forged, unknown, malformed or undecryptable.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BillCost, costPlan } from '../../gateway/aggregate/bill-cost.ts';
import { NativeEngine } from '../../gateway/encrypt/engine.ts';
import { toHex } from '../../gateway/encrypt/bigint.ts';
import { COST_GUARD_BITS, releaseShiftOf } from '../../gateway/encrypt/packing.ts';
import { aggregatesCsv } from '../../scripts/lib/mdms/export.ts';
import { openEnvelope, signEnvelope } from '../../gateway/protocol/envelope.ts';
import { AckBody, NackBody, type BatchBodyMsg } from '../../gateway/protocol/messages.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import type { MdmsReceiver } from '../../scripts/lib/mdms/receiver.ts';
import { makeKeySet, type KeySet } from '../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { GATEWAY_ID, startMdms, waitFor } from '../helpers/scenario.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PREFIX = 'meterspace/v1';
const layout = { slotBits: 30, slots: ['total', 'peak', 'offpeak'] };
const SHIFT = releaseShiftOf(layout);
const OFFSET = 50_000n;
const NOISE = {
  mechanism: 'discrete-gaussian' as const,
  sigma2: '9000000/1',
  offset: OFFSET.toString(),
  clipWh: 2000,
  epsilonPerDay: 100,
  deltaPerDay: 1e-6,
  releasesPerDay: 48,
};

describe('reference MDMS receiver', () => {
  let broker: Mosquitto;
  let keys: KeySet;
  let store: MdmsStore;
  let receiver: MdmsReceiver;
  let gateway: mqtt.MqttClient;
  const acks: Buffer[] = [];
  /** The signed refusals (contract 1.1) on the same topic: their codes, in order. */
  const nacks: string[] = [];
  const gatewayKey = () => ({ privateKey: keys.gatewayPrivateKey, publicKey: keys.gatewayPublicKey });

  beforeAll(async () => {
    broker = await startMosquitto();
    keys = await makeKeySet();
    const mdms = await startMdms(
      broker.url,
      keys,
      path.join(mkdtempSync(path.join(tmpdir(), 'mdms-')), 'mdms.sqlite'),
    );
    store = mdms.store;
    receiver = mdms.receiver;
    gateway = await mqtt.connectAsync(broker.url);
    await gateway.subscribeAsync(topics.ack(PREFIX, GATEWAY_ID), { qos: 1 });
    gateway.on('message', (_t, p) => {
      const body = openEnvelope(p, keys.mdmsSigning.publicKey).body as { type: string };
      if (body.type === 'nack') nacks.push(NackBody.parse(body).code);
      else acks.push(Buffer.from(p));
    });
  });

  afterAll(async () => {
    await gateway?.endAsync();
    await receiver?.stop();
    await broker?.stop();
  });

  let seq = 0;
  function batch(records: BatchBodyMsg['records']): BatchBodyMsg {
    seq++;
    return {
      v: 1,
      type: 'batch',
      gateway: GATEWAY_ID,
      batchId: `${GATEWAY_ID}-${seq}`,
      seq,
      createdAt: '2026-01-01T00:00:00Z',
      records,
    };
  }
  /** A v2 release whose noisy value is peak + offpeak, over masked low bits, as a gateway sends it. */
  function aggregate(id: string, meters: number, peak: number, offpeak: number) {
    const engine = new NativeEngine(keys.supplier.publicKey);
    const low = BigInt(`0x${randomBytes(40).toString('hex')}`) & ((1n << BigInt(SHIFT - 2)) - 1n);
    const c = engine.encrypt(low + ((BigInt(peak + offpeak) + OFFSET) << BigInt(SHIFT)));
    return {
      kind: 'aggregate' as const,
      v: 2 as const,
      id,
      neighbourhood: 'north',
      intervalStart: '2012-10-10T00:00:00Z',
      intervalEnd: '2012-10-10T00:30:00Z',
      meters,
      k: 5,
      release: { shift: SHIFT, bits: 40 },
      noise: NOISE,
      ciphertext: toHex(c),
    };
  }
  const send = (topicGateway: string, message: string) =>
    gateway.publishAsync(topics.batch(PREFIX, topicGateway), message, { qos: 1 });

  it('stores a genuine batch, acknowledges it with the body digest, and ignores its re-send', async () => {
    const sealed = signEnvelope(
      batch([aggregate('agg:north:1', 6, 1200, 34)]),
      gatewayKey().privateKey,
      gatewayKey().publicKey,
    );
    await send(GATEWAY_ID, sealed.message);
    await waitFor(() => acks.length === 1, 10_000, 'the ack');
    const { body } = openEnvelope(acks[0]!, keys.mdmsSigning.publicKey);
    const ack = AckBody.parse(body);
    expect(ack.bodyDigest).toBe(sealed.bodyDigest);
    const [row] = store.aggregates();
    // The noisy sum with its 95 % half-width 1.96σ (σ = 3000), and the record's noise parameters.
    expect(row).toMatchObject({ record_id: 'agg:north:1', meters: 6, total_wh: 1234, bands: null });
    expect(row!.bound95_wh).toBeCloseTo(5880, 6);
    expect(JSON.parse(row!.noise!)).toEqual(NOISE);
    const csv = aggregatesCsv(store.aggregates()).split('\n');
    expect(csv[0]).toContain('total_wh,bound95_wh,clip_wh,epsilon_per_day');
    expect(csv[1]).toContain(',1234,5880,2000,100');

    await send(GATEWAY_ID, sealed.message);
    await waitFor(() => acks.length === 2, 10_000, 'the second ack');
    expect(store.counts()).toMatchObject({ batches: 1, aggregates: 1 });
    expect(receiver.metrics.get('batches.duplicate')).toBe(1);
  });

  it('takes a known batch id with other content (a gateway whose buffer was replaced) as new content', async () => {
    const before = store.counts();
    const reused = {
      ...batch([aggregate('agg:north:reused', 7, 10, 20)]),
      batchId: `${GATEWAY_ID}-1`,
      seq: 1,
    };
    const sealed = signEnvelope(reused, gatewayKey().privateKey, gatewayKey().publicKey);
    const acksBefore = acks.length;
    await send(GATEWAY_ID, sealed.message);
    await waitFor(() => acks.length === acksBefore + 1, 10_000, 'the ack');
    const ack = AckBody.parse(openEnvelope(acks.at(-1)!, keys.mdmsSigning.publicKey).body);
    expect(ack.bodyDigest).toBe(sealed.bodyDigest);
    expect(store.counts()).toMatchObject({ batches: before.batches + 1, aggregates: before.aggregates + 1 });
    expect(store.aggregates().find((a) => a.record_id === 'agg:north:reused')?.total_wh).toBe(30);
  });

  it('refuses forged, unknown, malformed and undecryptable batches without acknowledging them', async () => {
    const before = { acks: acks.length, counts: store.counts(), nacks: nacks.length };
    const stranger = generateKeyPairSync('ed25519');
    await send(
      GATEWAY_ID,
      signEnvelope(batch([aggregate('agg:north:2', 6, 1, 1)]), stranger.privateKey, stranger.publicKey)
        .message,
    );
    await send(
      'gw-unknown',
      signEnvelope(
        { ...batch([aggregate('agg:north:3', 6, 1, 1)]), gateway: 'gw-unknown' },
        gatewayKey().privateKey,
        gatewayKey().publicKey,
      ).message,
    );
    await send(GATEWAY_ID, '{"v":1,');
    await send(
      GATEWAY_ID,
      signEnvelope(
        batch([aggregate('agg:north:4', 3, 1, 1)]),
        gatewayKey().privateKey,
        gatewayKey().publicKey,
      ).message,
    );
    const bad = { ...aggregate('agg:north:5', 6, 1, 1), ciphertext: toHex(keys.supplier.publicKey.n2 + 5n) };
    await send(
      GATEWAY_ID,
      signEnvelope(batch([bad]), gatewayKey().privateKey, gatewayKey().publicKey).message,
    );
    await waitFor(
      () => receiver.metrics.get('batches.rejected.CIPHERTEXT_INVALID') === 1,
      10_000,
      'all five handled',
    );
    expect(receiver.metrics.get('batches.rejected.SIGNATURE_INVALID')).toBe(1);
    expect(receiver.metrics.get('batches.rejected.UNKNOWN_SENDER')).toBe(1);
    expect(receiver.metrics.get('batches.rejected.MESSAGE_MALFORMED')).toBe(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(acks.length).toBe(before.acks);
    expect(store.counts()).toEqual(before.counts);
    // Signed refusals for what can be named (the unknown gateway's goes to its own topic; an unreadable message
    // names no batch): forged, fewer than k meters, undecryptable.
    expect(nacks.slice(before.nacks)).toEqual(['SIGNATURE_INVALID', 'LAYOUT', 'CIPHERTEXT_INVALID']);
  });
  it('stores a release the noise made negative, and refuses one outside what clip and offset allow', async () => {
    const acksBefore = acks.length;
    const invalid = receiver.metrics.get('batches.rejected.CIPHERTEXT_INVALID');
    const sign = (records: BatchBodyMsg['records']) =>
      signEnvelope(batch(records), gatewayKey().privateKey, gatewayKey().publicKey).message;
    await send(GATEWAY_ID, sign([aggregate('agg:north:negative', 6, -700, 0)]));
    await waitFor(() => acks.length === acksBefore + 1, 10_000, 'the ack');
    expect(store.aggregates().find((a) => a.record_id === 'agg:north:negative')?.total_wh).toBe(-700);
    // 6 meters × 2 000 Wh + B is the most a genuine release can hold.
    await send(GATEWAY_ID, sign([aggregate('agg:north:too-big', 6, 6 * 2000 + Number(OFFSET) + 1, 0)]));
    await waitFor(
      () => receiver.metrics.get('batches.rejected.CIPHERTEXT_INVALID') === invalid + 1,
      10_000,
      'the refusal',
    );
    expect(acks.length).toBe(acksBefore + 1);
    expect(store.aggregates().some((a) => a.record_id === 'agg:north:too-big')).toBe(false);
  });

  describe('cost-only bills', () => {
    const prices = [300_000n, 120_000n];
    /** A cost-only bill as a gateway closes it: E(cost + masked upper part) of one peak and one off-peak total. */
    function costBill(id: string, peakWh: number, offpeakWh: number) {
      const engine = new NativeEngine(keys.supplier.publicKey);
      const plan = costPlan({
        slotBits: layout.slotBits,
        prices,
        maxBillWh: 10_000_000n,
        modulusBits: keys.supplier.publicKey.bits,
        releaseShift: SHIFT,
        maxBillClippedWh: 1_000_000n,
      });
      const band = (b: number, wh: number) => ({
        band: b,
        ciphertext: engine.encrypt(BigInt(wh) * (1n + (1n << BigInt(layout.slotBits * (1 + b))))),
      });
      const cost = new BillCost(plan, keys.supplier.publicKey, (m) => engine.encrypt(m));
      return {
        kind: 'bill' as const,
        id,
        account: 'ACC-9',
        periodStart: '2012-10-10T00:00:00Z',
        periodEnd: '2012-10-11T00:00:00Z',
        intervals: 48,
        reveal: 'cost-only' as const,
        prices: { peak: '0.3', offpeak: '0.12' },
        costBits: plan.costBits,
        ciphertext: toHex(cost.encryptedCost([band(0, peakWh), band(1, offpeakWh)])),
      };
    }
    const sendBatch = (records: BatchBodyMsg['records']) =>
      send(GATEWAY_ID, signEnvelope(batch(records), gatewayKey().privateKey, gatewayKey().publicKey).message);

    it('stores the amount due alone (Σ price × Wh, exact), no Wh, and acknowledges', async () => {
      const acksBefore = acks.length;
      await sendBatch([costBill('bill:ACC-9:a', 7_654, 3_210)]);
      await waitFor(() => acks.length === acksBefore + 1, 10_000, 'the ack');
      const row = store.bills().find((b) => b.record_id === 'bill:ACC-9:a');
      // 7.654 kWh × 0.30 + 3.21 kWh × 0.12 = 2.2962 + 0.3852
      expect(row).toMatchObject({
        reveal: 'cost-only',
        total_wh: null,
        bands: null,
        amount: '2.6814',
        intervals: 48,
      });
      expect(JSON.parse(row!.prices!)).toEqual({ peak: '0.3', offpeak: '0.12' });
    });

    it('refuses, without acknowledging, a cost too wide for the key and a plaintext whose guard bits are set', async () => {
      const before = { acks: acks.length, counts: store.counts(), nacks: nacks.length };
      const rejected = (code: string) => receiver.metrics.get(`batches.rejected.${code}`);
      const [invalid, malformed] = [rejected('CIPHERTEXT_INVALID'), rejected('MESSAGE_MALFORMED')];
      const tooWide = { ...costBill('bill:ACC-9:b', 1, 1), costBits: 2048 - COST_GUARD_BITS - 128 };
      await sendBatch([tooWide]);
      // An encryption of a value with a bit set just above the cost: what a wrong key or a corrupted
      // ciphertext decrypts to with probability 1 − 2^−32.
      const genuine = costBill('bill:ACC-9:c', 1, 1);
      const engine = new NativeEngine(keys.supplier.publicKey);
      const guarded = {
        ...genuine,
        ciphertext: toHex(engine.encrypt(5n + (1n << BigInt(genuine.costBits)))),
      };
      await sendBatch([guarded]);
      await waitFor(() => rejected('CIPHERTEXT_INVALID') === invalid + 1, 10_000, 'both handled');
      expect(rejected('MESSAGE_MALFORMED')).toBe(malformed + 1);
      await new Promise((r) => setTimeout(r, 500));
      expect(acks.length).toBe(before.acks);
      expect(store.counts()).toEqual(before.counts);
      // costBits beyond what the contract allows at all (1024) is malformed, not merely too wide for this key.
      expect(nacks.slice(before.nacks)).toEqual(['MALFORMED', 'CIPHERTEXT_INVALID']);
    });
  });
});
