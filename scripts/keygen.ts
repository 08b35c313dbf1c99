/**
 * scripts/keygen: creates the key pairs of the system (docs/protocol.md §Key files).
 *
 *   scripts/keygen supplier  --out keys [--bits 3072]   Paillier pair (the private half belongs to the MDMS)
 *   scripts/keygen gateway   --out keys                 gateway Ed25519 identity (signs batches)
 *   scripts/keygen mdms      --out keys                 MDMS Ed25519 pair (signs acknowledgements)
 *   scripts/keygen operator  --out keys                 operator Ed25519 pair (signs remote configuration)
 *   scripts/keygen customer  --out keys --name NAME     household X25519 pair
 *   scripts/keygen all       --out keys                 all of the above, one customer named "household"
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../gateway/errors.ts';
import { parseArgs } from 'node:util';
import { fingerprint, writeKeyFile } from '../gateway/keys/files.ts';
import { generatePaillier, generateSigningPair } from '../gateway/keys/generate.ts';
import { paillierPrivateJson, paillierPublicJson } from '../gateway/keys/paillier-files.ts';
import { runCli, UsageError } from './lib/cli.ts';

const HELP = `Usage: scripts/keygen <kind> [options]

Kinds:
  supplier   Paillier key pair of the supplier (g = n+1). The public key goes to every gateway,
             the private key stays with the MDMS.      -> supplier.paillier.pub.json, supplier.paillier.key.json
  gateway    Ed25519 identity of a gateway (signs upstream batches)
                                                       -> gateway.ed25519.key.pem, gateway.ed25519.pub.pem
  mdms       Ed25519 key of the MDMS (signs acknowledgements)
                                                       -> mdms.ed25519.key.pem, mdms.ed25519.pub.pem
  operator   Ed25519 key of a fleet operator (signs remote configuration)
                                                       -> operator.ed25519.key.pem, operator.ed25519.pub.pem
  customer   X25519 key of a household (opens its sealed readings)
                                                       -> customer-NAME.x25519.key.pem, customer-NAME.x25519.pub.pem
  meter      Ed25519 key of a meter that encrypts and signs its own readings (MQTT "sealed" format)
                                                       -> meter-NAME.ed25519.key.pem, meter-NAME.ed25519.pub.pem
  all        every kind above but meter (customer named "household")

Options:
  --out DIR     directory to write to (default: ./keys)
  --bits N      Paillier modulus size: 3072 (default), 4096, or 2048 (acceptable only through 2030, NIST SP 800-57)
  --name NAME   customer or meter key name (default: household)
  --force       replace existing files
  -h, --help    show this help

Private key files are written with mode 0600. Key generation prints its progress.`;

const KINDS = ['supplier', 'gateway', 'mdms', 'operator', 'customer', 'meter', 'all'] as const;
type Kind = (typeof KINDS)[number];

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', default: './keys' },
      bits: { type: 'string', default: '3072' },
      name: { type: 'string', default: 'household' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const kind = positionals[0] as Kind | undefined;
  if (!kind || !KINDS.includes(kind) || positionals.length > 1) {
    throw new UsageError(`expected one kind of: ${KINDS.join(', ')}`, HELP);
  }
  const bits = Number(values.bits);
  if (bits !== 2048 && bits !== 3072 && bits !== 4096)
    throw new UsageError('--bits must be 2048, 3072 or 4096', HELP);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(values.name))
    throw new UsageError('--name: letters, digits, _ and - only', HELP);
  const out = path.resolve(values.out);
  const force = values.force;
  const kinds: Kind[] = kind === 'all' ? ['supplier', 'gateway', 'mdms', 'operator', 'customer'] : [kind];
  const base = (k: Kind) =>
    k === 'supplier'
      ? 'supplier.paillier'
      : k === 'customer'
        ? `customer-${values.name}.x25519`
        : k === 'meter'
          ? `meter-${values.name}.ed25519`
          : `${k}.ed25519`;
  const ext = (k: Kind) => (k === 'supplier' ? 'json' : 'pem');
  const files = (k: Kind) => [
    path.join(out, `${base(k)}.key.${ext(k)}`),
    path.join(out, `${base(k)}.pub.${ext(k)}`),
  ];
  // Refuse before generating anything, so that no half-written pair is ever left behind.
  const existing = force ? [] : kinds.flatMap(files).filter((f) => existsSync(f));
  if (existing.length > 0) {
    throw new GatewayError('KEY_FILE_EXISTS', `${existing.join(', ')} exist(s); pass --force to replace`);
  }

  for (const k of kinds) {
    const [privateFile, publicFile] = files(k) as [string, string];
    if (k === 'supplier') {
      console.log(`supplier: generating a ${bits}-bit Paillier key pair`);
      const key = await generatePaillier(bits, (m) => console.log(`  ${m}`));
      writeKeyFile(privateFile, paillierPrivateJson(key), { secret: true, force });
      writeKeyFile(publicFile, paillierPublicJson(key.publicKey), { secret: false, force });
      console.log(`  wrote ${privateFile} and ${publicFile}`);
      continue;
    }
    const pair = generateSigningPair(k === 'customer' ? 'x25519' : 'ed25519');
    writeKeyFile(privateFile, pair.privatePem, { secret: true, force });
    writeKeyFile(publicFile, pair.publicPem, { secret: false, force });
    console.log(`${k}: wrote ${privateFile} and ${publicFile}, fingerprint ${fingerprint(pair.publicKey)}`);
  }
}

runCli(main);
