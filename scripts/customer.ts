/**
 * scripts/customer: the household's tool (docs/customers.md). Runs on the household's own device; its key never
 * leaves it.
 *
 *   scripts/customer keygen --key FILE
 *   scripts/customer enrol  --key FILE --gateway ID --meter ID --code CODE [--broker URL]
 *   scripts/customer enrol  --key NEW --gateway ID --meter ID --current OLD     (re-keying)
 *   scripts/customer live   --key FILE
 *   scripts/customer history --key FILE --from ISO --to ISO [--csv]
 *   scripts/customer erase  --key FILE
 *   scripts/customer info   --key FILE
 *   scripts/customer fingerprint --key FILE
 *   scripts/customer consent grant|revoke|log --key FILE …   (lib/customer/consent-commands.ts)
 *   scripts/customer public-key --key FILE; scripts/customer receive --key FILE --topic T --gateway-key K
 */
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import {
  customerFingerprint,
  customerPseudonym,
  generateCustomerKeys,
  loadCustomerKeys,
  saveCustomerKeys,
} from '../gateway/customer/customer-key.ts';
import { publicKeyFromRaw } from '../gateway/customer/raw-keys.ts';
import { errorCode, GatewayError } from '../gateway/errors.ts';
import { fingerprint } from '../gateway/keys/files.ts';
import { deviceLabel } from '../gateway/devices/device-label.ts';
import { topics } from '../gateway/protocol/topics.ts';
import {
  enrolRequest,
  historyRequest,
  meterRequest,
  openHistory,
  openLive,
  type Authority,
} from './lib/customer/client.ts';
import {
  consentCommand,
  describe,
  printPublicKey,
  receive,
  seenFile,
} from './lib/customer/consent-commands.ts';
import {
  ask,
  askEnrolled,
  connectOptions,
  enrolmentFile,
  loadEnrolment,
  refused,
  type Connection,
  type Enrolment,
} from './lib/customer/session.ts';
import { runCli, UsageError } from './lib/cli.ts';

