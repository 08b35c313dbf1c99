/**
 * Remote configuration requests on a real configuration file, signed with real Ed25519 keys; only the broker
 * (records replies) and the running gateway (records what it is asked to apply, or fails on demand) are fakes.
 * Unsigned, wrongly signed, replayed, misaddressed, schema-invalid and floor-lowering requests are refused with
 * their codes and leave the file and the running configuration untouched; an identical configuration changes
 * nothing; a live change is written and applied; one that cannot start is rolled back; one that needs a restart
 * is written and says so; a dry run writes nothing.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../gateway/config/load.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openEnvelope, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { ConfigReply, type ConfigRequest } from '../../../gateway/protocol/operator-messages.ts';
import { OperatorService } from '../../../gateway/remote/operator-service.ts';
import { recordingTarget } from '../../helpers/config-target.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import type { MessageLink } from '../../../gateway/uplink/uplink.ts';

const GW = 'gw-test-01';
const T = Date.parse('2026-11-24T12:00:00Z');

const base = {
  gateway: { id: GW },
  keys: {
    supplierPublic: 'keys/supplier.paillier.pub.json',
    gatewayPrivate: 'keys/gateway.ed25519.key.pem',
    mdmsPublic: 'keys/mdms.ed25519.pub.pem',
    operatorPublic: 'keys/operator.ed25519.pub.pem',
  },
  upstream: { url: 'mqtt://localhost:1883' },
  drivers: { replay: { file: 'data/consumption.csv' } },
  privacy: { kFloor: 5, k: 6 },
  neighbourhoods: [{ id: 'nb-a' }],
  meters: [{ id: 'm1', neighbourhood: 'nb-a', account: 'A1', source: { driver: 'replay', household: '1' } }],
};
type Raw = typeof base & Record<string, unknown>;

class Broker implements MessageLink {
  handler: ((payload: Buffer) => void) | undefined;
  readonly replies: string[] = [];
  route(_topic: string, handler: (payload: Buffer) => void): void {
    this.handler = handler;
  }
  publish(_topic: string, payload: string): boolean {
    this.replies.push(payload);
    return true;
  }
  onConnect(): void {}
  publishRetained(): boolean {
    return true;
  }
}

function setup(opts: { failApply?: boolean } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'remote-config-'));
  const file = path.join(dir, 'gateway.yaml');
  writeFileSync(file, `# the technician's file\n${stringify(base)}`, { mode: 0o640 });
  const operator = generateKeyPairSync('ed25519');
  const gateway = generateKeyPairSync('ed25519');
  const { target, applied, running } = recordingTarget(file, opts);
  const seq = new Map<string, string>();
  const broker = new Broker();
  const clock = new ManualClock(T);
  const metrics = new Metrics();
  const service = new OperatorService(
    { gatewayId: GW, prefix: 'ms/v1', configFile: file },
    operator.publicKey,
    { privateKey: gateway.privateKey, publicKey: gateway.publicKey },
    target,
    { get: (k) => seq.get(k), set: (k, v) => void seq.set(k, v) },
    broker,
    clock,
    metrics,
    silentLogger(),
  );
  service.start();
  let nextSeq = T - 1000;
  const send = async (
    request: Partial<ConfigRequest> & { type: ConfigRequest['type'] },
    key = operator.privateKey,
  ): Promise<ConfigReply> => {
    const body = {
      id: randomBytes(6).toString('hex'),
      gatewayId: GW,
      seq: nextSeq++,
      issuedAt: new Date(T).toISOString(),
      ...request,
    };
    broker.handler!(Buffer.from(signEnvelope(body, key, createPublicKey(key)).message));
    await service.idle();
    return ConfigReply.parse(openEnvelope(broker.replies.at(-1)!, gateway.publicKey).body);
  };
  const set = (edit: (c: Raw) => void, extra: Record<string, unknown> = {}) => {
    const c = structuredClone(base) as Raw;
    edit(c);
    return send({ type: 'config-set', yaml: stringify(c), ...extra });
  };
  const fileText = () => readFileSync(file, 'utf8');
  return { dir, file, broker, send, set, applied, metrics, fileText, running, operator };
}

describe('remote configuration', () => {
  it('get returns the file as it is on disk, comments included', async () => {
    const s = setup();
    const reply = await s.send({ type: 'config-get' });
    expect(reply.ok).toBe(true);
    expect(reply.yaml).toBe(s.fileText());
    expect(reply.yaml).toContain("# the technician's file");
  });

  it('refuses unsigned, wrongly signed, replayed and misaddressed requests with their codes; nothing changes', async () => {
    const s = setup();
    const before = s.fileText();
    const unsigned = JSON.stringify({
      v: 1,
      body: JSON.stringify({
        type: 'config-get',
        id: 'x1',
        gatewayId: GW,
        seq: T,
        issuedAt: '2026-11-24T12:00:00Z',
      }),
    });
    s.broker.handler!(Buffer.from(unsigned));
    const replyTo = (raw: string) =>
      ConfigReply.parse(JSON.parse((JSON.parse(raw) as { body: string }).body));
    await new Promise((r) => setTimeout(r, 10));
    expect(replyTo(s.broker.replies.at(-1)!)).toMatchObject({
      id: 'x1',
      ok: false,
      code: 'SIGNATURE_MISSING',
    });

    const stranger = generateKeyPairSync('ed25519').privateKey;
    expect((await s.send({ type: 'config-get' }, stranger)).code).toBe('SIGNATURE_INVALID');

    const first = await s.send({ type: 'config-get', seq: T + 5 });
    expect(first.ok).toBe(true);
    expect((await s.send({ type: 'config-get', seq: T + 5 })).code).toBe('REQUEST_REPLAYED');
    expect((await s.send({ type: 'config-get', seq: T + 4 })).code).toBe('REQUEST_REPLAYED');
    expect((await s.send({ type: 'config-get', seq: T + 3_600_000 })).code).toBe('REQUEST_REFUSED');
    expect((await s.send({ type: 'config-get', seq: T + 6, gatewayId: 'gw-other' })).code).toBe(
      'REQUEST_REFUSED',
    );
    expect(s.fileText()).toBe(before);
    expect(s.applied).toEqual([]);
    expect(s.metrics.get('config.rejected.REQUEST_REPLAYED')).toBe(2);
  });

  it('refuses an invalid configuration with every issue, and one lowering the privacy floor with its reason', async () => {
    const s = setup();
    const before = s.fileText();
    const invalid = await s.set((c) => {
      c.privacy.k = 3;
      (c.meters[0] as Record<string, unknown>).neighbourhood = 'nowhere';
    });
    expect(invalid).toMatchObject({ ok: false, code: 'CONFIG_INVALID' });
    expect(invalid.issues!.map((i) => i.path)).toEqual(
      expect.arrayContaining(['meters.0.neighbourhood', 'privacy.k']),
    );

    const floor = await s.set((c) => {
      c.privacy.kFloor = 2;
      c.privacy.k = 2;
      c.keys.operatorPublic = 'keys/attacker.pub.pem';
      Object.assign(c, { billing: { period: 'daily' } });
    });
    expect(floor).toMatchObject({ ok: false, code: 'PRIVACY_FLOOR' });
    expect(floor.issues!.map((i) => i.path).sort()).toEqual(
      ['billing.period', 'keys.operatorPublic', 'privacy.kFloor'].sort(),
    );
    const yaml = await s.send({ type: 'config-set', yaml: 'gateway: [unclosed' });
    expect(yaml).toMatchObject({ ok: false, code: 'CONFIG_INVALID' });
    expect(s.fileText()).toBe(before);
    expect(s.applied).toEqual([]);
  });

  it('an identical configuration changes nothing, not even the file', async () => {
    const s = setup();
    const before = s.fileText();
    const reply = await s.set(() => {});
    expect(reply).toMatchObject({ ok: true, applied: 'unchanged', changed: [] });
    expect(s.fileText()).toBe(before);
    expect(s.applied).toEqual([]);
  });

  it('writes and applies a live change atomically, keeping the file mode; a dry run writes nothing', async () => {
    const s = setup();
    const addMeter = (c: Raw) => {
      c.neighbourhoods.push({ id: 'nb-b' });
      c.meters.push({
        id: 'm2',
        neighbourhood: 'nb-b',
        account: 'A2',
        source: { driver: 'replay', household: '2' },
      });
      c.privacy.k = 7;
    };
    const dry = await s.set(addMeter, { dryRun: true });
    expect(dry).toMatchObject({ ok: true, applied: 'checked', restartRequired: [] });
    expect(s.applied).toEqual([]);

    const reply = await s.set(addMeter);
    expect(reply).toMatchObject({ ok: true, applied: 'live', restartRequired: [] });
    expect(reply.changed!.sort()).toEqual(['meters.m2', 'neighbourhoods.nb-b', 'privacy.k']);
    expect(s.running().meters.map((m) => m.id)).toEqual(['m1', 'm2']);
    expect((parse(s.fileText()) as Raw).meters).toHaveLength(2);
    expect(statSync(s.file).mode & 0o777).toBe(0o640);
    expect(readdirSync(s.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('applies a stricter privacy budget live and refuses one above the local ceiling', async () => {
    const s = setup();
    const stricter = await s.set(
      (c) => ((c.privacy as Record<string, unknown>).noise = { epsilonPerDay: 20, deltaPerDay: 1e-8 }),
    );
    expect(stricter).toMatchObject({ ok: true, applied: 'live', restartRequired: [] });
    expect(stricter.changed!.sort()).toEqual(['privacy.noise.deltaPerDay', 'privacy.noise.epsilonPerDay']);
    expect(s.running().privacy.noise).toMatchObject({ epsilonPerDay: 20, deltaPerDay: 1e-8 });
    const looser = await s.set(
      (c) => ((c.privacy as Record<string, unknown>).noise = { epsilonPerDay: 101 }),
    );
    expect(looser).toMatchObject({ ok: false, code: 'CONFIG_INVALID' });
    expect(s.running().privacy.noise.epsilonPerDay).toBe(20);
  });

  it('rolls a change that cannot start back to the previous file and says why', async () => {
    const s = setup({ failApply: true });
    const before = s.fileText();
    const reply = await s.set((c) => {
      c.neighbourhoods.push({ id: 'nb-z' });
      c.meters.push({
        id: 'm9',
        neighbourhood: 'nb-z',
        account: 'A9',
        source: { driver: 'replay', household: '9' },
      });
    });
    expect(reply).toMatchObject({ ok: false, code: 'CONFIG_ROLLED_BACK' });
    expect(reply.message).toContain('[SERIAL_PORT_FAILED] no /dev/ttyUSB9');
    expect(s.fileText()).toBe(before);
    expect(s.running().meters.map((m) => m.id)).toEqual(['m1']);
  });

  it('writes a change that needs a restart and says so, applying nothing now', async () => {
    const s = setup();
    const reply = await s.set((c) => {
      Object.assign(c.upstream, { maxRecordsPerBatch: 50 });
      c.privacy.k = 8;
    });
    expect(reply).toMatchObject({
      ok: true,
      applied: 'restart',
      restartRequired: ['upstream.maxRecordsPerBatch'],
    });
    expect(reply.changed).toContain('privacy.k');
    expect(s.applied).toEqual([]);
    expect(s.running().upstream.maxRecordsPerBatch).not.toBe(50);
    expect(loadConfigFile(s.file).upstream.maxRecordsPerBatch).toBe(50);
  });
});
