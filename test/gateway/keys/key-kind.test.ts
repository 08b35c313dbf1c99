/**
 * Keys of the right kind (issue #20): every loader refuses a private key where a public one belongs and a public
 * key where a private one belongs with KEY_KIND_WRONG, naming the file, what it is and what it should be, and before
 * anything else about it (no `chmod 600` for a public key given as a private one). The files are made by the real
 * key generation code and openssl.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generateCustomerKeys,
  loadCustomerKeys,
  saveCustomerKeys,
} from '../../../gateway/customer/customer-key.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { loadPrivateKey, loadPublicKey, readSecretFile } from '../../../gateway/keys/files.ts';
import { keyKindOf } from '../../../gateway/keys/key-kind.ts';
import { loadPaillierPrivate, loadPaillierPublic } from '../../../gateway/keys/paillier-files.ts';
import { makeKeySet, type KeySet } from '../../helpers/keys.ts';

/** The error `fn` throws (it must throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('keys of the right kind', () => {
  let keys: KeySet;
  let dir: string;
  let certificate: string;
  let household: string;

  beforeAll(async () => {
    keys = await makeKeySet();
    dir = mkdtempSync(path.join(tmpdir(), 'key-kind-'));
    certificate = path.join(dir, 'ca.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'].concat(
        ['-keyout', path.join(dir, 'ca.key'), '-out', certificate, '-subj', '/CN=test-ca'],
      ),
      { stdio: 'ignore' },
    );
    household = path.join(dir, 'household.key.json');
    saveCustomerKeys(household, generateCustomerKeys());
  }, 120_000);

  it('tells each kind of file from its text', () => {
    const kind = (file: string) => keyKindOf(readFileSync(file, 'utf8'));
    expect(kind(keys.files.gatewayPrivate)).toBe('private');
    expect(kind(keys.files.gatewayPublic)).toBe('public');
    expect(kind(keys.files.supplierPublic)).toBe('paillier-public');
    expect(kind(keys.files.supplierPrivate)).toBe('paillier-private');
    expect(kind(certificate)).toBe('certificate');
    expect(kind(path.join(dir, 'ca.key'))).toBe('private'); // openssl's EC key, as TLS uses
    expect(kind(household)).toBe('customer-key');
    expect(keyKindOf('not a key')).toBeUndefined();
    expect(keyKindOf('{"kty":"something-else"}')).toBeUndefined();
  });

  it("refuses the MDMS's private key as the MDMS public key, naming the file and what it should be", () => {
    const error = thrown(() => loadPublicKey(keys.files.mdmsPrivate, 'ed25519', 'MDMS public key'));
    expect(isGatewayError(error, 'KEY_KIND_WRONG'), String(error)).toBe(true);
    expect(error.message).toContain(
      `MDMS public key ${keys.files.mdmsPrivate} is a PEM private key, not a PEM public key`,
    );
    expect(error.message).toContain('remove this secret from this machine');
    // The right file still loads.
    expect(loadPublicKey(keys.files.mdmsPublic, 'ed25519', 'MDMS public key').type).toBe('public');
  });

  it('refuses a public key as the gateway private key, without a chmod hint (the file is 0644)', () => {
    const error = thrown(() => loadPrivateKey(keys.files.gatewayPublic, 'ed25519', 'gateway private key'));
    expect(isGatewayError(error, 'KEY_KIND_WRONG'), String(error)).toBe(true);
    expect(error.message).toContain(
      `gateway private key ${keys.files.gatewayPublic} is a PEM public key, not a PEM private key`,
    );
    expect(error.message).not.toMatch(/chmod 600|run: chmod/);
    expect(loadPrivateKey(keys.files.gatewayPrivate, 'ed25519', 'gateway private key').type).toBe('private');
  });

  it('refuses the Paillier private key as the public one and the other way round', () => {
    const asPublic = thrown(() => loadPaillierPublic(keys.files.supplierPrivate));
    expect(isGatewayError(asPublic, 'KEY_KIND_WRONG'), String(asPublic)).toBe(true);
    expect(asPublic.message).toContain('is a Paillier PRIVATE key, not a Paillier public key');
    const asPrivate = thrown(() => loadPaillierPrivate(keys.files.supplierPublic));
    expect(isGatewayError(asPrivate, 'KEY_KIND_WRONG'), String(asPrivate)).toBe(true);
    expect(asPrivate.message).toContain(
      `${keys.files.supplierPublic} is a Paillier public key, not a Paillier PRIVATE key`,
    );
    expect(loadPaillierPublic(keys.files.supplierPublic).bits).toBe(2048);
  });

  it("refuses a PEM key as a household's key file, and a household's key file as a public key", () => {
    const copy = path.join(dir, 'gateway.ed25519.key.pem');
    copyFileSync(keys.files.gatewayPrivate, copy);
    const pem = thrown(() => loadCustomerKeys(copy));
    expect(isGatewayError(pem, 'KEY_KIND_WRONG'), String(pem)).toBe(true);
    expect(pem.message).toContain("is a PEM private key, not a household's private key file");
    const asPublic = thrown(() => loadPublicKey(household, 'ed25519', 'operator public key'));
    expect(isGatewayError(asPublic, 'KEY_KIND_WRONG'), String(asPublic)).toBe(true);
    expect(loadCustomerKeys(household).publicKeys.signing).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a certificate or a public key as a TLS client key', () => {
    for (const file of [certificate, keys.files.gatewayPublic]) {
      const error = thrown(() => readSecretFile(file, 'client private key', 'private'));
      expect(isGatewayError(error, 'KEY_KIND_WRONG'), String(error)).toBe(true);
    }
    expect(readSecretFile(path.join(dir, 'ca.key'), 'client private key', 'private')).toContain(
      'PRIVATE KEY',
    );
  });
});