const HELP = `Usage: scripts/customer <command> [options]

The household's tool: makes the household's keys on this device, enrols them for its meter with the meter's
enrolment code, and shows its readings as they arrive, opened with the household's private key.

Commands:
  keygen        make the household's keys (X25519 to open readings, Ed25519 to sign requests) in --key
  fingerprint   print the keys' fingerprint (compare it with what the gateway reports at enrolment)
  enrol         enrol the keys for --meter of --gateway, proven with --code (or --current KEY to re-key)
  live          show the readings of the enrolled meter as they arrive
  history       fetch the readings the gateway keeps for you (customers.historyDays, default 30) between
                --from and --to, opened here; --csv prints CSV (start,end,wh)
  erase         ask the gateway to delete your history (the sealed readings it keeps for you); it is deleted
  info          what the gateway collects about you, what it sends upstream, what it keeps and for how long
  consent grant let a third party (--name, --grantee-key) receive your readings summed per --granularity
                (interval, hourly or daily; default daily) for --days N or --until ISO; prints what to give it
  consent revoke
                end consent --id before its time
  consent log   read back and check the gateway's hash-chained log of your grants and revokes, and what is in force

For a third party:
  public-key    print the key to give a household (make it first with keygen --key FILE)
  receive       receive what a household shares with you (--topic, --gateway-key, as the household got them)
                and print each complete hour or day; --csv prints CSV (granularity,start,end,wh,minutes)

Options:
  --key FILE       the household's key file (default: ./household.key.json); enrol keeps what it learns
                   (gateway, meter, stream name, the gateway's key) beside it in FILE.enrolment.json
  --broker URL     MQTT broker the gateway uses (default: mqtt://127.0.0.1:1883)
  --prefix P       topic prefix (default: meterspace/v1)
  --ca FILE        PEM of the CA that signed the broker's certificate (mqtts:// with a private CA)
  --username U     broker user name; --password-file FILE: its password (enrol keeps both for later commands)
  --gateway-fingerprint F
                   enrol: the gateway's fingerprint as the installer gave it (scripts/gateway logs it at start);
                   the reply must be signed by that key (without it, the tool trusts the first reply's key)
  --gateway ID     enrol: the gateway's id
  --meter ID       enrol: the meter's id on that gateway (printed with the code)
  --code CODE      enrol: the meter's one-time enrolment code, e.g. 7KQ2-M9XD-4TPA-ZR1C
  --current FILE   enrol: re-key: the key file enrolled now (instead of --code)
  --from ISO       history: first interval start (default: 30 days ago)
  --to ISO         history: end (default: now)
  --csv            history, receive: CSV output
  --name TEXT      consent grant: the third party's name, as you will recognise it in the log
  --grantee-key K  consent grant: the third party's key (it prints it with public-key)
  --granularity G  consent grant: interval, hourly or daily
  --days N, --until ISO
                   consent grant: how long the consent lasts (at most 366 days)
  --id ID          consent revoke: the consent
  --topic T, --gateway-key K
                   receive: as the household's consent grant printed them
  --timeout S      enrol, history, erase: seconds to wait for the gateway's reply (default 30)
  --force          keygen: replace an existing key file
  -h, --help       show this help`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: 'string', default: './household.key.json' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      prefix: { type: 'string', default: 'meterspace/v1' },
      ca: { type: 'string' },
      username: { type: 'string' },
      'password-file': { type: 'string' },
      'gateway-fingerprint': { type: 'string' },
      gateway: { type: 'string' },
      meter: { type: 'string' },
      code: { type: 'string' },
      current: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      csv: { type: 'boolean', default: false },
      name: { type: 'string' },
      'grantee-key': { type: 'string' },
      granularity: { type: 'string' },
      until: { type: 'string' },
      days: { type: 'string' },
      id: { type: 'string' },
      topic: { type: 'string' },
      'gateway-key': { type: 'string' },
      timeout: { type: 'string', default: '30' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const command = positionals[0];
  switch (command) {
    case 'keygen': {
      const keys = generateCustomerKeys();
      saveCustomerKeys(values.key, keys, values.force);
      console.log(`wrote ${values.key} (mode 0600); keep it on this device only`);
      console.log(`fingerprint: ${customerFingerprint(keys.publicKeys)}`);
      return;
    }
    case 'fingerprint':
      return void console.log(customerFingerprint(loadCustomerKeys(values.key).publicKeys));
    case 'enrol':
      return enrol({
        ...values,
        passwordFile: values['password-file'],
        gatewayFingerprint: values['gateway-fingerprint'],
      });
    case 'live':
      return live(values.key);
    case 'history':
      return history(values);
    case 'erase':
      return erase(values.key, Number(values.timeout));
    case 'info':
      return info(values.key, Number(values.timeout));
    case 'consent':
      return consentCommand(positionals[1], values, HELP);
    case 'public-key':
      return printPublicKey(values.key);
    case 'receive':
      return receive({
        ...values,
        gatewayKey: values['gateway-key'],
        help: HELP,
        connection: {
          ...(values.ca ? { ca: path.resolve(values.ca) } : {}),
          ...(values.username ? { username: values.username } : {}),
          ...(values['password-file'] ? { passwordFile: path.resolve(values['password-file']) } : {}),
        },
      });
    default:
      throw new UsageError(
        'give a command: keygen, fingerprint, enrol, live, history, erase, info, consent, public-key or receive',
        HELP,
      );
  }
}

