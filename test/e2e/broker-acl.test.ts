/**
 * A broker whose ACL drops the batches (issue #20, 7), end to end: the gateway process on MQTT 5 (the default)
 * against a Mosquitto whose `acl_file` lets every client read batches but none publish them. Mosquitto answers
 * each publish with PUBACK reason code 0x87; the gateway logs it once at error with the reason and the topic,
 * counts every refusal, keeps the batches, and its signed health message says so. (Under MQTT 3.1.1 the same
 * denial is acknowledged as a success: test/gateway/uplink/uplink-delivery.test.ts, docs/reliability.md §12.)
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { watchHealth, type HealthWatch } from '../helpers/health-watch.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { GATEWAY_ID, waitFor } from '../helpers/scenario.ts';

const PREFIX = 'meterspace/v1';

function aclDenyingBatchPublish(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'acl-'));
  // Mosquitto started as root reads it as its own user.
  chmodSync(dir, 0o755);
  const file = path.join(dir, 'acl');
  const lines = [
    `topic read ${PREFIX}/gw/+/batch`,
    ...['ack', 'status', 'health', 'customer/#', 'config/#'].map(
      (t) => `topic readwrite ${PREFIX}/gw/+/${t}`,
    ),
  ];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o644 });
  return `acl_file ${file}`;
}

describe('a broker ACL that denies the batch topic', { timeout: 180_000 }, () => {
  let h: Harness | undefined;
  let watcher: HealthWatch | undefined;
  afterAll(async () => {
    await watcher?.close();
    await h?.close();
  });

  it('is reported with the broker reason code; the batches stay buffered', async () => {
    h = await startHarness(
      { from: '2012-10-10T00:00:00Z', to: '2012-10-10T12:00:00Z', speed: 2400 },
      aclDenyingBatchPublish(),
    );
    const { scenario, keys, broker } = h;
    const config = parse(readFileSync(scenario.configFile, 'utf8')) as Record<string, unknown>;
    config.observe = { healthSeconds: 1 };
    writeFileSync(scenario.configFile, stringify(config));
    watcher = await watchHealth(broker.url, keys.gatewayPublicKey);
    const { healths } = watcher;

    h.spawn();
    await h.waitStarted();
    const refusals = () => healths.at(-1)?.delivery?.brokerRefused ?? 0;
    await waitFor(() => refusals() >= 3, 90_000, 'three refused publishes in health');
    const last = healths.at(-1)!;
    expect(last.delivery!.lastBrokerRefusal).toMatchObject({ reasonCode: 0x87, reason: 'Not authorized' });
    expect(last.buffer.batches).toBeGreaterThan(0);

    const lines = h
      .log()
      .split('\n')
      .filter((l) => l.includes('the broker refused the batch'));
    // Logged once (the next line would come ten minutes later, with a count), at error, with what to check.
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 50,
      code: 'PUBLISH_REFUSED',
      reasonCode: '0x87',
      reason: 'Not authorized',
      topic: `${PREFIX}/gw/${GATEWAY_ID}/batch`,
    });
    expect(h.log()).not.toContain('"msg":"batch published"');
    expect(h.store.counts()).toMatchObject({ aggregates: 0, suppressed: 0, bills: 0 });
  });
});
