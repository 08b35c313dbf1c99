/**
 * Secrets at rest and on the wire (issue #7, item 9), end to end with every feature on: a gateway process at log
 * level debug with cost-only bills, health every second and the Prometheus endpoint, remote configuration by the
 * operator's tool, a household enrolled with its meter's code and streaming live, a third party receiving what the
 * household consents to, the household's history fetched, all over a real Mosquitto to the reference MDMS (set up
 * while the data clock is still weeks before the data, then restarted for the data). Then
 * every file under the data directory (the SQLite file, its WAL and SHM, taken while the gateway runs and again
 * after it stopped), the configuration as remote configuration left it, the log file, the gateway's stdout and
 * stderr, the metrics and every message on the broker from before the gateway's start (and the retained ones at
 * the end) are searched for any plaintext reading and for any private key: the gateway's identity and the request
 * key derived from it, the households', the third party's, the operator's, the MDMS's, the supplier's Paillier
 * λ, μ, p and q, and the enrolment code with the key it stands for. The needles are checked on the files that do
 * hold each secret, so the search is known to find what it looks for. The gateway process may not dump core.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.ts';
import { customerKeyJson, loadCustomerKeys } from '../../gateway/customer/customer-key.ts';
import { requestKey } from '../../gateway/customer/request-key.ts';
import { packingLayout } from '../../gateway/gateway.ts';
import { loadPrivateKey } from '../../gateway/keys/files.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import { isoUtc } from '../../gateway/time/zoned.ts';
import { isPeak } from '../helpers/consumption.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { customer, issueCode, KEYGEN, spawnCustomer, type RunningTool } from '../helpers/household.ts';
import { findNeedles, plaintextNeedles } from '../helpers/plaintext-scan.ts';
import { freePort } from '../helpers/ports.ts';
import { runCli } from '../helpers/run-cli.ts';
import { GATEWAY_ID, mdmsComplete, TEST_METERS, waitFor } from '../helpers/scenario.ts';
import {
  enrolmentCodeNeedles,
  filesUnder,
  okpKeyNeedles,
  paillierNeedles,
  type Needles,
} from '../helpers/secret-scan.ts';

const OPERATOR = path.resolve(import.meta.dirname, '../../scripts/operator');
const FROM = '2012-10-09T12:00:00Z';
const TO = '2012-10-10T00:00:00Z';
const PREFIX = 'meterspace/v1';
const HOUR = 3_600_000;
/**
 * The gateway first runs with its data clock this far before the data (25 data days at 3600x, inside a consent's
 * 366 days), however long enrolling and configuring take on a starved machine; then it restarts anchored at now.
 */
const WAIT_SECONDS = 600;