async function enrol(v: {
  key: string;
  broker: string;
  prefix: string;
  gateway?: string | undefined;
  meter?: string | undefined;
  code?: string | undefined;
  current?: string | undefined;
  ca?: string | undefined;
  username?: string | undefined;
  passwordFile?: string | undefined;
  gatewayFingerprint?: string | undefined;
  timeout: string;
}): Promise<void> {
  if (!v.gateway || !v.meter) throw new UsageError('enrol needs --gateway and --meter', HELP);
  if (!v.code === !v.current) throw new UsageError('enrol needs --code or --current (one of them)', HELP);
  const keys = loadCustomerKeys(v.key);
  const authority: Authority = v.code
    ? { kind: 'code', code: v.code }
    : { kind: 'current-key', current: loadCustomerKeys(v.current!) };
  const pinned =
    v.current && existsSync(enrolmentFile(v.current)) ? loadEnrolment(v.current).gatewayKey : undefined;
  const request = enrolRequest({ gatewayId: v.gateway, meterId: v.meter, keys, authority, now: Date.now() });
  const connection: Connection = {
    ...(v.ca ? { ca: path.resolve(v.ca) } : {}),
    ...(v.username ? { username: v.username } : {}),
    ...(v.passwordFile ? { passwordFile: path.resolve(v.passwordFile) } : {}),
  };
  const answer = await ask(
    {
      broker: v.broker,
      connection,
      prefix: v.prefix,
      gateway: v.gateway,
      ...(pinned ? { gatewayKey: pinned } : {}),
    },
    request,
    keys.sealingPrivate,
    Number(v.timeout),
  );
  const signedBy = fingerprint(publicKeyFromRaw(answer.gatewayKey, 'Ed25519'));
  if (v.gatewayFingerprint && v.gatewayFingerprint.toLowerCase() !== signedBy) {
    throw new GatewayError(
      'SIGNATURE_INVALID',
      `the reply is signed by gateway key ${signedBy}, not ${v.gatewayFingerprint}: not your gateway, or someone in between`,
    );
  }
  if (!answer.ok) throw refused(answer);
  const mine = customerFingerprint(keys.publicKeys);
  if (answer.fingerprint !== mine) {
    throw new GatewayError(
      'ENROLMENT_REFUSED',
      `the gateway enrolled ${answer.fingerprint}, not this key (${mine})`,
    );
  }
  const pseudonym = customerPseudonym(v.gateway, v.meter, keys.publicKeys);
  if (answer.pseudonym !== pseudonym) {
    throw new GatewayError(
      'MESSAGE_MALFORMED',
      `the gateway names stream ${answer.pseudonym}, not ${pseudonym}`,
    );
  }
  const enrolment: Enrolment = {
    broker: v.broker,
    prefix: v.prefix,
    connection,
    gateway: v.gateway,
    meter: v.meter,
    pseudonym,
    gatewayKey: answer.gatewayKey,
  };
  writeFileSync(enrolmentFile(v.key), `${JSON.stringify(enrolment, null, 2)}\n`, { mode: 0o600 });
  // Re-keying: the new key carries on checking the consent log from where the old one left it.
  if (v.current && existsSync(seenFile(v.current))) copyFileSync(seenFile(v.current), seenFile(v.key));
  console.log(`enrolled: meter ${v.meter} of gateway ${v.gateway}`);
  console.log(`your key's fingerprint:    ${mine} (the gateway reports the same)`);
  console.log(`the gateway's fingerprint: ${signedBy}`);
  console.log(`your stream: ${topics.customerLive(v.prefix, enrolment.pseudonym)}`);
  console.log(
    answer.device === undefined
      ? `your meter's device: not read yet (the code is pinned to the first device read as meter ${v.meter})`
      : `your meter's device: ${deviceLabel(answer.device)} (compare it with the serial on your meter)`,
  );
}

async function history(v: {
  key: string;
  from?: string | undefined;
  to?: string | undefined;
  csv: boolean;
  timeout: string;
}): Promise<void> {
  const keys = loadCustomerKeys(v.key);
  const to = v.to ? Date.parse(v.to) : Date.now();
  let from = v.from ? Date.parse(v.from) : to - 30 * 86_400_000;
  if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to)
    throw new UsageError('--from must be before --to (ISO 8601)', HELP);
  if (v.csv) console.log('start,end,wh');
  let count = 0;
  for (;;) {
    const { reply, enrolment } = await askEnrolled(
      v.key,
      (e) => historyRequest({ gatewayId: e.gateway, meterId: e.meter, keys, from, to, now: Date.now() }),
      Number(v.timeout),
    );
    const readings = openHistory(reply, keys.sealingPrivate, enrolment.pseudonym);
    for (const r of readings)
      console.log(
        v.csv ? `${r.start},${r.end},${r.wh}` : `${r.start}  ${r.end}  ${String(r.wh).padStart(7)} Wh`,
      );
    count += readings.length;
    if (!reply.more || readings.length === 0) break;
    from = Date.parse(readings.at(-1)!.start) + 1;
  }
  console.error(`${count} readings`);
}

