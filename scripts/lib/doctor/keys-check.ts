/**
 * The key and secret files the configuration names, read with the gateway's own loaders (gateway/keys/files.ts):
 * present, readable by this user, parsable as the right kind of key, and secrets readable by their owner only.
 * Also: no supplier private key lies beside the gateway's keys.
 */
import { createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../../gateway/config/schema.ts';
import { loadEnrolmentCodes } from '../../../gateway/customer/enrolment-codes.ts';
import { codeOf, fail, messageOf, ok, type Finding } from './finding.ts';
import { fingerprint, loadPrivateKey, loadPublicKey, readSecretFile } from '../../../gateway/keys/files.ts';
import { loadPaillierPublic } from '../../../gateway/keys/paillier-files.ts';
import { checkExponentBits } from '../../../gateway/encrypt/randomizers.ts';

interface KeyFile {
  /** The configuration path naming the file, e.g. keys.gatewayPrivate. */
  field: string;
  file: string;
  /** Reads and checks the file with the gateway's loader; returns what to print about a good one. */
  load: (file: string) => string;
  /** What to do when the file does not exist. */
  whenMissing: string;
}

export function checkKeys(config: Readonly<Config>, user: string): Finding[] {
  const files = keyFiles(config);
  const findings = files.map((k) => checkKeyFile(k, user));
  const dirs = [
    ...new Set(files.filter((k) => k.field.startsWith('keys.')).map((k) => path.dirname(k.file))),
  ];
  findings.push(...dirs.flatMap(noSupplierPrivateKey));
  return findings;
}

function keyFiles(config: Readonly<Config>): KeyFile[] {
  const keys = config.keys;
  const keyDir = path.dirname(keys.gatewayPrivate);
  const received = (from: string) => `copy the file you received from ${from} there (docs/deploy.md, keys)`;
  const secret = (what: string) => (file: string) => {
    const empty = readSecretFile(file, what).trim() === '';
    return `${what}, mode ${modeOf(file)}${empty ? ', EMPTY' : ''}`;
  };
  const ed25519Public = (what: string) => (file: string) =>
    `${what}, fingerprint ${fingerprint(loadPublicKey(file, 'ed25519', what))}`;
  const list: KeyFile[] = [
    {
      field: 'keys.gatewayPrivate',
      file: keys.gatewayPrivate,
      load: (file) => {
        const key = loadPrivateKey(file, 'ed25519', 'gateway private key');
        return `gateway private key, mode ${modeOf(file)}, fingerprint ${fingerprint(createPublicKey(key))}`;
      },
      whenMissing: `create it on this gateway: sudo -u meterspace scripts/keygen gateway --out ${keyDir}`,
    },
    {
      field: 'keys.supplierPublic',
      file: keys.supplierPublic,
      load: (file) => {
        const bits = loadPaillierPublic(file).bits;
        checkExponentBits(config.encryption.exponentBits, bits);
        return `supplier Paillier public key, ${bits} bits`;
      },
      whenMissing: received('the supplier (supplier.paillier.pub.json)'),
    },
    {
      field: 'keys.mdmsPublic',
      file: keys.mdmsPublic,
      load: ed25519Public('MDMS public key'),
      whenMissing: received('the MDMS operator (mdms.ed25519.pub.pem)'),
    },
  ];
  if (keys.operatorPublic) {
    list.push({
      field: 'keys.operatorPublic',
      file: keys.operatorPublic,
      load: ed25519Public('operator public key'),
      whenMissing: received('the operator'),
    });
  }
  if (keys.enrolmentCodes) {
    list.push({
      field: 'keys.enrolmentCodes',
      file: keys.enrolmentCodes,
      load: (file) => `enrolment codes of ${loadEnrolmentCodes(file).size} meter(s), mode ${modeOf(file)}`,
      whenMissing: 'create it with scripts/keygen enrolment-code (docs/customers.md)',
    });
  }
  const password = (field: string, file: string | undefined) => {
    if (file) {
      list.push({
        field,
        file,
        load: secret('broker password file'),
        whenMissing: 'write the broker password into it (one line, mode 0600, owner meterspace)',
      });
    }
  };
  password('upstream.passwordFile', config.upstream.passwordFile);
  password('drivers.mqtt.passwordFile', config.drivers.mqtt?.passwordFile);
  for (const [name, port] of Object.entries(config.drivers.serial ?? {})) {
    if (port.decryptionKeyFile) {
      list.push({
        field: `drivers.serial.${name}.decryptionKeyFile`,
        file: port.decryptionKeyFile,
        load: secret('Smarty decryption key'),
        whenMissing: "write the meter's decryption key from the grid operator into it (mode 0600)",
      });
    }
  }
  config.meters.forEach((m, i) => {
    if (m.source.driver === 'mqtt' && m.source.publicKey) {
      list.push({
        field: `meters.${i}.source.publicKey`,
        file: m.source.publicKey,
        load: ed25519Public(`meter ${m.id} public key`),
        whenMissing: 'copy the public key made with scripts/keygen meter there',
      });
    }
  });
  return list;
}

function checkKeyFile(k: KeyFile, user: string): Finding {
  try {
    return ok('keys', `${k.file}: ${k.load(k.file)}`);
  } catch (error) {
    return fail('keys', `${k.field}: ${messageOf(error)}`, fixFor(codeOf(error), k, user));
  }
}

function fixFor(code: string | undefined, k: KeyFile, user: string): string {
  switch (code) {
    case 'KEY_FILE_MISSING':
      return k.whenMissing;
    case 'KEY_FILE_UNREADABLE':
      return `sudo chown ${user}: ${k.file} (the gateway runs as ${user})`;
    case 'KEY_FILE_INSECURE':
      return `sudo chmod 600 ${k.file}`;
    case 'EXPONENT_TOO_SHORT':
      return 'raise encryption.exponentBits to the figure above, or remove it for the default (2λ)';
    case 'KEY_KIND_WRONG':
      return `point ${k.field} at a file of the kind it names (docs/deploy.md, keys)`;
    case 'KEY_FILE_INVALID':
      return `point ${k.field} at the right file (docs/deploy.md, keys)`;
    default:
      return `check ${k.file}`;
  }
}

/** The supplier's private key decrypts every reading: a gateway must never hold it (docs/raspberry-pi.md §4). */
function noSupplierPrivateKey(dir: string): Finding[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // reported with the key files in it
  }
  return names.flatMap((name) => {
    const file = path.join(dir, name);
    try {
      const s = statSync(file);
      if (!s.isFile() || s.size > 1 << 20 || !readFileSync(file, 'utf8').includes('"paillier-private"'))
        return [];
    } catch {
      return [];
    }
    return [
      fail(
        'keys',
        `${file} is a supplier PRIVATE key: whoever takes this gateway could decrypt every reading`,
        `delete it (sudo shred -u ${file}) and tell the supplier; a gateway needs supplier.paillier.pub.json only`,
      ),
    ];
  });
}

function modeOf(file: string): string {
  return (statSync(file).mode & 0o777).toString(8);
}
