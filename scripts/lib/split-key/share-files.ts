/**
 * Key-share files (docs/key-ceremony.md): JSON like the Paillier key files, one per holder, never loaded by a
 * gateway. Each names its role and the fingerprint of the public key it belongs to, so that a share paired with
 * another key's share, or the supplier's share given to the authority, is refused at load instead of decrypting
 * to garbage.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../../../gateway/errors.ts';
import { fromHex, toHex } from '../../../gateway/encrypt/bigint.ts';
import { publicKeyFromN, type PaillierPublicKey } from '../../../gateway/encrypt/paillier.ts';
import { readSecretFile } from '../../../gateway/keys/files.ts';
import type { KeyShare, ShareRole } from './shares.ts';

/** SHA-256 of n's hex, first 32 hex digits: names a Paillier public key in share files and messages. */
export function paillierFingerprint(key: PaillierPublicKey): string {
  return createHash('sha256').update(toHex(key.n), 'utf8').digest('hex').slice(0, 32);
}

const signedHex = (x: bigint) => (x < 0n ? `-${toHex(-x)}` : toHex(x));

export function shareJson(share: KeyShare): string {
  const body = {
    kty: 'paillier-share',
    version: 1,
    role: share.role,
    bits: share.publicKey.bits,
    n: toHex(share.publicKey.n),
    fingerprint: paillierFingerprint(share.publicKey),
    share: signedHex(share.share),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

export function parseShare(text: string, role: ShareRole, where: string): KeyShare {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new GatewayError('KEY_FILE_INVALID', `${where} is not JSON`, { cause });
  }
  if (!obj || obj.kty !== 'paillier-share') {
    throw new GatewayError('KEY_FILE_INVALID', `${where} is not a paillier-share key file`);
  }
  if (obj.role !== role) {
    throw new GatewayError(
      'KEY_FILE_INVALID',
      `${where} is the ${String(obj.role)} share, not the ${role} share`,
    );
  }
  const n = typeof obj.n === 'string' ? fromHex(obj.n) : undefined;
  const raw = typeof obj.share === 'string' ? obj.share : '';
  const magnitude = fromHex(raw.replace(/^-/, ''));
  if (n === undefined || magnitude === undefined) {
    throw new GatewayError('KEY_FILE_INVALID', `${where}: "n" and "share" must be hex strings`);
  }
  const publicKey = publicKeyFromN(n);
  if (obj.fingerprint !== paillierFingerprint(publicKey)) {
    throw new GatewayError('KEY_FILE_INVALID', `${where}: fingerprint does not match n`);
  }
  return { role, publicKey, share: raw.startsWith('-') ? -magnitude : magnitude };
}

export function loadShare(file: string, role: ShareRole): KeyShare {
  return parseShare(readSecretFile(file, `${role} key share`, 'paillier-share'), role, file);
}
