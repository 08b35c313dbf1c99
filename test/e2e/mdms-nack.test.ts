/**
 * The MDMS refuses a batch with a signed nack (issue #20; contract 1.1, docs/protocol.md §7a), end to end: the
 * reference MDMS trusts another key for this gateway, so it refuses every batch as SIGNATURE_INVALID and says so.
 * The gateway verifies each nack with the MDMS's key, rebuilds the batch once (the code suggests corruption), and
 * quarantines it at the second refusal instead of re-sending it forever; its health message (signed, every
 * second here) and the doctor report it. Then the MDMS is put right and the operator re-queues the quarantined
 * batches (`scripts/gateway requeue all`, beside the running gateway): the MDMS ends up with exactly what the
 * data holds.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { silentLogger } from '../../gateway/observe/log.ts';
import { MdmsReceiver } from '../../scripts/lib/mdms/receiver.ts';
import { watchHealth, type HealthWatch } from '../helpers/health-watch.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { runCli } from '../helpers/run-cli.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { GATEWAY_BIN, GATEWAY_ID, mdmsComplete, waitFor } from '../helpers/scenario.ts';

const PREFIX = 'meterspace/v1';

describe('the MDMS refuses batches with a signed nack', { timeout: 300_000 }, () => {
  let h: Harness | undefined;
  let wrong: MdmsReceiver | undefined;
  let watcher: HealthWatch | undefined;
  afterAll(async () => {
    await watcher?.close();
    await wrong?.stop();
    await h?.close();
  });

  it('is rebuilt once, then quarantined and reported; never re-sent forever', async () => {
    h = await startHarness({
      from: '2012-10-10T00:00:00Z',
      to: '2012-10-10T12:00:00Z',
      speed: 2400,
      upstream: { maxRecordsPerBatch: 10 },
    });
    const { scenario, keys, broker } = h;
    const config = parse(readFileSync(scenario.configFile, 'utf8')) as Record<string, unknown>;
    config.observe = { healthSeconds: 1 };
    writeFileSync(scenario.configFile, stringify(config));
    // The reference MDMS, but trusting another key for this gateway (a mistake on the MDMS's side, or a batch
    // damaged on the way: the gateway cannot tell, and rebuilds once before it gives up on the batch).
    await h.mdms.stop();
    wrong = new MdmsReceiver({
      url: broker.url,
      prefix: PREFIX,
      trust: new Map([[GATEWAY_ID, generateKeyPairSync('ed25519').publicKey]]),
      supplierKey: keys.supplier,
      signing: keys.mdmsSigning,
      store: h.store,
      log: silentLogger(),
    });
    await wrong.start();
    watcher = await watchHealth(broker.url, keys.gatewayPublicKey);
    const { healths } = watcher;

    h.spawn();
    await h.waitStarted();
    const lines = (msg: string) =>
      h!
        .log()
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}`));
    await waitFor(() => lines('batch quarantined').length >= 2, 90_000, 'two batches quarantined');
    const first = JSON.parse(lines('batch quarantined')[0]!) as { batchId: string; code: string };
    expect(first.code).toBe('SIGNATURE_INVALID');
    // Rebuilt once (byte for byte: its records were intact), refused again, quarantined: two nacks, no more.
    const rebuilt = lines('batch rebuilt').filter((l) => l.includes(first.batchId));
    expect(rebuilt).toHaveLength(1);
    expect(rebuilt[0]).toContain('"identical":true');
    expect(lines('the MDMS refused a batch').length).toBeGreaterThanOrEqual(1);

    await waitFor(
      () => healths.some((x) => (x.delivery?.quarantinedBatches ?? 0) >= 2),
      30_000,
      'health naming the quarantine',
    );
    const health = healths.find((x) => (x.delivery?.quarantinedBatches ?? 0) >= 2)!;
    expect(health.delivery!.nacked.SIGNATURE_INVALID).toBeGreaterThanOrEqual(4);
    expect(health.delivery!.quarantined.SIGNATURE_INVALID).toBeGreaterThanOrEqual(2);
    expect(health.delivery!.rebuiltBatches).toBeGreaterThanOrEqual(2);
    // Every refusal was signed and answered; nothing the MDMS refused was stored.
    expect(wrong.metrics.get('batches.nacked.SIGNATURE_INVALID')).toBeGreaterThanOrEqual(4);
    expect(h.store.counts()).toMatchObject({ aggregates: 0, suppressed: 0, bills: 0 });

    const doctor = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, '--doctor']);
    expect(doctor.stdout).toMatch(/^WARN {2}batches +\d+ batch\(es\) quarantined/m);
    expect(doctor.stdout).toContain(`batch ${first.batchId} (seq `);
    expect(doctor.stdout).toContain('SIGNATURE_INVALID: the MDMS refused it');

    // The MDMS put right, the quarantined batches re-queued: everything arrives, once.
    await wrong.stop();
    wrong = undefined;
    await h.mdms.start();
    const requeued = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, 'requeue', 'all']);
    expect(requeued.code, requeued.stderr).toBe(0);
    expect(requeued.stdout).toMatch(/^\d+ quarantined batch\(es\) re-queued: .*gw-test-/);
    expect(requeued.stdout).toContain(first.batchId);
    await waitFor(() => mdmsComplete(h!.store, scenario.expected), 120_000, 'every record at the MDMS');
    expectExactlyExpected(h.store, scenario.expected);
    const after = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, '--doctor']);
    expect(after.stdout).toMatch(/^OK {4}batches +no batch quarantined$/m);
  });
});
