/**
 * The reference MDMS with the supplier's key share, against a real Mosquitto and the real privacy authority:
 * batches are stored durably and acknowledged at once; while the authority is down they wait, and the MDMS backs
 * off and retries; when it returns, everything is decrypted exactly, nothing lost. A record the authority refuses
 * leaves its batch pending as refused, with the authority's code, and nothing of it stored.
 */
import { createPublicKey } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bound95 } from '../../../gateway/aggregate/noise-plan.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import { AuthorityService } from '../../../scripts/lib/authority/service.ts';
import { readLogRows, verifyTransparencyLog } from '../../../scripts/lib/authority/transparency-log.ts';
import { PendingStore } from '../../../scripts/lib/mdms/pending-store.ts';
import { MdmsReceiver } from '../../../scripts/lib/mdms/receiver.ts';
import { BACKOFF_MIN_MS } from '../../../scripts/lib/mdms/split-decryptor.ts';
import { MdmsStore, openMdmsDb } from '../../../scripts/lib/mdms/store.ts';
import { ManualTimers } from '../../helpers/manual-timers.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import {
  makeSplitRig,
  SPLIT_ETA,
  SPLIT_GATEWAY,
  splitNoise,
  type SplitRig,
} from '../../helpers/split-rig.ts';
import { waitFor } from '../../helpers/wait.ts';

const PREFIX = 'meterspace/v1';
const WAIT = 10_000;

