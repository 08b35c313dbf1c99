/**
 * The gateway's X25519 key that households seal their requests to (docs/protocol.md §14 "Sealed requests"), so
 * that the broker's operator reads neither the meter a request names nor its keys, the third parties it
 * consents to, nor what the gateway answers. It is derived from the gateway's Ed25519 identity (HKDF-SHA256),
 * so it needs no key file of its own and changes only with the identity. The gateway announces it, signed, as
 * a retained message.
 */
import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { rawPrivateKey } from './raw-keys.ts';

/** PKCS#8 DER prefix of an X25519 private key (RFC 8410): the 32 raw bytes follow. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function requestKey(identityPrivate: KeyObject): { privateKey: KeyObject; publicKey: KeyObject } {
  const ikm = Buffer.from(rawPrivateKey(identityPrivate), 'base64url');
  const d = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), 'meterspace/v1 request key', 32));
  const privateKey = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, d]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
