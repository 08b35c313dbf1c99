/**
 * scripts/authority: the independent privacy authority (docs/key-ceremony.md, docs/protocol.md §Co-decryption).
 *
 *   scripts/authority run    --share authority.share.json --sign-key authority.ed25519.key.pem
 *                            --mdms mdms.ed25519.pub.pem --trust GATEWAY_ID=gateway.ed25519.pub.pem --db F
 *   scripts/authority log    --db authority.sqlite --verify
 *   scripts/authority status --db authority.sqlite
 */
import { createPublicKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Rational } from '../gateway/encrypt/discrete-gaussian.ts';
import { loadPrivateKey, loadPublicKey } from '../gateway/keys/files.ts';
import { createLogger } from '../gateway/observe/log.ts';
import { Authority } from './lib/authority/authority.ts';
import { DEFAULT_AUTHORITY_PREFIX } from './lib/authority/messages.ts';
import type { AuthorityPolicy } from './lib/authority/policy.ts';
import { AuthorityService } from './lib/authority/service.ts';
import {
  openAuthorityDb,
  readLogRows,
  TransparencyLog,
  verifyTransparencyLog,
} from './lib/authority/transparency-log.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { parseTrust } from './lib/trust.ts';
import { loadShare } from './lib/split-key/share-files.ts';

const HELP = `Usage: scripts/authority <command> [options]

Commands:
  run      answer co-decryption requests of the MDMS until stopped (Ctrl-C)
  log      print the transparency log, one decision a line (--verify: check the hash chain first)
  status   print the number of decisions, accepted and refused by code

Options (run):
  --broker URL          MQTT broker (default mqtt://localhost:1883)
  --prefix P            topic prefix (default ${DEFAULT_AUTHORITY_PREFIX})
  --share FILE          the authority's key share (authority.share.json, from keygen supplier --split)
  --sign-key FILE       the authority's Ed25519 private key (signs replies; keygen authority)
  --mdms FILE           the Ed25519 public key of an MDMS whose requests it answers (repeatable)
  --trust ID=FILE       a gateway id and its Ed25519 public key: the authority's own list (repeatable)
  --min-k N             least meters in a co-decrypted aggregate (default 5)
  --min-billing-days N  shortest billing period co-decrypted, in days (default 1)
  --min-sigma2 X        least noise variance σ² an aggregate states (e.g. 2500000 or 9000001/1000)
  --max-epsilon X       largest ε per household-day an aggregate states
  --allow-no-noise      opt out of the noise requirement (by default every aggregate must state its noise,
                        as every release of contract v2 does; one without is refused CODECRYPT_NO_NOISE);
                        then no minimum is held either
  --username U, --password P   broker credentials
Options (all):
  --db FILE             the authority's own database (default authority.sqlite)
  --verify              log: verify the whole chain; exit 1 naming the first bad line
  -h, --help            show this help`;

const OPTIONS = {
  broker: { type: 'string', default: 'mqtt://localhost:1883' },
  prefix: { type: 'string', default: DEFAULT_AUTHORITY_PREFIX },
  share: { type: 'string' },
  'sign-key': { type: 'string' },
  mdms: { type: 'string', multiple: true, default: [] as string[] },
  trust: { type: 'string', multiple: true, default: [] as string[] },
  'min-k': { type: 'string', default: '5' },
  'min-billing-days': { type: 'string', default: '1' },
  'allow-no-noise': { type: 'boolean', default: false },
  'min-sigma2': { type: 'string' },
  'max-epsilon': { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  db: { type: 'string', default: 'authority.sqlite' },
  verify: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

function number(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number ≥ ${min}`, HELP);
  return n;
}

/** A non-negative decimal ("2.5") or "num/den" as an exact rational: σ² is compared without floats. */
function rational(text: string | undefined, name: string): Rational | undefined {
  if (text === undefined) return undefined;
  const fraction = /^([0-9]{1,300})\/([1-9][0-9]{0,300})$/.exec(text);
  if (fraction) return { num: BigInt(fraction[1]!), den: BigInt(fraction[2]!) };
  const decimal = /^([0-9]{1,300})(?:\.([0-9]{1,30}))?$/.exec(text);
  if (!decimal) throw new UsageError(`--${name} must be a decimal number or num/den`, HELP);
  const digits = decimal[2] ?? '';
  return { num: BigInt(decimal[1]! + digits), den: 10n ** BigInt(digits.length) };
}

function policyOf(values: Values): AuthorityPolicy {
  const minSigma2 = rational(values['min-sigma2'], 'min-sigma2');
  const maxEpsilonPerDay = number(values['max-epsilon'], 'max-epsilon', 0);
  if (values['allow-no-noise'] && (minSigma2 !== undefined || maxEpsilonPerDay !== undefined)) {
    throw new UsageError('--allow-no-noise cannot be combined with --min-sigma2 or --max-epsilon', HELP);
  }
  return {
    minK: number(values['min-k'], 'min-k', 2)!,
    minBillingDays: number(values['min-billing-days'], 'min-billing-days', 1)!,
    ...(values['allow-no-noise']
      ? {}
      : {
          requireNoise: {
            ...(minSigma2 && { minSigma2 }),
            ...(maxEpsilonPerDay !== undefined && { maxEpsilonPerDay }),
          },
        }),
  };
}

async function run(values: Values): Promise<void> {
  if (!values.share || !values['sign-key'] || values.mdms.length === 0 || values.trust.length === 0) {
    throw new UsageError('run needs --share, --sign-key, --mdms and at least one --trust', HELP);
  }
  const log = createLogger({ level: 'info' });
  const signKey = loadPrivateKey(values['sign-key'], 'ed25519', 'authority private key');
  const authority = new Authority({
    share: loadShare(values.share, 'authority'),
    trust: parseTrust(values.trust, HELP),
    requesters: values.mdms.map((f) => loadPublicKey(f, 'ed25519', 'MDMS public key')),
    policy: policyOf(values),
    log: new TransparencyLog(openAuthorityDb(values.db)),
    now: () => Date.now(),
  });
  const service = new AuthorityService({
    url: values.broker,
    clientOptions: {
      ...(values.username ? { username: values.username } : {}),
      ...(values.password ? { password: values.password } : {}),
    },
    prefix: values.prefix,
    authority,
    signing: { privateKey: signKey, publicKey: createPublicKey(signKey) },
    log,
  });
  const stop = () => void service.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await service.start();
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (values.help) return void console.log(HELP);
  const command = positionals[0];
  if (command === 'run') return run(values);
  if (command !== 'log' && command !== 'status') {
    throw new UsageError('expected a command: run, log or status', HELP);
  }
  const rows = readLogRows(openAuthorityDb(values.db));
  // The chain is always verified before anything is printed from it; --verify says so explicitly.
  const decisions = verifyTransparencyLog(rows);
  if (command === 'status') {
    const counts = new Map<string, number>();
    for (const d of decisions) {
      const key = d.decision === 'accepted' ? 'accepted' : `refused ${d.code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    console.log(`${values.db}: ${decisions.length} decisions`);
    for (const [key, n] of [...counts].sort()) console.log(`  ${key}: ${n}`);
    return;
  }
  for (const d of decisions) {
    console.log(
      [d.at, d.decision, d.code ?? '-', d.gateway, d.batchId ?? '-', d.record, d.kind ?? '-', d.request].join(
        '\t',
      ),
    );
  }
  if (values.verify) console.error(`verified: ${decisions.length} decisions, chain intact`);
}

runCli(main);
