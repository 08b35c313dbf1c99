/**
 * The MQTT handlers that anyone on the broker can reach — households' requests and operators' configuration
 * commands — fed thousands of generated payloads (issue #7, 7–8): arbitrary bytes, arbitrary JSON, well-formed
 * envelopes with arbitrary bodies, and valid messages with bytes flipped. No payload escapes the handler as an
 * exception, every one is refused and counted, nothing is enrolled, granted or written, and the handlers still
 * serve a genuine request afterwards. Real SQLite buffer, real keys and seals; the broker is a fake that hands the
 * payloads over and records the replies.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../gateway/config/load.ts';
import { ConsentLog } from '../../../gateway/customer/consent-log.ts';
import { Consents } from '../../../gateway/customer/consents.ts';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { CustomerService } from '../../../gateway/customer/customer-service.ts';
import { codeKeyPair, generateEnrolmentCode } from '../../../gateway/customer/enrolment-code.ts';
import { rawPublicKey } from '../../../gateway/customer/raw-keys.ts';
import { requestKey } from '../../../gateway/customer/request-key.ts';
import { SharedStore } from '../../../gateway/customer/shared-store.ts';
import { SharedStream } from '../../../gateway/customer/shared-stream.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { OperatorService } from '../../../gateway/remote/operator-service.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import type { MessageLink } from '../../../gateway/uplink/uplink.ts';
import { enrolRequest, sealRequest } from '../../../scripts/lib/customer/client.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';

const GW = 'gw-fuzz';
const T = Date.parse('2026-11-24T12:00:00Z');
const RUNS = 1500;

class Broker implements MessageLink {
  readonly handlers = new Map<string, (payload: Buffer) => void>();
  replies = 0;
  route(topic: string, handler: (payload: Buffer) => void): void {
    this.handlers.set(topic, handler);
  }
  publish(): boolean {
    this.replies++;
    return true;
  }
  publishRetained(): boolean {
    return true;
  }
  onConnect(): void {}
}

/** Payloads of every kind: raw bytes, any JSON, envelopes and request shapes with arbitrary contents. */
const payloads = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
  fc
    .record({
      v: fc.oneof(fc.constant(1), fc.jsonValue()),
      body: fc.jsonValue().map((b) => JSON.stringify(b)),
      sig: fc.string(),
    })
    .map((m) => Buffer.from(JSON.stringify(m))),
  fc
    .record({ v: fc.constant(1), sealed: fc.base64String({ maxLength: 400 }) })
    .map((m) => Buffer.from(JSON.stringify(m))),
  fc
    .record({
      type: fc.constantFrom(
        'enrol',
        'history',
        'erase',
        'info',
        'consent-grant',
        'consent-revoke',
        'consents',
      ),
      id: fc.string({ maxLength: 70 }),
      gatewayId: fc.constantFrom(GW, 'other', ''),
      meterId: fc.constantFrom('m1', 'm2', ''),
      seq: fc.oneof(fc.integer(), fc.double()),
      issuedAt: fc.string(),
    })
    .map((body) => Buffer.from(JSON.stringify({ v: 1, body: JSON.stringify(body), sig: 'AAAA' }))),
);

/** A valid message with one byte changed. */
const flipped = (valid: Buffer) =>
  fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const copy = Buffer.from(valid);
    copy[i] = copy[i]! ^ x;
    return copy;
  });

