/**
 * scripts/keygen: creates the key pairs of the system (docs/protocol.md §Key files).
 *
 *   scripts/keygen supplier  --out keys [--bits 3072]   Paillier pair (the private half belongs to the MDMS)
 *   scripts/keygen supplier  --split --out keys          split key: public key + supplier and authority shares
 *   scripts/keygen gateway   --out keys                 gateway Ed25519 identity (signs batches)
 *   scripts/keygen mdms      --out keys                 MDMS Ed25519 pair (signs acknowledgements)
 *   scripts/keygen operator  --out keys                 operator Ed25519 pair (signs remote configuration)
 *   scripts/keygen authority --out keys                 privacy authority Ed25519 pair (signs its replies)
 *   scripts/keygen all       --out keys                 all of the above but authority
 *   scripts/keygen enrolment-code --config F --meter ID  a meter's one-time enrolment code (only its hash is kept)
 *
 * Households make their own keys, on their own device: scripts/customer keygen.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../gateway/errors.ts';
import { parseArgs } from 'node:util';
import { fingerprint, writeKeyFile } from '../gateway/keys/files.ts';
import { generatePaillier, generateSigningPair } from '../gateway/keys/generate.ts';
import { paillierPrivateJson, paillierPublicJson } from '../gateway/keys/paillier-files.ts';
import { loadConfigFile } from '../gateway/config/load.ts';
import { codeKeyPair, generateEnrolmentCode } from '../gateway/customer/enrolment-code.ts';
import { storeEnrolmentCode } from '../gateway/customer/enrolment-codes.ts';
import { boundIdentityReadOnly, meterIdState } from '../gateway/devices/on-site.ts';
import { deviceLabel } from '../gateway/devices/device-label.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { splitCeremony, splitShareFiles } from './lib/split-key/ceremony.ts';

const HELP = `Usage: scripts/keygen <kind> [options]

Kinds:
  supplier   Paillier key pair of the supplier (g = n+1). The public key goes to every gateway,
             the private key stays with the MDMS.      -> supplier.paillier.pub.json, supplier.paillier.key.json
             With --split (the key ceremony, docs/key-ceremony.md): no private key; the decryption exponent is
             split between the supplier's MDMS and the privacy authority, p, q and λ are never written.
                                                       -> supplier.paillier.pub.json, supplier.share.json,
                                                          authority.share.json
  gateway    Ed25519 identity of a gateway (signs upstream batches)
                                                       -> gateway.ed25519.key.pem, gateway.ed25519.pub.pem
  mdms       Ed25519 key of the MDMS (signs acknowledgements)
                                                       -> mdms.ed25519.key.pem, mdms.ed25519.pub.pem
  operator   Ed25519 key of a fleet operator (signs remote configuration)
                                                       -> operator.ed25519.key.pem, operator.ed25519.pub.pem
  meter      Ed25519 key of a meter that encrypts and signs its own readings (MQTT "sealed" format)
                                                       -> meter-NAME.ed25519.key.pem, meter-NAME.ed25519.pub.pem
  authority  Ed25519 key of the privacy authority (signs its co-decryption replies; made by the authority)
                                                       -> authority.ed25519.key.pem, authority.ed25519.pub.pem
  all        every kind above but meter and authority
  enrolment-code
             a one-time enrolment code for each --meter of the gateway's --config: printed once, to hand to
             the household (on the meter or on paper); the gateway keeps only a salted hash of it, in the file
             named by keys.enrolmentCodes. Running it again for a meter replaces its code. The code is bound
             to the device the gateway has bound to the meter (the sheet names it, e.g. "meter serial
             E0044…", for the household to compare with its meter); a meter not read yet gets an unbound
             code, pinned to the meter's device when it is used.

Households make their own keys on their own device: scripts/customer keygen.

Options:
  --out DIR     directory to write to (default: ./keys)
  --bits N      Paillier modulus size: 3072 (default), 4096, or 2048 (acceptable only through 2030, NIST SP 800-57)
  --name NAME   meter key name (default: household)
  --config F    enrolment-code: the gateway's configuration file
  --meter ID    enrolment-code: a meter id of that configuration (repeatable)
  --split       supplier: write two key shares instead of the private key (run on an offline machine)
  --force       replace existing files
  -h, --help    show this help

Private key files are written with mode 0600. Key generation prints its progress.`;

const KINDS = [
  'supplier',
  'gateway',
  'mdms',
  'operator',
  'meter',
  'authority',
  'all',
  'enrolment-code',
] as const;
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
      split: { type: 'boolean', default: false },
      config: { type: 'string' },
      meter: { type: 'string', multiple: true },
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
  if (kind === 'enrolment-code') return enrolmentCodes(values.config, values.meter ?? []);
  const bits = Number(values.bits);
  if (bits !== 2048 && bits !== 3072 && bits !== 4096)
    throw new UsageError('--bits must be 2048, 3072 or 4096', HELP);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(values.name))
    throw new UsageError('--name: letters, digits, _ and - only', HELP);
  const out = path.resolve(values.out);
  const force = values.force;
  const kinds: Kind[] = kind === 'all' ? ['supplier', 'gateway', 'mdms', 'operator'] : [kind];
  const base = (k: Kind) =>
    k === 'supplier' ? 'supplier.paillier' : k === 'meter' ? `meter-${values.name}.ed25519` : `${k}.ed25519`;
  const ext = (k: Kind) => (k === 'supplier' ? 'json' : 'pem');
  const split = values.split;
  if (split && kind !== 'supplier') throw new UsageError('--split applies to the supplier key only', HELP);
  const files = (k: Kind) => [
    ...(k === 'supplier' && split ? splitShareFiles(out) : [path.join(out, `${base(k)}.key.${ext(k)}`)]),
    path.join(out, `${base(k)}.pub.${ext(k)}`),
  ];
  // Refuse before generating anything, so that no half-written pair is ever left behind.
  const existing = force ? [] : kinds.flatMap(files).filter((f) => existsSync(f));
  if (existing.length > 0) {
    throw new GatewayError('KEY_FILE_EXISTS', `${existing.join(', ')} exist(s); pass --force to replace`);
  }

  for (const k of kinds) {
    if (k === 'supplier' && split) {
      await splitCeremony(bits, out, force);
      continue;
    }
    const [privateFile, publicFile] = files(k) as [string, string];
    if (k === 'supplier') {
      console.log(`supplier: generating a ${bits}-bit Paillier key pair`);
      const key = await generatePaillier(bits, (m) => console.log(`  ${m}`));
      writeKeyFile(privateFile, paillierPrivateJson(key), { secret: true, force });
      writeKeyFile(publicFile, paillierPublicJson(key.publicKey), { secret: false, force });
      console.log(`  wrote ${privateFile} and ${publicFile}`);
      continue;
    }
    const pair = generateSigningPair('ed25519');
    writeKeyFile(privateFile, pair.privatePem, { secret: true, force });
    writeKeyFile(publicFile, pair.publicPem, { secret: false, force });
    console.log(`${k}: wrote ${privateFile} and ${publicFile}, fingerprint ${fingerprint(pair.publicKey)}`);
  }
}

/** Makes and prints a one-time code per meter; stores only the public key each code stands for. */
function enrolmentCodes(configFile: string | undefined, meters: string[]): Promise<void> {
  if (!configFile || meters.length === 0)
    throw new UsageError('enrolment-code needs --config and at least one --meter', HELP);
  const config = loadConfigFile(configFile);
  const file = config.keys.enrolmentCodes;
  if (!file) {
    throw new GatewayError(
      'CONFIG_INVALID',
      `${configFile}: set keys.enrolmentCodes (e.g. enrolment-codes.json beside the other keys) first`,
    );
  }
  const known = new Set(config.meters.map((m) => m.id));
  for (const meter of meters) {
    if (!known.has(meter)) throw new UsageError(`--meter ${meter}: not a meter of ${configFile}`, HELP);
    // Issue #14: a retired id (removed or re-homed) never enrols again; its device gets a new id and code.
    if (meterIdState(config, meter) === 'retired') {
      throw new GatewayError(
        'METER_ID_RETIRED',
        `--meter ${meter}: this meter id is retired on this gateway; configure the device under a new id`,
      );
    }
  }
  for (const meter of meters) {
    const code = generateEnrolmentCode();
    // Bound to the device the gateway has bound to this meter, or unbound (pinned at its use) if not read yet.
    const device = boundIdentityReadOnly(config, meter);
    storeEnrolmentCode(file, meter, codeKeyPair(code, config.gateway.id, meter).publicKey, device);
    console.log(`${meter}\t${code}`);
    console.log(
      `\tmeter ${meter}, ${device === undefined ? 'device not read yet: the code is pinned to the first device read as this meter' : `device ${deviceLabel(device)}: compare it with the serial on the meter`}`,
    );
  }
  console.error(
    `stored the hashes in ${file}; hand each code to its household (it is shown only now). ` +
      'A running gateway reads the file at each enrolment: no restart needed.',
  );
  return Promise.resolve();
}

runCli(main);
