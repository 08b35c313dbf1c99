/**
 * Redaction covers every secret field name (issue #7, item 9): private keys logged whole as the key files and JWKs
 * hold them (a household's key file, an Ed25519 JWK, the supplier's Paillier private key) and a consent span's
 * mask seed leave none of their secret parts in the gateway's real log file, found by the secret needles of the
 * end-to-end scan, while their public parts stay readable. And every field of the configuration schema whose name
 * suggests a secret is either redacted or known to hold a path or a public key: a new secret field fails here
 * until it is added to SECRET_FIELDS.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { customerKeyJson, generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import { paillierPrivateJson } from '../../../gateway/keys/paillier-files.ts';
import { createLogger } from '../../../gateway/observe/log.ts';
import { SECRET_FIELDS } from '../../../gateway/observe/redact.ts';
import { findNeedles } from '../../helpers/plaintext-scan.ts';
import { bytesNeedles, okpKeyNeedles, paillierNeedles } from '../../helpers/secret-scan.ts';
import { waitFor } from '../../helpers/wait.ts';

const SCHEMA = path.resolve(import.meta.dirname, '../../../config/gateway.schema.json');

/** Configuration fields whose names look secret but hold a file's path, a public key or a switch. */
const NOT_SECRET: Record<string, string> = {
  keys: 'the section of key file paths',
  gatewayPrivate: 'the path of the private key file',
  enrolmentCodes: 'the path of the enrolment-code hashes',
  passwordFile: 'the path of a password file',
  decryptionKeyFile: 'the path of a Smarty key file',
  publicKey: 'the path of a meter public key',
  rejectUnauthorized: 'a TLS switch',
  privacy: 'the privacy section',
};

function schemaFieldNames(node: unknown, names = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const item of node) schemaFieldNames(item, names);
  else if (node && typeof node === 'object') {
    const { properties } = node as { properties?: unknown };
    if (properties && typeof properties === 'object') for (const k of Object.keys(properties)) names.add(k);
    for (const value of Object.values(node)) schemaFieldNames(value, names);
  }
  return names;
}

describe('redaction of key material', () => {
  it('logs no private part of a key or a mask seed, logged whole, and keeps the public parts', async () => {
    const household = generateCustomerKeys();
    const ed25519 = generateKeyPairSync('ed25519').privateKey;
    const supplier = await generatePaillier(2048);
    const seed = randomBytes(32);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'redact-keys-')), 'gateway.log');
    const log = createLogger({ level: 'debug', file }).child({ component: 'customer' });
    log.info({ keyFile: JSON.parse(customerKeyJson(household)) as unknown }, 'a household key file');
    log.info({ jwk: ed25519.export({ format: 'jwk' }) }, 'a JWK');
    log.info({ supplier: JSON.parse(paillierPrivateJson(supplier)) as unknown }, 'a Paillier private key');
    log.debug({ span: { consentId: 'c1', spanStart: 0, seed } }, 'a span');
    log.debug({ span: { consentId: 'c1', spanStart: 0, seed: seed.toString('hex') } }, 'a span, in hex');
    const read = () => {
      try {
        return readFileSync(file);
      } catch {
        return Buffer.alloc(0);
      }
    };
    await waitFor(() => read().toString().split('\n').length > 5, 5000, 'the log lines');

    const secrets = paillierNeedles(supplier);
    okpKeyNeedles('household sealing key', household.sealingPrivate, secrets);
    okpKeyNeedles('household signing key', household.signingPrivate, secrets);
    okpKeyNeedles('Ed25519 key', ed25519, secrets);
    bytesNeedles('mask seed', seed, secrets);
    const text = read();
    expect(findNeedles(text, secrets)).toEqual([]);
    // It did log them, public parts included.
    expect(text.toString()).toContain(household.publicKeys.sealing);
    expect(text.toString()).toContain(supplier.publicKey.n.toString(16));
    expect(text.toString().match(/\[redacted\]/g)).toHaveLength(2 + 1 + 4 + 2);
  });

  it('redacts every configuration field whose name suggests a secret, or knows why not', () => {
    const names = schemaFieldNames(JSON.parse(readFileSync(SCHEMA, 'utf8')));
    const secretLooking = [...names].filter((n) => /pass|secret|token|priv|key|code|seed|auth|cred/i.test(n));
    expect(secretLooking).toEqual(expect.arrayContaining(['password', 'key', 'authenticationKey']));
    for (const name of secretLooking) {
      expect(SECRET_FIELDS.has(name) || name in NOT_SECRET, name).toBe(true);
    }
  });
});
