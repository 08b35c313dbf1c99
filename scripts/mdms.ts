/**
 * scripts/mdms: the reference Meter Data Management System (docs/mdms.md).
 *
 *   scripts/mdms run    --broker URL --key supplier.paillier.key.json --sign-key mdms.ed25519.key.pem
 *                       (or, split key: --share supplier.share.json --authority-key authority.ed25519.pub.pem)
 *                       --trust GATEWAY_ID=gateway.ed25519.pub.pem [--trust ...] --db mdms.sqlite
 *   scripts/mdms export --db mdms.sqlite --what aggregates|bills|suppressed [--prices peak=0.3,offpeak=0.1] [--out F]
 *   scripts/mdms show   --db mdms.sqlite
 */
import { createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPrivateKey, loadPublicKey } from '../gateway/keys/files.ts';
import { loadPaillierPrivate } from '../gateway/keys/paillier-files.ts';
import { createLogger } from '../gateway/observe/log.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { parseTrust } from './lib/trust.ts';
import { aggregatesCsv, billsCsv, suppressedCsv } from './lib/mdms/export.ts';
import { MdmsReceiver } from './lib/mdms/receiver.ts';
import { PendingStore } from './lib/mdms/pending-store.ts';
import { MdmsStore, openMdmsDb } from './lib/mdms/store.ts';
import { loadShare } from './lib/split-key/share-files.ts';

const HELP = `Usage: scripts/mdms <command> [options]

Commands:
  run      receive, verify, decrypt, store and acknowledge batches until stopped (Ctrl-C)
  export   write stored aggregates, bills or suppressions as CSV
  show     print a summary of the stored data

Options (run):
  --broker URL          MQTT broker (default mqtt://localhost:1883)
  --prefix P            topic prefix (default meterspace/v1)
  --key FILE            supplier Paillier private key (supplier.paillier.key.json)
  --share FILE          instead of --key, with a split key: the supplier's share (supplier.share.json); each
                        batch is stored, acknowledged, then co-decrypted with the privacy authority
  --authority-key FILE  with --share: the authority's Ed25519 public key (its replies must verify)
  --authority-prefix P  with --share: the authority's topic prefix (default meterspace/authority/v1)
  --sign-key FILE       MDMS Ed25519 private key (signs acknowledgements)
  --trust ID=FILE       a gateway id and its Ed25519 public key; repeat for every gateway
  --db FILE             the MDMS database (default mdms.sqlite)
  --mqtt-version V      4 (MQTT 3.1.1) or 5 (default): under 5 a broker's refusal of an ack is reported
  --username U, --password P   broker credentials
Options (export):
  --what W              aggregates (default), bills or suppressed
  --prices B=P,...      price per kWh per band, adds an amount column to bills
  --out FILE            write to FILE instead of stdout
  -h, --help            show this help`;

const OPTIONS = {
  broker: { type: 'string', default: 'mqtt://localhost:1883' },
  prefix: { type: 'string', default: 'meterspace/v1' },
  key: { type: 'string' },
  share: { type: 'string' },
  'authority-key': { type: 'string' },
  'authority-prefix': { type: 'string' },
  'sign-key': { type: 'string' },
  trust: { type: 'string', multiple: true, default: [] as string[] },
  db: { type: 'string', default: 'mdms.sqlite' },
  'mqtt-version': { type: 'string', default: '5' },
  username: { type: 'string' },
  password: { type: 'string' },
  what: { type: 'string', default: 'aggregates' },
  prices: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parsePrices(text: string): Map<string, number> {
  const prices = new Map<string, number>();
  for (const part of text.split(',')) {
    const [band, value] = part.split('=');
    const n = Number(value);
    if (!band || !Number.isFinite(n))
      throw new UsageError(`--prices expects BAND=PRICE,..., got "${part}"`, HELP);
    prices.set(band, n);
  }
  return prices;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (values.help) return void console.log(HELP);
  const command = positionals[0];
  if (command === 'run') {
    if (!values['sign-key'] || values.trust.length === 0 || !values.key === !values.share) {
      throw new UsageError('run needs --key or --share, --sign-key and at least one --trust', HELP);
    }
    if (values.share && !values['authority-key']) throw new UsageError('--share needs --authority-key', HELP);
    const version = values['mqtt-version'];
    if (version !== '4' && version !== '5') throw new UsageError('--mqtt-version is 4 or 5', HELP);
    const log = createLogger({ level: 'info' });
    const signKey = loadPrivateKey(values['sign-key'], 'ed25519', 'MDMS private key');
    const receiver = new MdmsReceiver({
      url: values.broker,
      clientOptions: {
        protocolVersion: version === '5' ? 5 : 4,
        ...(values.username ? { username: values.username } : {}),
        ...(values.password ? { password: values.password } : {}),
      },
      prefix: values.prefix,
      trust: parseTrust(values.trust, HELP),
      ...(values.key ? { supplierKey: loadPaillierPrivate(values.key) } : {}),
      ...(values.share
        ? {
            split: {
              share: loadShare(values.share, 'supplier'),
              authorityKey: loadPublicKey(values['authority-key']!, 'ed25519', 'authority public key'),
              ...(values['authority-prefix'] ? { authorityPrefix: values['authority-prefix'] } : {}),
            },
          }
        : {}),
      signing: { privateKey: signKey, publicKey: createPublicKey(signKey) },
      store: new MdmsStore(openMdmsDb(values.db)),
      log,
    });
    const stop = () => void receiver.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    await receiver.start();
    return;
  }
  if (command === 'export' || command === 'show') {
    const store = new MdmsStore(openMdmsDb(values.db));
    if (command === 'show') {
      const c = store.counts();
      console.log(
        `${values.db}: ${c.batches} batches, ${c.aggregates} aggregates, ${c.suppressed} suppressed, ${c.bills} bills`,
      );
      const waiting = new PendingStore(store.db).all();
      if (waiting.length > 0) {
        const refused = waiting.filter((b) => b.state === 'refused').length;
        console.log(
          `  awaiting the privacy authority: ${waiting.length - refused} batches; refused: ${refused}`,
        );
      }
      return;
    }
    const what = values.what;
    const csv =
      what === 'aggregates'
        ? aggregatesCsv(store.aggregates())
        : what === 'bills'
          ? billsCsv(store.bills(), values.prices ? parsePrices(values.prices) : undefined)
          : what === 'suppressed'
            ? suppressedCsv(store.suppressed())
            : undefined;
    if (csv === undefined) throw new UsageError('--what must be aggregates, bills or suppressed', HELP);
    if (values.out) writeFileSync(values.out, csv);
    else process.stdout.write(csv);
    return;
  }
  throw new UsageError('expected a command: run, export or show', HELP);
}

runCli(main);
