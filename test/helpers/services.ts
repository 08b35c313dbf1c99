/**
 * The handlers anyone on the upstream broker can reach, each built as the gateway builds it around a real SQLite
 * buffer and real keys, with a DirectLink in place of the broker: the households' request handler and the remote
 * configuration handler. For the fuzz, forged/replayed and bounded-memory tests (issue #7, 7–8).
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../gateway/config/load.ts';
import { ConsentLog } from '../../gateway/customer/consent-log.ts';
import { Consents } from '../../gateway/customer/consents.ts';
import { generateCustomerKeys, type CustomerKeys } from '../../gateway/customer/customer-key.ts';
import { CustomerService } from '../../gateway/customer/customer-service.ts';
import { codeKeyPair, generateEnrolmentCode } from '../../gateway/customer/enrolment-code.ts';
import { rawPublicKey } from '../../gateway/customer/raw-keys.ts';
import { requestKey } from '../../gateway/customer/request-key.ts';
import { SharedStore } from '../../gateway/customer/shared-store.ts';
import { SharedStream } from '../../gateway/customer/shared-stream.ts';
import { silentLogger } from '../../gateway/observe/log.ts';
import { Metrics } from '../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../gateway/protocol/envelope.ts';
import { OperatorService } from '../../gateway/remote/operator-service.ts';
import { ManualClock } from '../../gateway/time/clock.ts';
import { enrolRequest, sealRequest } from '../../scripts/lib/customer/client.ts';
import { openTestBuffer } from './buffer.ts';
import { DirectLink } from './fuzz.ts';

export const FUZZ_GW = 'gw-fuzz';
export const FUZZ_T = Date.parse('2026-11-24T12:00:00Z');

/** The households' request handler of gateway FUZZ_GW (meters m1, m2; an enrolment code for m1). */
export function customerUnderTest(o: { keepReplies?: boolean } = {}) {
  const buffer = openTestBuffer(97n * 97n, new Metrics());
  const identity = generateKeyPairSync('ed25519');
  const code = generateEnrolmentCode();
  const link = new DirectLink(o.keepReplies);
  const metrics = new Metrics();
  const clock = new ManualClock(FUZZ_T);
  const consents = new Consents(
    { gatewayId: FUZZ_GW, prefix: 'p', intervalMinutes: 30 },
    new ConsentLog(buffer.db),
  );
  const shared = new SharedStream(
    { intervalMs: 1_800_000, timeZone: 'UTC', graceMs: 0, maxReadingAgeMs: 86_400_000 },
    consents,
    new SharedStore(buffer.db),
    link,
    identity,
    metrics,
    silentLogger(),
  );
  const service = new CustomerService(
    {
      gatewayId: FUZZ_GW,
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
      codes: () => new Map([['m1', codeKeyPair(code, FUZZ_GW, 'm1').publicKey]]),
    },
    buffer.customers,
    buffer.history,
    link,
    identity,
    { consents, shared },
    { wall: clock, data: clock },
    metrics,
    silentLogger(),
  );
  service.start();
  const handle = link.handlers.get(`p/gw/${FUZZ_GW}/customer/request`)!;
  const requestKeyRaw = rawPublicKey(requestKey(identity.privateKey).publicKey);
  /** A request message sealed to this gateway's request key, as the household tool sends it. */
  const sealed = (message: string) => Buffer.from(sealRequest(message, requestKeyRaw, FUZZ_GW));
  /** A sealed enrolment of `keys` for m1 with the meter's code, at `now`. */
  const enrolment = (keys: CustomerKeys, now: number) =>
    sealed(
      enrolRequest({ gatewayId: FUZZ_GW, meterId: 'm1', keys, authority: { kind: 'code', code }, now })
        .message,
    );
  /** What a refused request must leave as it was. */
  const state = () => ({
    customers: buffer.db.prepare('SELECT meter_id, signing, sealing FROM customers ORDER BY 1').all(),
    seq: buffer.db.prepare('SELECT meter_id, last_seq FROM customer_seq ORDER BY 1').all(),
    log: buffer.db.prepare('SELECT COUNT(*) AS n FROM consent_log').get(),
    history: buffer.db.prepare('SELECT COUNT(*) AS n FROM customer_history').get(),
  });
  return {
    buffer,
    service,
    link,
    metrics,
    clock,
    code,
    handle,
    sealed,
    enrolment,
    state,
    household: generateCustomerKeys(),
    close: () => buffer.close(),
  };
}

/** The remote configuration handler of gateway FUZZ_GW, with its configuration file and operator key. */
export function operatorUnderTest(o: { keepReplies?: boolean } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'fuzz-config-'));
  const file = path.join(dir, 'gateway.yaml');
  const config = {
    gateway: { id: FUZZ_GW },
    keys: { supplierPublic: 's', gatewayPrivate: 'g', mdmsPublic: 'm' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: { replay: { file: 'x.csv' } },
    neighbourhoods: [{ id: 'n' }],
    meters: [{ id: 'm1', neighbourhood: 'n', account: 'a', source: { driver: 'replay', household: '1' } }],
  };
  writeFileSync(file, stringify(config));
  const buffer = openTestBuffer(97n * 97n, new Metrics());
  const operator = generateKeyPairSync('ed25519');
  const identity = generateKeyPairSync('ed25519');
  const link = new DirectLink(o.keepReplies ?? true);
  const metrics = new Metrics();
  const clock = new ManualClock(FUZZ_T);
  const applied: unknown[] = [];
  const running = loadConfigFile(file);
  const service = new OperatorService(
    { gatewayId: FUZZ_GW, prefix: 'p', configFile: file },
    operator.publicKey,
    identity,
    {
      running: () => running,
      preflight: () => Promise.resolve(),
      apply: (next) => {
        applied.push(next);
        return Promise.resolve();
      },
    },
    buffer.state,
    link,
    clock,
    metrics,
    silentLogger(),
  );
  service.start();
  const handle = link.handlers.get(`p/gw/${FUZZ_GW}/config/request`)!;
  /** A command signed by `key` (the operator's by default). */
  const publicKeys = new Map<KeyObject, KeyObject>();
  const signed = (body: object, key = operator.privateKey) => {
    let pub = publicKeys.get(key);
    if (!pub) publicKeys.set(key, (pub = createPublicKey(key)));
    return Buffer.from(signEnvelope(body, key, pub).message);
  };
  return {
    file,
    config,
    buffer,
    service,
    link,
    metrics,
    clock,
    applied,
    handle,
    signed,
    fileText: () => readFileSync(file, 'utf8'),
    close: () => buffer.close(),
  };
}
