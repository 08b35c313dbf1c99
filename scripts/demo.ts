/**
 * npm run demo: the whole system in one command, on the embedded defaults. Real household data (the committed
 * excerpt of the Ausgrid trial) is replayed a day in under a minute through the gateway process into an embedded
 * MQTT broker and the reference MDMS; at the end the decrypted neighbourhood sums and bills are printed beside
 * the sums computed independently from the CSV, and everything that crossed the broker is searched for plaintext.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { loadConfigFile } from '../gateway/config/load.ts';
import { packingLayout } from '../gateway/gateway.ts';
import { createLogger } from '../gateway/observe/log.ts';
import { startEmbeddedBroker } from './lib/embedded-broker.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { enrolHousehold, makeEnrolmentCode } from './lib/demo/household.ts';
import {
  DEMO_CLIP_WH,
  DEMO_EPSILON,
  DEMO_GATEWAY_ID,
  DEMO_METERS,
  writeDemoConfig,
} from './lib/demo/setup.ts';
import { printReport } from './lib/demo/report.ts';
import { generateDemoKeys } from './lib/demo/keys.ts';
import { startDemoAuthority } from './lib/demo/authority.ts';
import { MdmsReceiver } from './lib/mdms/receiver.ts';
import { MdmsStore, openMdmsDb } from './lib/mdms/store.ts';
import { findNeedles, plaintextNeedles } from './lib/plaintext-scan.ts';
import { expectedOutcome, isPeak, readFixture, writeSlice } from './lib/reference-sums.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const HELP = `Usage: npm run demo [-- options]

  --bits N      Paillier modulus for the demo keys: 3072 (default, as in production) or 2048
  --speed N     virtual seconds per real second (default 2400: a day in 36 s; lower it on a slow machine)
  --timeout S   give up after S seconds (default 170)
  --whole-key   give the MDMS the whole private key, as before issue #18. By default the supplier key is split
                (docs/key-ceremony.md): the MDMS holds only its share and decrypts with a privacy authority
                (its log: var/demo/authority.sqlite, summarised at the end)
  -h, --help    show this help

Everything is written to var/demo/ (keys, gateway.yaml, gateway.log, the buffer, mdms.sqlite and authority.sqlite).`;

const START = '2012-10-10T00:00:00Z';
const END = '2012-10-11T00:00:00Z';
const K = 5;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      bits: { type: 'string', default: '3072' },
      speed: { type: 'string', default: '2400' },
      timeout: { type: 'string', default: '170' },
      'whole-key': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const bits = Number(values.bits);
  const speed = Number(values.speed);
  const timeoutMs = Number(values.timeout) * 1000;
  if (bits !== 2048 && bits !== 3072) throw new UsageError('--bits must be 2048 or 3072', HELP);
  if (!(speed >= 1 && speed <= 100_000)) throw new UsageError('--speed must be between 1 and 100000', HELP);
  if (!(timeoutMs > 0)) throw new UsageError('--timeout must be a positive number of seconds', HELP);
  const split = !values['whole-key'];

  const dir = path.join(ROOT, 'var', 'demo');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
  const say = (m: string) => console.log(`[${elapsed()}] ${m}`);

  say(
    split
      ? `1/5 keys: supplier Paillier ${bits}-bit split between the MDMS and a privacy authority, gateway and MDMS Ed25519`
      : `1/5 keys: supplier Paillier ${bits}-bit (its private half goes to the MDMS only), gateway and MDMS Ed25519`,
  );
  const keys = await generateDemoKeys(path.join(dir, 'keys'), bits, (m) => say(`    ${m}`), split);

  const broker = await startEmbeddedBroker();
  say(`2/5 embedded MQTT broker (aedes) on ${broker.url}`);

  const csv = path.join(dir, 'households.csv');
  const rows = writeSlice(
    readFixture(),
    DEMO_METERS.map((m) => m.household),
    Date.parse(START),
    Date.parse(END),
    csv,
  );
  const expected = expectedOutcome(rows, DEMO_METERS, K);
  const neighbourhoods = [...new Set(DEMO_METERS.map((m) => m.neighbourhood))];
  const configFile = writeDemoConfig({
    dir,
    brokerUrl: broker.url,
    csv: path.basename(csv),
    start: START,
    speed,
  });
  say(
    `3/5 ${DEMO_METERS.length} households in ${neighbourhoods.length} neighbourhoods (` +
      neighbourhoods
        .map((n) => `${n} ${DEMO_METERS.filter((m) => m.neighbourhood === n).length}`)
        .join(', ') +
      `), k = ${K}; ${rows.length} half-hourly readings of ${START.slice(0, 10)}, replayed at ${speed}× real time`,
  );

  // One household will enrol with its meter's code: the installer makes the code before the gateway starts.
  const household = DEMO_METERS[0]!;
  const code = makeEnrolmentCode(
    path.join(dir, 'keys', 'enrolment-codes.json'),
    DEMO_GATEWAY_ID,
    household.id,
  );

  // Everything on the broker is searched at the end, but for the households' requests to their own gateway
  // (which name their meter, as they must): batches, acks, status and the households' sealed streams. The
  // gateway's health messages name meters by their local id for the operator (docs/protocol.md §8a): they are
  // searched for readings and household ids only.
  const upstream: Buffer[] = [];
  const health: Buffer[] = [];
  const spy = await mqtt.connectAsync(broker.url, { clientId: 'demo-observer' });
  await spy.subscribeAsync('#', { qos: 0 });
  spy.on('message', (topic, payload) => {
    if (topic.endsWith('/health')) health.push(Buffer.from(payload));
    else if (!topic.includes('/customer/')) upstream.push(Buffer.from(payload));
  });
  const store = new MdmsStore(openMdmsDb(path.join(dir, 'mdms.sqlite')));
  const authority = keys.shares
    ? await startDemoAuthority({
        dir,
        brokerUrl: broker.url,
        share: keys.shares.authority,
        gatewayId: DEMO_GATEWAY_ID,
        gatewayPublicKey: keys.gatewayPublicKey,
        mdmsPublicKey: keys.mdmsSigning.publicKey,
        minK: K,
        log: createLogger({ level: 'warn', file: path.join(dir, 'authority.log') }),
      })
    : undefined;
  if (authority) say('    split key: privacy authority running, the MDMS holds only the supplier share');
  const receiver = new MdmsReceiver({
    url: broker.url,
    prefix: 'meterspace/v1',
    trust: new Map([[DEMO_GATEWAY_ID, keys.gatewayPublicKey]]),
    ...(authority && keys.shares
      ? { split: authority.split(keys.shares.supplier) }
      : { supplierKey: keys.supplier }),
    signing: keys.mdmsSigning,
    store,
    log: createLogger({ level: 'warn', file: path.join(dir, 'mdms.log') }),
  });
  await receiver.start();
  say('4/5 reference MDMS subscribed; starting the gateway (log: var/demo/gateway.log)');

  const gateway = spawn(path.join(ROOT, 'scripts', 'gateway'), ['--config', configFile], {
    cwd: dir,
    stdio: 'inherit',
  });
  const exited = new Promise<number | null>((resolve) => gateway.once('exit', (status) => resolve(status)));
  // Never leave the gateway running behind the demo (e.g. when the demo's output pipe is closed).
  process.once('exit', () => gateway.kill('SIGTERM'));
  const home = await enrolHousehold({
    brokerUrl: broker.url,
    gatewayId: DEMO_GATEWAY_ID,
    meterId: household.id,
    code,
    timeoutMs: 30_000,
  });
  say(
    `    household of meter ${household.id} enrolled its own key with the meter's code (fingerprint ${home.fingerprint})`,
  );
  const started = Date.now();
  const total = expected.aggregates.size + expected.suppressed.size + expected.bills.size;
  let done = false;
  while (!done && Date.now() - started < timeoutMs && gateway.exitCode === null) {
    await new Promise((r) => setTimeout(r, 2000));
    const c = store.counts();
    const dataTime = new Date(
      Math.min(Date.parse(END) + 3 * 3600_000, Date.parse(START) + (Date.now() - started) * speed),
    );
    say(
      `    data time ${dataTime.toISOString().slice(0, 16).replace('T', ' ')} UTC | at the MDMS: ` +
        `${c.aggregates}/${expected.aggregates.size} aggregates, ${c.suppressed}/${expected.suppressed.size} suppressed, ` +
        `${c.bills}/${expected.bills.size} bills, ${c.batches} batches`,
    );
    done = c.aggregates + c.suppressed + c.bills >= total;
  }
  // Read the gateway's files while it runs, WAL included.
  const dbFile = path.join(dir, 'var', 'buffer.sqlite');
  const atRest = new Map(
    [dbFile, `${dbFile}-wal`, path.join(dir, 'gateway.log')]
      .filter((f) => existsSync(f))
      .map((f) => [path.relative(ROOT, f), readFileSync(f)]),
  );
  gateway.kill('SIGTERM');
  await exited;
  await home.stop();
  await receiver.stop();
  await authority?.stop();
  await spy.endAsync();
  await broker.close();

  say('5/5 results');
  const verdict = printReport(
    expected,
    store.aggregates(),
    store.suppressed(),
    store.bills(),
    neighbourhoods,
    K,
    (l) => console.log(l),
  );
  const layout = packingLayout(loadConfigFile(configFile), bits);
  const needles = plaintextNeedles(rows, layout, isPeak);
  const wire = Buffer.concat(upstream);
  const healthWire = Buffer.concat(health);
  const searched = [['upstream traffic', wire] as const, ['health messages', healthWire] as const, ...atRest];
  const leaks = searched.flatMap(([where, bytes]) =>
    findNeedles(bytes, needles).map((n) => `${n} in ${where}`),
  );
  const serials = DEMO_METERS.filter(
    (m) => wire.includes(m.household) || wire.includes(m.id) || healthWire.includes(m.household),
  ).length;
  // The household's live readings, opened with its own key, against its CSV rows.
  const csvWh = new Map(rows.filter((r) => r.household === household.household).map((r) => [r.end, r.wh]));
  const wrong = home.opened.filter((r) => csvWh.get(Date.parse(r.end)) !== r.wh).length;
  const householdOk = home.opened.length > 0 && wrong === 0 && home.openedByOthers === 0;
  console.log('');
  console.log(
    `Aggregates: ${verdict.aggregatesMatched}/${verdict.aggregatesExpected} within their noise bound of the CSV's ` +
      `clipped sums, ${verdict.aggregatesWithin95} inside their 95 % interval (demo budget: ε = ${DEMO_EPSILON} ` +
      `per household-day, clipWh ${DEMO_CLIP_WH}; the default is ε = 100, docs/privacy.md §Noise); ` +
      `suppressed: ${verdict.suppressedMatched}/${verdict.suppressedExpected} (never released); ` +
      `bills: ${verdict.billsMatched}/${verdict.billsExpected} equal the CSV sums per band.`,
  );
  console.log(
    `Privacy: searched ${upstream.length + health.length} upstream messages ` +
      `(${(wire.length + healthWire.length).toLocaleString('en-US')} bytes) and the gateway's ` +
      `buffer and log for ${needles.size.toLocaleString('en-US')} encodings of the plaintext readings: ${leaks.length} found; ` +
      `meter or household ids upstream: ${serials}.`,
  );
  for (const leak of leaks.slice(0, 10)) console.log(`  found: ${leak}`);
  console.log(
    `Household of meter ${household.id}: opened ${home.opened.length} live readings with its own key ` +
      `(${home.opened.length - wrong} equal to its CSV rows); another household's key opened ${home.openedByOthers}. ` +
      'See docs/customers.md for the household tool (scripts/customer).',
  );
  if (authority) console.log(authority.summary());
  console.log(
    `Done in ${elapsed().trim()}. Inspect var/demo/, e.g. scripts/mdms export --db var/demo/mdms.sqlite`,
  );
  if (!done || !verdict.ok || leaks.length > 0 || serials > 0 || !householdOk) {
    console.log('DEMO FAILED: see above');
    process.exitCode = 1;
  }
}

runCli(main);