describe('households request handler under fuzzing', () => {
  const buffer = openTestBuffer(97n * 97n, new Metrics());
  afterAll(() => buffer.close());
  const identity = generateKeyPairSync('ed25519');
  const code = generateEnrolmentCode();
  const broker = new Broker();
  const metrics = new Metrics();
  const clock = new ManualClock(T);
  const consents = new Consents(
    { gatewayId: GW, prefix: 'p', intervalMinutes: 30 },
    new ConsentLog(buffer.db),
  );
  const shared = new SharedStream(
    { intervalMs: 1_800_000, timeZone: 'UTC', graceMs: 0, maxReadingAgeMs: 86_400_000 },
    consents,
    new SharedStore(buffer.db),
    broker,
    identity,
    metrics,
    silentLogger(),
  );
  const service = new CustomerService(
    {
      gatewayId: GW,
      prefix: 'p',
      meters: ['m1', 'm2'],
      historyDays: 30,
      upstreamOf: () => ({
        neighbourhood: 'n',
        k: 5,
        billingAccount: 'a',
        billingPeriod: 'monthly',
        tariffBands: ['all'],
        intervalMinutes: 30,
      }),
      codes: () => new Map([['m1', codeKeyPair(code, GW, 'm1').publicKey]]),
    },
    buffer.customers,
    buffer.history,
    broker,
    identity,
    { consents, shared },
    { wall: clock, data: clock },
    metrics,
    silentLogger(),
  );
  service.start();
  const handle = broker.handlers.get(`p/gw/${GW}/customer/request`)!;
  const household = generateCustomerKeys();
  const valid = (now: number) =>
    Buffer.from(
      sealRequest(
        enrolRequest({
          gatewayId: GW,
          meterId: 'm1',
          keys: household,
          authority: { kind: 'code', code },
          now,
        }).message,
        rawPublicKey(requestKey(identity.privateKey).publicKey),
        GW,
      ),
    );
  const state = () => ({
    customers: buffer.db.prepare('SELECT COUNT(*) AS n FROM customers').get(),
    log: buffer.db.prepare('SELECT COUNT(*) AS n FROM consent_log').get(),
  });

  it('refuses and counts every generated payload, throwing nothing and changing nothing', () => {
    const before = state();
    fc.assert(
      fc.property(fc.oneof(payloads, flipped(valid(T - 1000))), (payload) => {
        handle(payload);
      }),
      { numRuns: RUNS },
    );
    expect(state()).toEqual(before);
    const refused = Object.entries(metrics.snapshot())
      .filter(([k]) => k.startsWith('customer.rejected.'))
      .reduce((n, [, v]) => n + v, 0);
    expect(refused).toBeGreaterThanOrEqual(RUNS * 0.99);
    // Still serving: the genuine request enrols.
    handle(valid(T));
    expect(buffer.customers.get('m1')?.keys.signing).toBe(household.publicKeys.signing);
  });
});

describe('remote configuration handler under fuzzing', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fuzz-config-'));
  const file = path.join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    stringify({
      gateway: { id: GW },
      keys: { supplierPublic: 's', gatewayPrivate: 'g', mdmsPublic: 'm' },
      upstream: { url: 'mqtt://127.0.0.1:1' },
      drivers: { replay: { file: 'x.csv' } },
      neighbourhoods: [{ id: 'n' }],
      meters: [{ id: 'm1', neighbourhood: 'n', account: 'a', source: { driver: 'replay', household: '1' } }],
    }),
  );
  const original = readFileSync(file, 'utf8');
  const operator = generateKeyPairSync('ed25519');
  const identity = generateKeyPairSync('ed25519');
  const broker = new Broker();
  const metrics = new Metrics();
  let applied = 0;
  const running = loadConfigFile(file);
  const seq = new Map<string, string>();
  const service = new OperatorService(
    { gatewayId: GW, prefix: 'p', configFile: file },
    operator.publicKey,
    identity,
    {
      running: () => running,
      preflight: () => Promise.resolve(),
      apply: () => {
        applied++;
        return Promise.resolve();
      },
    },
    { get: (k) => seq.get(k), set: (k, v) => void seq.set(k, v) },
    broker,
    new ManualClock(T),
    metrics,
    silentLogger(),
  );
  service.start();
  const handle = broker.handlers.get(`p/gw/${GW}/config/request`)!;
  const signed = (body: object) =>
    Buffer.from(signEnvelope(body, operator.privateKey, createPublicKey(operator.privateKey)).message);

  it('refuses every generated command without a valid signature, and every signed one with a bad body', async () => {
    const get = signed({
      type: 'config-get',
      id: 'g1',
      gatewayId: GW,
      seq: T - 5000,
      issuedAt: new Date(T).toISOString(),
    });
    fc.assert(
      fc.property(
        fc.oneof(
          payloads,
          flipped(get),
          // Signed by the operator, but the body is anything: arbitrary configuration text included.
          fc
            .record({
              type: fc.constantFrom('config-set', 'config-get', 'other'),
              id: fc.constantFrom('x1', ''),
              gatewayId: fc.constant(GW),
              seq: fc.constant(1),
              issuedAt: fc.string(),
              yaml: fc.oneof(
                fc.string({ maxLength: 300 }),
                fc.jsonValue().map((v) => stringify(v)),
              ),
            })
            .map(signed),
        ),
        (payload) => {
          handle(payload);
        },
      ),
      { numRuns: RUNS },
    );
    await service.idle();
    expect(readFileSync(file, 'utf8')).toBe(original);
    expect(applied).toBe(0);
    expect(metrics.snapshot()['config.handler_failed.UNEXPECTED'] ?? 0).toBe(0);
    // Still serving, in order: a genuine request is answered.
    const before = broker.replies;
    handle(
      signed({ type: 'config-get', id: 'g2', gatewayId: GW, seq: T, issuedAt: new Date(T).toISOString() }),
    );
    await service.idle();
    expect(broker.replies).toBe(before + 1);
  });
});
