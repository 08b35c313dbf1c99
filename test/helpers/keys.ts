/** A complete key set in a temporary directory, generated with the real keygen code (2048 bits for speed). */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeKeyFile } from '../../gateway/keys/files.ts';
import { generatePaillier, generateSigningPair } from '../../gateway/keys/generate.ts';
import {
  paillierPrivateJson,
  paillierPublicJson,
  type PaillierPrivateKey,
} from '../../gateway/keys/paillier-files.ts';
import { loadPrivateKey } from '../../gateway/keys/files.ts';

export interface KeySet {
  dir: string;
  supplier: PaillierPrivateKey;
  files: {
    supplierPublic: string;
    supplierPrivate: string;
    gatewayPrivate: string;
    gatewayPublic: string;
    mdmsPrivate: string;
    mdmsPublic: string;
  };
  mdmsSigning: { privateKey: KeyObject; publicKey: KeyObject };
  gatewayPublicKey: KeyObject;
  gatewayPrivateKey: KeyObject;
}

export async function makeKeySet(bits = 2048): Promise<KeySet> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keys-'));
  const supplier = await generatePaillier(bits);
  const files = {
    supplierPublic: path.join(dir, 'supplier.paillier.pub.json'),
    supplierPrivate: path.join(dir, 'supplier.paillier.key.json'),
    gatewayPrivate: path.join(dir, 'gateway.ed25519.key.pem'),
    gatewayPublic: path.join(dir, 'gateway.ed25519.pub.pem'),
    mdmsPrivate: path.join(dir, 'mdms.ed25519.key.pem'),
    mdmsPublic: path.join(dir, 'mdms.ed25519.pub.pem'),
  };
  writeKeyFile(files.supplierPublic, paillierPublicJson(supplier.publicKey), { secret: false });
  writeKeyFile(files.supplierPrivate, paillierPrivateJson(supplier), { secret: true });
  const gw = generateSigningPair('ed25519');
  writeKeyFile(files.gatewayPrivate, gw.privatePem, { secret: true });
  writeKeyFile(files.gatewayPublic, gw.publicPem, { secret: false });
  const mdms = generateSigningPair('ed25519');
  writeKeyFile(files.mdmsPrivate, mdms.privatePem, { secret: true });
  writeKeyFile(files.mdmsPublic, mdms.publicPem, { secret: false });
  const mdmsPrivate = loadPrivateKey(files.mdmsPrivate, 'ed25519', 'mdms key');
  return {
    dir,
    supplier,
    files,
    mdmsSigning: { privateKey: mdmsPrivate, publicKey: createPublicKey(mdmsPrivate) },
    gatewayPublicKey: gw.publicKey,
    gatewayPrivateKey: loadPrivateKey(files.gatewayPrivate, 'ed25519', 'gateway key'),
  };
}
