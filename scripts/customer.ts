/**
 * scripts/customer: the household's tool (docs/customers.md). Runs on the household's own device; its key never
 * leaves it.
 *
 *   scripts/customer keygen --key FILE
 *   scripts/customer enrol  --key FILE --gateway ID --meter ID --code CODE [--broker URL]
 *   scripts/customer enrol  --key NEW --gateway ID --meter ID --current OLD     (re-keying)
 *   scripts/customer live   --key FILE
 *   scripts/customer fingerprint --key FILE
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { z } from 'zod';
import {
  customerFingerprint,
  generateCustomerKeys,
  loadCustomerKeys,
  saveCustomerKeys,
} from '../gateway/customer/customer-key.ts';
import { publicKeyFromRaw } from '../gateway/customer/raw-keys.ts';
import { errorCode, GatewayError } from '../gateway/errors.ts';
import { fingerprint } from '../gateway/keys/files.ts';
import { topics } from '../gateway/protocol/topics.ts';
import { enrolRequest, openLive, openReply, type Authority } from './lib/customer/client.ts';
import { runCli, UsageError } from './lib/cli.ts';

const HELP = `Usage: scripts/customer <command> [options]

The household's tool: makes the household's keys on this device, enrols them for its meter with the meter's
enrolment code, and shows its readings as they arrive, opened with the household's private key.

Commands:
  keygen        make the household's keys (X25519 to open readings, Ed25519 to sign requests) in --key
  fingerprint   print the keys' fingerprint (compare it with what the gateway reports at enrolment)
  enrol         enrol the keys for --meter of --gateway, proven with --code (or --current KEY to re-key)
  live          show the readings of the enrolled meter as they arrive

Options:
  --key FILE       the household's key file (default: ./household.key.json); enrol keeps what it learns
                   (gateway, meter, stream name, the gateway's key) beside it in FILE.enrolment.json
  --broker URL     MQTT broker the gateway uses (default: mqtt://127.0.0.1:1883)
  --prefix P       topic prefix (default: meterspace/v1)
  --gateway ID     enrol: the gateway's id
  --meter ID       enrol: the meter's id on that gateway (printed with the code)
  --code CODE      enrol: the meter's one-time enrolment code, e.g. 7KQ2-M9XD-4TPA-ZR1C
  --current FILE   enrol: re-key: the key file enrolled now (instead of --code)
  --timeout S      enrol: seconds to wait for the gateway's reply (default 30)
  --force          keygen: replace an existing key file
  -h, --help       show this help`;

const Enrolment = z
  .object({
    broker: z.string(),
    prefix: z.string(),
    gateway: z.string(),
    meter: z.string(),
    pseudonym: z.string(),
    gatewayKey: z.string(),
  })
  .strict();
type Enrolment = z.infer<typeof Enrolment>;

const enrolmentFile = (keyFile: string) => `${keyFile}.enrolment.json`;

function loadEnrolment(keyFile: string): Enrolment {
  const file = enrolmentFile(keyFile);
  if (!existsSync(file)) throw new GatewayError('KEY_FILE_MISSING', `${file} not found: enrol first`);
  return Enrolment.parse(JSON.parse(readFileSync(file, 'utf8')));
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: 'string', default: './household.key.json' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      prefix: { type: 'string', default: 'meterspace/v1' },
      gateway: { type: 'string' },
      meter: { type: 'string' },
      code: { type: 'string' },
      current: { type: 'string' },
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
      return enrol(values);
    case 'live':
      return live(values.key);
    default:
      throw new UsageError('give a command: keygen, fingerprint, enrol or live', HELP);
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
  const client = await mqtt.connectAsync(v.broker, { clientId: `customer-${request.id}` });
  try {
    const replyTopic = topics.customerReply(v.prefix, v.gateway, request.id);
    const reply = new Promise<Buffer>((resolve) => client.on('message', (_t, payload) => resolve(payload)));
    await client.subscribeAsync(replyTopic, { qos: 1 });
    await client.publishAsync(topics.customerRequest(v.prefix, v.gateway), request.message, { qos: 1 });
    const timeoutMs = Number(v.timeout) * 1000;
    const raw = await Promise.race([
      reply,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new GatewayError(
                'DEVICE_TIMEOUT',
                `no reply from gateway ${v.gateway} within ${v.timeout} s (is it running and on ${v.broker}?)`,
              ),
            ),
          timeoutMs,
        ).unref(),
      ),
    ]);
    const answer = openReply(raw, pinned);
    if (!answer.ok) {
      throw new GatewayError(
        answer.code === 'REQUEST_REPLAYED' ? 'REQUEST_REPLAYED' : 'ENROLMENT_REFUSED',
        `the gateway refused: [${answer.code}] ${answer.message ?? ''}`,
      );
    }
    const mine = customerFingerprint(keys.publicKeys);
    if (answer.fingerprint !== mine) {
      throw new GatewayError(
        'ENROLMENT_REFUSED',
        `the gateway enrolled ${answer.fingerprint}, not this key (${mine})`,
      );
    }
    const enrolment: Enrolment = {
      broker: v.broker,
      prefix: v.prefix,
      gateway: v.gateway,
      meter: v.meter,
      pseudonym: answer.pseudonym!,
      gatewayKey: answer.gatewayKey,
    };
    writeFileSync(enrolmentFile(v.key), `${JSON.stringify(enrolment, null, 2)}\n`, { mode: 0o600 });
    console.log(`enrolled: meter ${v.meter} of gateway ${v.gateway}`);
    console.log(`your key's fingerprint:    ${mine} (the gateway reports the same)`);
    console.log(
      `the gateway's fingerprint: ${fingerprint(publicKeyFromRaw(enrolment.gatewayKey, 'Ed25519'))}`,
    );
    console.log(`your stream: ${topics.customerLive(v.prefix, enrolment.pseudonym)}`);
  } finally {
    await client.endAsync();
  }
}

async function live(keyFile: string): Promise<void> {
  const keys = loadCustomerKeys(keyFile);
  const e = loadEnrolment(keyFile);
  const gatewayKey = publicKeyFromRaw(e.gatewayKey, 'Ed25519');
  const client = await mqtt.connectAsync(e.broker, { clientId: `customer-live-${process.pid}` });
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

runCli(main);
