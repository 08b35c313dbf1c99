/**
 * scripts/authority run as its operator runs it: its own key files, its own trusted gateway key and policy on the
 * command line, a real Mosquitto. A signed request of the MDMS gets a signed reply: the partial of the allowed
 * aggregate (which, with the supplier share, opens exactly) and the code of the one below --min-k; SIGTERM
 * stops it with exit code 0; `status` then counts both decisions.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rationalText } from '../../../gateway/aggregate/noise-plan.ts';
import { decodeRelease } from '../../../gateway/encrypt/packing.ts';
import { writeKeyFile } from '../../../gateway/keys/files.ts';
import { openEnvelope, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import {
  authorityTopics,
  CodecryptReply,
  DEFAULT_AUTHORITY_PREFIX,
} from '../../../scripts/lib/authority/messages.ts';
import { shareJson } from '../../../scripts/lib/split-key/share-files.ts';
import { combinePartials, partialDecrypt } from '../../../scripts/lib/split-key/shares.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { runCli } from '../../helpers/run-cli.ts';
import {
  makeSplitRig,
  SPLIT_ETA,
  SPLIT_GATEWAY,
  splitNoise,
  type SplitRig,
} from '../../helpers/split-rig.ts';
import { waitFor } from '../../helpers/wait.ts';

const AUTHORITY = path.resolve(import.meta.dirname, '../../../scripts/authority');
const pem = (k: import('node:crypto').KeyObject, type: 'pkcs8' | 'spki') =>
  k.export({ type, format: 'pem' }).toString();

describe('scripts/authority run', () => {
  let broker: Mosquitto;
  let rig: SplitRig;
  let dir: string;
  let output = '';
  let exited: Promise<number | null>;
  let child: ReturnType<typeof spawn>;

  beforeAll(async () => {
    broker = await startMosquitto();
    rig = await makeSplitRig();
    dir = mkdtempSync(path.join(tmpdir(), 'authority-cli-'));
    const f = (name: string) => path.join(dir, name);
    writeKeyFile(f('authority.share.json'), shareJson(rig.authorityShare), { secret: true });
    writeKeyFile(f('authority.ed25519.key.pem'), pem(rig.authoritySigning.privateKey, 'pkcs8'), {
      secret: true,
    });
    writeKeyFile(f('mdms.ed25519.pub.pem'), pem(rig.mdms.publicKey, 'spki'), { secret: false });
    writeKeyFile(f('gw.pub.pem'), pem(rig.gateway.publicKey, 'spki'), { secret: false });
    child = spawn(
      AUTHORITY,
      [
        'run',
        '--broker',
        broker.url,
        '--share',
        f('authority.share.json'),
        '--sign-key',
        f('authority.ed25519.key.pem'),
        '--mdms',
        f('mdms.ed25519.pub.pem'),
        '--trust',
        `${SPLIT_GATEWAY}=${f('gw.pub.pem')}`,
        '--min-k',
        '6',
        '--min-sigma2',
        rationalText(splitNoise.sigma2),
        '--db',
        f('authority.sqlite'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(
      () => output.includes('privacy authority listening'),
      30_000,
      'the authority',
      () => output,
    );
  });

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await broker?.stop();
  });

  it('answers a signed request with signed partials and codes, stops on SIGTERM, and its status counts them', async () => {
    const client = await mqtt.connectAsync(broker.url);
    await client.subscribeAsync(authorityTopics.reply(DEFAULT_AUTHORITY_PREFIX, '+'), { qos: 1 });
    const replies: Buffer[] = [];
    client.on('message', (_t, p) => replies.push(Buffer.from(p)));
    const allowed = rig.aggregate('agg:7', 7, 300, 45);
    const batch = rig.batch([rig.aggregate('agg:5', 5, 1, 1), allowed]);
    const request = {
      v: 1,
      type: 'codecrypt-request',
      id: 'cli-1',
      gateway: SPLIT_GATEWAY,
      batch: batch.message,
      records: ['agg:5', 'agg:7'],
    };
    await client.publishAsync(
      authorityTopics.request(DEFAULT_AUTHORITY_PREFIX),
      signEnvelope(request, rig.mdms.privateKey, rig.mdms.publicKey).message,
      { qos: 1 },
    );
    await waitFor(
      () => replies.length === 1,
      30_000,
      'the reply',
      () => output,
    );
    await client.endAsync();
    const reply = CodecryptReply.parse(openEnvelope(replies[0]!, rig.authoritySigning.publicKey).body);
    expect(reply).toMatchObject({ id: 'cli-1', batchDigest: batch.bodyDigest });
    expect(reply.results[0]).toEqual({ id: 'agg:5', ok: false, code: 'CODECRYPT_BELOW_K' });
    const ok = reply.results[1]!;
    if (!ok.ok) throw new Error('agg:7 refused');
    const c = BigInt(`0x${allowed.ciphertext}`);
    const m = combinePartials(rig.supplier.publicKey, [
      partialDecrypt(rig.supplier, c),
      BigInt(`0x${ok.partial}`),
    ]);
    expect(decodeRelease(m, allowed.release, BigInt(allowed.noise.offset))).toBe(345n + SPLIT_ETA);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const status = await runCli(AUTHORITY, ['status', '--db', path.join(dir, 'authority.sqlite')]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('2 decisions');
    expect(status.stdout).toContain('accepted: 1');
    expect(status.stdout).toContain('refused CODECRYPT_BELOW_K: 1');
  });
});