async function erase(keyFile: string, timeoutS: number): Promise<void> {
  const keys = loadCustomerKeys(keyFile);
  const { reply, enrolment } = await askEnrolled(
    keyFile,
    (e) => meterRequest('erase', { gatewayId: e.gateway, meterId: e.meter, keys, now: Date.now() }),
    timeoutS,
  );
  console.log(
    `the gateway deleted ${reply.erased ?? 0} of your readings (meter ${enrolment.meter} of ${enrolment.gateway})`,
  );
}

async function live(keyFile: string): Promise<void> {
  const keys = loadCustomerKeys(keyFile);
  const e = loadEnrolment(keyFile);
  const gatewayKey = publicKeyFromRaw(e.gatewayKey, 'Ed25519');
  const client = await mqtt.connectAsync(
    e.broker,
    connectOptions(e.connection, `customer-live-${process.pid}`),
  );
  const topic = topics.customerLive(e.prefix, e.pseudonym);
  client.on('message', (_t, payload) => {
    try {
      const r = openLive(payload, gatewayKey, keys.sealingPrivate, e.pseudonym);
      console.log(`${r.start}  ${r.end}  ${String(r.wh).padStart(7)} Wh`);
    } catch (error) {
      console.error(`ignored a message that does not open with this key: [${errorCode(error)}]`);
    }
  });
  await client.subscribeAsync(topic, { qos: 0 });
  console.error(
    `meter ${e.meter} of gateway ${e.gateway}: waiting for readings on ${topic} (Ctrl-C to stop)`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await client.endAsync();
}

async function info(keyFile: string, timeoutS: number): Promise<void> {
  const keys = loadCustomerKeys(keyFile);
  const { reply } = await askEnrolled(
    keyFile,
    (e) => meterRequest('info', { gatewayId: e.gateway, meterId: e.meter, keys, now: Date.now() }),
    timeoutS,
  );
  const i = reply.info;
  if (!i) throw new GatewayError('MESSAGE_MALFORMED', 'the gateway sent no information');
  const u = i.upstream;
  console.log(`Meter ${i.meterId} of gateway ${i.gatewayId}, your key ${i.fingerprint} (enrolled ${i.enrolledAt})

What the gateway reads:   ${i.collected.quantity}, every ${i.collected.intervalMinutes} minutes
What it sends upstream:   - your readings only inside the sum of neighbourhood "${u.neighbourhood}", and only when
                            at least ${u.k} meters are in it (otherwise nothing for that interval)
                          - ${bill(u)}
                          - nothing that names your meter; every value encrypted to the supplier's key
What it keeps:            - your history, sealed to your key (it cannot open it): ${i.kept.historyReadings} readings,
                            each kept ${i.kept.historyDays} days (scripts/customer erase deletes it)
                          - ${i.kept.pendingCiphertexts}
Third parties with access: ${i.consents.length === 0 ? 'none (scripts/customer consent grant)' : ''}`);
  for (const c of i.consents) console.log(`  - "${c.grantee}" (key ${c.granteeFingerprint}): ${describe(c)}`);
}

/** What the supplier learns of the household's bill. */
function bill(u: {
  billingPeriod: string;
  tariffBands: string[];
  billingAccount: string;
  billReveals?: string;
}) {
  return u.billReveals === 'cost-only'
    ? `your bill: only the amount due per ${u.billingPeriod} period, for account "${u.billingAccount}"`
    : `your bill: the ${u.billingPeriod} totals per tariff band (${u.tariffBands.join(', ')}) ` +
        `for account "${u.billingAccount}"`;
}

runCli(main);
