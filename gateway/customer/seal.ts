/**
 * Sealing a reading to a household (DESIGN.md "Customer stream"; docs/protocol.md §Customer seal): an ephemeral
 * X25519 key agreement with the household's public key, HKDF-SHA256 to a 256-bit key, AES-256-GCM with the
 * meter's pseudonym and the interval as associated data. Only the household's private key opens it; the gateway,
 * which forgets the ephemeral key at once, cannot open what it sealed. A sealed value moved to another meter's
 * stream or another interval fails authentication.
 *
 * Wire form: base64url of epk (32 bytes) ‖ iv (12) ‖ ciphertext ‖ tag (16).
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { publicKeyFromRaw, rawPublicKey } from './raw-keys.ts';

const INFO = Buffer.from('meterspace/v1 customer seal', 'utf8');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const EPK_BYTES = 32;

function keyFor(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), INFO, 32));
}

/** Seals `plaintext` to the X25519 public key `recipient`, bound to `aad`. */
export function seal(recipient: KeyObject, plaintext: Buffer, aad: string): string {
  const eph = generateKeyPairSync('x25519');
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  const epk = Buffer.from(rawPublicKey(eph.publicKey), 'base64url');
  const key = keyFor(shared, epk, Buffer.from(rawPublicKey(recipient), 'base64url'));
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([epk, iv, ct, cipher.getAuthTag()]).toString('base64url');
}

/** Opens a sealed value with the recipient's X25519 private key; SEAL_INVALID when it is not genuine. */
export function open(recipient: KeyObject, sealed: string, aad: string): Buffer {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < EPK_BYTES + IV_BYTES + TAG_BYTES || bytes.toString('base64url') !== sealed) {
    throw new GatewayError('SEAL_INVALID', 'not a sealed value');
  }
  const epk = bytes.subarray(0, EPK_BYTES);
  const iv = bytes.subarray(EPK_BYTES, EPK_BYTES + IV_BYTES);
  const ct = bytes.subarray(EPK_BYTES + IV_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const ephemeral = publicKeyFromRaw(epk.toString('base64url'), 'X25519');
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: recipient, publicKey: ephemeral });
  } catch (cause) {
    throw new GatewayError('SEAL_INVALID', 'sealed value has an invalid ephemeral key', { cause });
  }
  const recipientRaw = Buffer.from(rawPublicKey(createPublicKey(recipient)), 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', keyFor(shared, epk, recipientRaw), iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch (cause) {
    throw new GatewayError(
      'SEAL_INVALID',
      'sealed value does not authenticate (wrong key, stream or interval)',
      {
        cause,
      },
    );
  }
}
