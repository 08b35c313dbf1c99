/** The demo's key set, written like scripts/keygen writes it (the gateway process reads the files). */
import { createPublicKey, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { loadPrivateKey, writeKeyFile } from '../../../gateway/keys/files.ts';
import { generatePaillier, generateSigningPair } from '../../../gateway/keys/generate.ts';
import {
  paillierPrivateJson,
  paillierPublicJson,
  type PaillierPrivateKey,
} from '../../../gateway/keys/paillier-files.ts';
import { shareJson } from '../split-key/share-files.ts';
import { splitKey, type KeyShare } from '../split-key/shares.ts';

export interface DemoKeys {
  supplier: PaillierPrivateKey;
  /** With a split key: the two shares (the whole key is then never written, as in the ceremony). */
  shares?: { supplier: KeyShare; authority: KeyShare };
  gatewayPublicKey: KeyObject;
  mdmsSigning: { privateKey: KeyObject; publicKey: KeyObject };
}

export async function generateDemoKeys(
  dir: string,
  bits: number,
  progress: (m: string) => void,
  split = false,
): Promise<DemoKeys> {
  const supplier = await generatePaillier(bits, progress);
  const shares = split ? splitKey(supplier) : undefined;
  if (shares) {
    writeKeyFile(path.join(dir, 'supplier.share.json'), shareJson(shares.supplier), { secret: true });
    writeKeyFile(path.join(dir, 'authority.share.json'), shareJson(shares.authority), { secret: true });
  } else {
    writeKeyFile(path.join(dir, 'supplier.paillier.key.json'), paillierPrivateJson(supplier), {
      secret: true,
    });
  }
  writeKeyFile(path.join(dir, 'supplier.paillier.pub.json'), paillierPublicJson(supplier.publicKey), {
    secret: false,
  });
  const gateway = generateSigningPair('ed25519');
  writeKeyFile(path.join(dir, 'gateway.ed25519.key.pem'), gateway.privatePem, { secret: true });
  writeKeyFile(path.join(dir, 'gateway.ed25519.pub.pem'), gateway.publicPem, { secret: false });
  const mdms = generateSigningPair('ed25519');
  writeKeyFile(path.join(dir, 'mdms.ed25519.key.pem'), mdms.privatePem, { secret: true });
  writeKeyFile(path.join(dir, 'mdms.ed25519.pub.pem'), mdms.publicPem, { secret: false });
  const mdmsPrivate = loadPrivateKey(path.join(dir, 'mdms.ed25519.key.pem'), 'ed25519', 'MDMS private key');
  return {
    supplier,
    ...(shares ? { shares } : {}),
    gatewayPublicKey: gateway.publicKey,
    mdmsSigning: { privateKey: mdmsPrivate, publicKey: createPublicKey(mdmsPrivate) },
  };
}
