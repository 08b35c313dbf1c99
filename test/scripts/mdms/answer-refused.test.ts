/**
 * The reference MDMS under MQTT 5 against a Mosquitto whose ACL denies it the ack topic (issue #20: "the reference
 * MDMS and tools follow"): the broker's PUBACK 0x87 for its answer is logged at error with the reason and counted,
 * where under MQTT 3.1.1 the broker acknowledges the dropped publish and the MDMS cannot tell.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import type { MdmsReceiver } from '../../../scripts/lib/mdms/receiver.ts';
import { makeKeySet } from '../../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { GATEWAY_ID, startMdms, waitFor } from '../../helpers/scenario.ts';

const PREFIX = 'meterspace/v1';

/** Every client may publish and read batches, and read acks; none may publish an ack. */
function aclDenyingAcks(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'acl-'));
  chmodSync(dir, 0o755); // Mosquitto started as root reads it as its own user.
  const file = path.join(dir, 'acl');
  writeFileSync(file, `topic readwrite ${PREFIX}/gw/+/batch\ntopic read ${PREFIX}/gw/+/ack\n`, {
    mode: 0o644,
  });
  return `acl_file ${file}`;
}

describe('the reference MDMS when the broker refuses its answers', { timeout: 60_000 }, () => {
  let broker: Mosquitto | undefined;
  let receiver: MdmsReceiver | undefined;
  let gateway: mqtt.MqttClient | undefined;
  afterEach(async () => {
    await gateway?.endAsync();
    await receiver?.stop();
    await broker?.stop();
  });

  for (const protocolVersion of [5, 4] as const) {
    it(`${protocolVersion === 5 ? 'reports' : 'cannot see'} the refusal under MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}`, async () => {
      broker = await startMosquitto(aclDenyingAcks());
      const keys = await makeKeySet();
      const lines: string[] = [];
      const log = pino({ level: 'info', base: undefined }, { write: (l: string) => lines.push(l) });
      const db = path.join(mkdtempSync(path.join(tmpdir(), 'mdms-')), 'mdms.sqlite');
      ({ receiver } = await startMdms(broker.url, keys, db, { clientOptions: { protocolVersion }, log }));
      gateway = await mqtt.connectAsync(broker.url, { clientId: 'gw' });
      // A batch signed by a stranger: the MDMS answers with a signed refusal (a nack) on the ack topic.
      const stranger = generateKeyPairSync('ed25519');
      const body = {
        v: 1,
        type: 'batch',
        gateway: GATEWAY_ID,
        batchId: `${GATEWAY_ID}-1`,
        seq: 1,
        createdAt: '2026-01-01T00:00:00Z',
        records: [],
      };
      const sealed = signEnvelope(body, stranger.privateKey, stranger.publicKey);
      await gateway.publishAsync(topics.batch(PREFIX, GATEWAY_ID), sealed.message, { qos: 1 });
      const r = receiver;
      await waitFor(() => r.metrics.get('batches.nacked.SIGNATURE_INVALID') === 1, 20_000, 'the nack');
      if (protocolVersion === 5) {
        await waitFor(
          () => r.metrics.get('answers.refused_by_broker.NOT_AUTHORIZED') === 1,
          20_000,
          'the refusal to be counted',
        );
        const refused = lines.filter((l) => l.includes('the broker refused the answer'));
        expect(refused).toHaveLength(1);
        expect(JSON.parse(refused[0]!)).toMatchObject({
          kind: 'nack',
          reasonCode: '0x87',
          reason: 'Not authorized',
        });
      } else {
        // The broker acknowledged the dropped publish: nothing to report (docs/reliability.md §12).
        await r.stop();
        receiver = undefined;
        expect(r.metrics.get('answers.refused_by_broker.NOT_AUTHORIZED')).toBe(0);
      }
    });
  }
});