describe('no plaintext reading and no private key at rest, in logs or on the wire', () => {
  let h: Harness;
  let dir: string;
  let metricsPort: number;
  const meter = TEST_METERS[0]!;
  const tools: ChildProcess[] = [];
  let sniffer: mqtt.MqttClient | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'secrets-'));
    const operator = await runCli(KEYGEN, ['operator', '--out', path.join(dir, 'operator')]);
    expect(operator.code, operator.stderr).toBe(0);
    h = await startHarness({
      from: FROM,
      to: TO,
      speed: 3600,
      graceMinutes: { intervals: 180, billing: 180 },
      billing: { reveal: 'cost-only', prices: { peak: 0.2875, offpeak: 0.123456 } },
      keysExtra: {
        enrolmentCodes: path.join(dir, 'enrolment-codes.json'),
        operatorPublic: path.join(dir, 'operator', 'operator.ed25519.pub.pem'),
      },
    });
    metricsPort = await freePort();
  }, 120_000);

  afterAll(async () => {
    for (const t of tools) t.kill('SIGTERM');
    await sniffer?.endAsync();
    await h?.close();
  });

  it('finds none in the buffer, WAL, SHM, data directory, configuration, log, output, metrics or broker', async () => {
    const householdKey = path.join(dir, 'household.key.json');
    const coachKey = path.join(dir, 'coach.key.json');
    const keygen = async (key: string) => {
      const made = await customer(['keygen', '--key', key]);
      expect(made.code, made.stderr).toBe(0);
    };
    // The installer's code, the household's keys, the third party's keys and the public key it hands over.
    const [code, , granteeKey] = await Promise.all([
      issueCode(h, meter.id),
      keygen(householdKey),
      keygen(coachKey).then(
        async () =>
          /--grantee-key=(\S+)/.exec((await customer(['public-key', '--key', coachKey])).stdout)![1]!,
      ),
    ]);
    // Everything on the broker from before the gateway's first message, as its operator could record it.
    const seen: { topic: string; payload: Buffer }[] = [];
    sniffer = await mqtt.connectAsync(h.broker.url, { clientId: 'sniffer' });
    sniffer.on('message', (topic, payload) => seen.push({ topic, payload: Buffer.from(payload) }));
    await sniffer.subscribeAsync('#', { qos: 1 });

    const configFile = h.scenario.configFile;
    const config = parse(readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    config.observe = { healthSeconds: 1, metrics: { listen: String(metricsPort) } };
    config.clock!.anchor = new Date(Date.now() + WAIT_SECONDS * 1000).toISOString();
    writeFileSync(configFile, stringify(config));
    const log = () => (existsSync(h.scenario.logFile) ? readFileSync(h.scenario.logFile, 'utf8') : '');
    const started = (n: number) => log().split('"msg":"started"').length > n;
    const first = h.spawn();
    await waitFor(() => started(1), 60_000, 'the gateway to start', first.output);

    // The household enrols with its code and listens; it grants a third party hourly sums, who listens too.
    const enrolAndShare = async () => {
      const enrolled = await customer([
        ...['enrol', '--key', householdKey, '--broker', h.broker.url, '--gateway', GATEWAY_ID],
        ...['--meter', meter.id, '--code', code],
      ]);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      const grantee = ['--name', 'Energy coach', `--grantee-key=${granteeKey}`];
      const granted = await customer([
        ...['consent', 'grant', '--key', householdKey, ...grantee],
        ...['--granularity', 'hourly', '--until', TO],
      ]);
      expect(granted.code, granted.stderr).toBe(0);
      return granted.stdout;
    };
    // Meanwhile the operator sets a component's log level remotely (the most verbose there is).
    const operator = async () => {
      const remote = structuredClone(config);
      remote.gateway = { ...remote.gateway, logLevels: { customer: 'trace' } };
      const remoteFile = path.join(dir, 'remote.yaml');
      writeFileSync(remoteFile, stringify(remote));
      const applied = await runCli(OPERATOR, [
        ...['set', '--file', remoteFile, '--gateway', GATEWAY_ID],
        ...['--broker', h.broker.url, '--timeout', '90'],
        ...['--key', path.join(dir, 'operator', 'operator.ed25519.key.pem')],
        ...['--gateway-public', h.keys.files.gatewayPublic],
      ]);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain('applied, without a restart');
    };
    const [granted] = await Promise.all([enrolAndShare(), operator()]);

    // The data now: restarted with its clock anchored a moment from now (the operator's change kept).
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const current = parse(readFileSync(configFile, 'utf8')) as typeof config;
    expect(current.gateway!.logLevels).toEqual({ customer: 'trace' });
    current.clock!.anchor = new Date(Date.now() + 20_000).toISOString();
    writeFileSync(configFile, stringify(current));
    const gateway = h.spawn();
    await waitFor(() => started(2), 60_000, 'the gateway to start again', gateway.output);
    // The household listens to its readings, the third party to what it shares.
    const live = spawnCustomer(['live', '--key', householdKey]);
    const coach = spawnCustomer([
      ...['receive', '--csv', '--key', coachKey, '--broker', h.broker.url],
      `--topic=${/--topic=(\S+)/.exec(granted)![1]!}`,
      `--gateway-key=${/--gateway-key=(\S+)/.exec(granted)![1]!}`,
    ]);
    tools.push(live.child, coach.child);
    // No core dump can take its keys away: scripts/gateway sets the limit to 0, soft and hard.
    expect(readFileSync(`/proc/${gateway.child.pid}/limits`, 'utf8')).toMatch(
      /^Max core file size\s+0\s+0\s/m,
    );

    // Every sum, suppression and cost-only bill at the MDMS; the household's readings live; every hourly sum,
    // each the sum of the hour's two CSV readings (a reading past its hour's grace still joins it until the
    // gateway closes the hour: a starved gateway once gave two half hours and lost one).
    const rows = h.scenario.rows.filter((r) => r.household === meter.household);
    const hourly = Array.from({ length: 12 }, (_, i) => Date.parse(FROM) + i * HOUR).map((start) => {
      const wh = rows.filter((r) => r.end > start && r.end <= start + HOUR).reduce((a, r) => a + r.wh, 0);
      return `hourly,${isoUtc(start)},${isoUtc(start + HOUR)},${wh},60`;
    });
    const lines = (t: RunningTool) => t.out().trim().split('\n').filter(Boolean);
    await waitFor(
      () =>
        mdmsComplete(h.store, h.scenario.expected) &&
        // The last hour closes last: every hour before it has been sent by then.
        lines(coach).some((l) => l.includes(`,${isoUtc(Date.parse(TO))},`)) &&
        lines(live).length >= rows.length,
      120_000,
      'every record at the MDMS, live readings and shared sums',
      () => {
        const topicsSeen = new Map<string, number>();
        for (const m of seen) topicsSeen.set(m.topic, (topicsSeen.get(m.topic) ?? 0) + 1);
        return [
          JSON.stringify(h.store.counts()),
          live.err(),
          live.out(),
          coach.err(),
          coach.out(),
          gateway.output(),
          ...topicsSeen,
        ].join('\n');
      },
    );
    expect(h.store.counts().bills).toBe(h.scenario.expected.bills.size);
    expect(lines(coach).slice(1)).toEqual(hourly);
    const history = await customer(['history', '--key', householdKey, '--from', FROM, '--to', TO, '--csv']);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout.trim().split('\n').length - 1).toBe(rows.length);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('meterspace_readings_accepted_total');

    // At rest while it runs (the WAL and SHM exist now), then after a clean stop.
    const dataDir = path.dirname(h.scenario.dbFile);
    const running = filesUnder(dataDir);
    expect([...running.keys()].map((f) => path.basename(f))).toEqual(
      expect.arrayContaining(['buffer.sqlite', 'buffer.sqlite-wal', 'buffer.sqlite-shm']),
    );
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    const stopped = filesUnder(dataDir);
    const retained: Buffer[] = [];
    const late = await mqtt.connectAsync(h.broker.url, { clientId: 'late' });
    late.on('message', (_t, payload, packet) => packet.retain && retained.push(Buffer.from(payload)));
    await late.subscribeAsync('#', { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await late.endAsync();
    expect(retained.length).toBeGreaterThan(0);

    const haystacks = new Map<string, Buffer>([
      ...[...running].map(([f, b]) => [`${f} (running)`, b] as const),
      ...[...stopped].map(([f, b]) => [`${f} (stopped)`, b] as const),
      [configFile, readFileSync(configFile)],
      [h.scenario.logFile, readFileSync(h.scenario.logFile)],
      ['stdout and stderr', Buffer.from(first.output() + gateway.output())],
      ['metrics', Buffer.from(metrics)],
      ['broker', Buffer.concat(seen.map((m) => m.payload))],
      ['broker, retained', Buffer.concat(retained)],
    ]);
    // Everything was on: sealed live readings and shared sums, health, operator replies, customer replies.
    const on = (topic: string) => seen.filter((m) => m.topic.startsWith(topic)).length;
    const stream = (
      JSON.parse(readFileSync(`${householdKey}.enrolment.json`, 'utf8')) as { pseudonym: string }
    ).pseudonym;
    expect(on(topics.customerLive(PREFIX, stream))).toBeGreaterThan(0);
    expect(on(topics.health(PREFIX, GATEWAY_ID))).toBeGreaterThan(3);
    expect(seen.length).toBeGreaterThan(100);
    expect(readFileSync(h.scenario.logFile, 'utf8')).toContain('"level":20');

    // (a) No plaintext reading.
    const layout = packingLayout(loadConfigFile(configFile), h.keys.supplier.publicKey.bits);
    const plaintext = plaintextNeedles(h.scenario.rows, layout, isPeak);
    expect(plaintext.size).toBeGreaterThan(300);
    // (b) No private key.
    const household = loadCustomerKeys(householdKey);
    const third = loadCustomerKeys(coachKey);
    const secrets: Needles = new Map();
    okpKeyNeedles('gateway identity', h.keys.gatewayPrivateKey, secrets);
    okpKeyNeedles('gateway request key', requestKey(h.keys.gatewayPrivateKey).privateKey, secrets);
    okpKeyNeedles('household sealing key', household.sealingPrivate, secrets);
    okpKeyNeedles('household signing key', household.signingPrivate, secrets);
    okpKeyNeedles('third party sealing key', third.sealingPrivate, secrets);
    okpKeyNeedles('third party signing key', third.signingPrivate, secrets);
    const operatorKey = path.join(dir, 'operator', 'operator.ed25519.key.pem');
    okpKeyNeedles('operator key', loadPrivateKey(operatorKey, 'ed25519', 'operator key'), secrets);
    okpKeyNeedles('MDMS key', h.keys.mdmsSigning.privateKey, secrets);
    paillierNeedles(h.keys.supplier, secrets);
    enrolmentCodeNeedles(code, GATEWAY_ID, meter.id, secrets);
    expect(secrets.size).toBe(143);

    // The search finds each secret where it is kept: the needles work.
    const inFile = (file: string) => findNeedles(readFileSync(file), secrets);
    expect(inFile(h.keys.files.gatewayPrivate)).toContain('gateway identity (PEM)');
    expect(inFile(h.keys.files.gatewayPrivate)).toContain('gateway identity (base64+1)');
    expect(inFile(householdKey)).toContain('household signing key (base64url+0)');
    expect(inFile(operatorKey)).toContain('operator key (base64+1)');
    expect(inFile(h.keys.files.supplierPrivate)).toEqual(
      expect.arrayContaining([
        'supplier lambda (hex)',
        'supplier mu (hex)',
        'supplier p (hex)',
        'supplier q (hex)',
      ]),
    );
    expect(findNeedles(Buffer.from(customerKeyJson(third)), secrets)).toContain(
      'third party sealing key (base64url+0)',
    );
    expect(findNeedles(Buffer.from(`code: ${code}\n`), secrets).length).toBeGreaterThan(0);

    for (const [where, bytes] of haystacks) {
      // The gateway logs to its file: its stdout and stderr hold something only when it fails.
      if (where !== 'stdout and stderr') expect(bytes.length, where).toBeGreaterThan(0);
      expect(findNeedles(bytes, plaintext), where).toEqual([]);
      expect(findNeedles(bytes, secrets), where).toEqual([]);
    }
  }, 240_000);
});
