/**
 * The uplink's re-send timer on a full disk (docs/buffer.md, "When writes fail"): recording a re-send's attempt is
 * a write; with the MDMS silent and the disk full it fails on every run of the timer. It must be counted and
 * survived, not thrown out of the timer (which ended the gateway process), and re-sends go on once space returns.
 * A real buffer on a real full tmpfs (root, as in CI), a real Mosquitto.
 */
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { systemClock } from '../../../gateway/time/clock.ts';
import { Uplink } from '../../../gateway/uplink/uplink.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { fill, mountTmpfs, unfill, type SmallMount } from '../../helpers/small-mount.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('uplink re-sends on a full disk', () => {
  let mount: SmallMount | undefined;
  let broker: Mosquitto | undefined;
  let buffer: BufferStore | undefined;
  let uplink: Uplink | undefined;
  afterAll(async () => {
    await uplink?.stop();
    buffer?.close();
    await broker?.stop();
    mount?.close();
  });

  it('counts the attempts it cannot record, keeps running, and re-sends again once there is room', async () => {
    mount = mountTmpfs(64);
    const metrics = new Metrics();
    buffer = openTestBuffer(97n * 97n, metrics, { file: path.join(mount.dir, 'buffer.sqlite') });
    buffer.outbox.add({ recordId: 'r1', kind: 'suppressed', body: '{}', createdAt: 0 });
    buffer.createBatch(10, 0, () => ({ batchId: 'b1', message: '{"batch":1}', bodyDigest: 'd1' }));
    broker = await startMosquitto();
    // Nobody acknowledges: the batch is re-sent on every back-off.
    uplink = new Uplink(
      {
        url: broker.url,
        clientOptions: { clientId: `gw-disk-full-${process.pid}`, clean: true },
        prefix: 'meterspace/v1',
        gatewayId: 'gw-disk-full',
        retryInitialMs: 100,
        retryMaxMs: 200,
      },
      (url, opts) => mqtt.connect(url, opts),
      buffer,
      generateKeyPairSync('ed25519').publicKey,
      systemClock,
      metrics,
      silentLogger(),
    );
    uplink.start();
    await waitFor(() => metrics.get('batches.resent') >= 2, 30_000, 're-sends');

    fill(mount.dir);
    await waitFor(
      () => metrics.get('uplink.resend_failed.SQLITE_FULL') >= 3,
      30_000,
      'failed re-sends counted',
    );
    const resent = metrics.get('batches.resent');

    unfill(mount.dir);
    await waitFor(() => metrics.get('batches.resent') >= resent + 2, 30_000, 're-sends after the disk');
    expect(buffer.outbox.counts().batches).toBe(1);
    expect(buffer.db.pragma('integrity_check', { simple: true })).toBe('ok');
  }, 120_000);
});