describe('MDMS with a split key', () => {
  let broker: Mosquitto;
  let rig: SplitRig;
  let store: MdmsStore;
  let pending: PendingStore;
  let receiver: MdmsReceiver;
  let service: AuthorityService | undefined;
  let gateway: mqtt.MqttClient;
  const timers = new ManualTimers();
  const acks: string[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    rig = await makeSplitRig();
    store = new MdmsStore(openMdmsDb(path.join(mkdtempSync(path.join(tmpdir(), 'mdms-split-')), 'm.sqlite')));
    pending = new PendingStore(store.db);
    receiver = await startReceiver();
    gateway = await mqtt.connectAsync(broker.url);
    await gateway.subscribeAsync(topics.ack(PREFIX, SPLIT_GATEWAY), { qos: 1 });
    gateway.on('message', (_t, p) => acks.push(p.toString()));
  });

  afterAll(async () => {
    await gateway?.endAsync();
    await receiver?.stop();
    await service?.stop();
    await broker?.stop();
  });

  async function startReceiver(): Promise<MdmsReceiver> {
    const r = new MdmsReceiver({
      url: broker.url,
      prefix: PREFIX,
      trust: new Map([[SPLIT_GATEWAY, rig.gateway.publicKey]]),
      split: { share: rig.supplier, authorityKey: rig.authoritySigning.publicKey, timers, timeoutMs: 5_000 },
      signing: rig.mdms,
      store,
      log: silentLogger(),
    });
    await r.start();
    return r;
  }

  const startAuthority = async () => {
    const s = new AuthorityService({
      url: broker.url,
      prefix: 'meterspace/authority/v1',
      authority: rig.authority,
      signing: {
        privateKey: rig.authoritySigning.privateKey,
        publicKey: createPublicKey(rig.authoritySigning.privateKey),
      },
      log: silentLogger(),
    });
    await s.start();
    return s;
  };

  const send = (message: string) =>
    gateway.publishAsync(topics.batch(PREFIX, SPLIT_GATEWAY), message, { qos: 1 });

  it('acknowledges at once, keeps the batches while the authority is down, and backs off', async () => {
    await send(
      rig.batch([
        rig.aggregate('agg:1', 6, 1200, 34),
        rig.bill('bill:1', '2026-01-30T00:00:00Z', '2026-01-31T00:00:00Z', 500, 700),
      ]).message,
    );
    await waitFor(() => acks.length === 1, WAIT, 'the first ack');
    // The request is out; its reply timeout is the one timer set. No reply comes: the authority is down.
    await waitFor(() => timers.delays().length === 1, WAIT, 'the request timeout');
    timers.fireAll();
    await receiver.splitDecryptor!.idle();
    expect(timers.delays()).toEqual([BACKOFF_MIN_MS]);
    timers.fireAll();
    await waitFor(() => timers.delays().length === 1, WAIT, 'the second request');
    timers.fireAll();
    await receiver.splitDecryptor!.idle();
    expect(timers.delays()).toEqual([2 * BACKOFF_MIN_MS]);

    await send(rig.batch([rig.aggregate('agg:2', 9, 5, 6)]).message);
    await waitFor(() => acks.length === 2, WAIT, 'the second ack');
    expect(store.counts()).toMatchObject({ batches: 0, aggregates: 0, bills: 0 });
    expect(pending.waiting().map((b) => [b.batch_id, b.last_code])).toEqual([
      [`${SPLIT_GATEWAY}-1`, 'AUTHORITY_UNAVAILABLE'],
      [`${SPLIT_GATEWAY}-2`, null],
    ]);
    expect(receiver.metrics.get('split.authority.unavailable')).toBe(2);
  });

  it('catches up with nothing lost when the authority returns', async () => {
    service = await startAuthority();
    timers.fireAll();
    await waitFor(() => store.counts().aggregates === 2, WAIT, 'both aggregates');
    await receiver.splitDecryptor!.idle();
    expect(pending.all()).toEqual([]);
    // The noisy sums (the rig's η) with their bound; the bill exact, per band.
    const eta = Number(SPLIT_ETA);
    expect(store.aggregates().map((a) => [a.record_id, a.total_wh, a.bands, a.bound95_wh])).toEqual([
      ['agg:1', 1234 + eta, null, bound95(splitNoise)],
      ['agg:2', 11 + eta, null, bound95(splitNoise)],
    ]);
    expect(store.bills()).toMatchObject([
      { record_id: 'bill:1', total_wh: 1200, bands: JSON.stringify({ peak: 500, offpeak: 700 }) },
    ]);
    const log = verifyTransparencyLog(readLogRows(rig.log.db));
    expect(log.map((d) => [d.record, d.decision])).toEqual([
      ['agg:1', 'accepted'],
      ['bill:1', 'accepted'],
      ['agg:2', 'accepted'],
    ]);
  });

  it('keeps a batch the authority refuses as refused, with its code, and stores nothing of it', async () => {
    const before = store.counts();
    await send(rig.batch([rig.aggregate('agg:small', 4, 1, 1, 3)]).message);
    await waitFor(() => pending.all().some((b) => b.state === 'refused'), WAIT, 'the refusal');
    expect(pending.all()).toMatchObject([{ last_code: 'CODECRYPT_BELOW_K', state: 'refused' }]);
    expect(store.counts()).toEqual(before);
    expect(receiver.metrics.get('split.batches.refused.CODECRYPT_BELOW_K')).toBe(1);
  });

  it('resumes what is pending after a restart of the MDMS during an outage of the authority', async () => {
    await service!.stop();
    const acked = acks.length;
    await send(rig.batch([rig.aggregate('agg:restart', 8, 40, 2)]).message);
    await waitFor(() => acks.length === acked + 1, WAIT, 'the ack');
    await waitFor(() => timers.delays().length === 1, WAIT, 'the request timeout');
    // Shutdown abandons the request; the batch stays pending in the database.
    await receiver.stop();
    expect(pending.waiting().map((b) => b.batch_id)).toEqual([`${SPLIT_GATEWAY}-4`]);
    expect(timers.delays()).toEqual([]);

    service = await startAuthority();
    receiver = await startReceiver();
    await waitFor(() => pending.waiting().length === 0, WAIT, 'the pending batch decrypted');
    expect(store.aggregates().find((a) => a.record_id === 'agg:restart')?.total_wh).toBe(
      42 + Number(SPLIT_ETA),
    );
  });
});
