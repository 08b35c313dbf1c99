/**
 * A household's keys (made on its own device by `scripts/customer keygen`): an X25519 key that readings are
 * sealed to, and an Ed25519 key that signs its requests (enrolment, history, erase, consent). The gateway only
 * ever sees the public halves. The fingerprint, shown at key generation and by the gateway at enrolment, lets the
 * household check that the gateway enrolled its key and no other; the pseudonym names its stream on the broker
 * instead of the meter.
 *
 * Key file (JSON, mode 0600): {"kind":"meterspace-customer-key","v":1,"sealing":{"d","x"},"signing":{"d","x"}},
 * raw keys in base64url (docs/protocol.md §Customer keys).
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { readSecretFile, writeKeyFile } from '../keys/files.ts';
import { privateKeyFromRaw, publicKeyFromRaw, rawPrivateKey, rawPublicKey } from './raw-keys.ts';

export interface CustomerPublicKeys {
  /** X25519, raw base64url: readings are sealed to it. */
  sealing: string;
  /** Ed25519, raw base64url: verifies the household's requests. */
  signing: string;
}

export interface CustomerKeys {
  publicKeys: CustomerPublicKeys;
  sealingPrivate: KeyObject;
  signingPrivate: KeyObject;
}

const RawPair = z.object({
  d: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
const KeyFile = z
  .object({ kind: z.literal('meterspace-customer-key'), v: z.literal(1), sealing: RawPair, signing: RawPair })
  .strict();

export function generateCustomerKeys(): CustomerKeys {
  const sealing = generateKeyPairSync('x25519');
  const signing = generateKeyPairSync('ed25519');
  return {
    publicKeys: { sealing: rawPublicKey(sealing.publicKey), signing: rawPublicKey(signing.publicKey) },
    sealingPrivate: sealing.privateKey,
    signingPrivate: signing.privateKey,
  };
}

export function customerKeyJson(keys: CustomerKeys): string {
  const body = {
    kind: 'meterspace-customer-key',
    v: 1,
    sealing: { d: rawPrivateKey(keys.sealingPrivate), x: keys.publicKeys.sealing },
    signing: { d: rawPrivateKey(keys.signingPrivate), x: keys.publicKeys.signing },
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

export function saveCustomerKeys(file: string, keys: CustomerKeys, force = false): void {
  writeKeyFile(file, customerKeyJson(keys), { secret: true, force });
}

export function loadCustomerKeys(file: string): CustomerKeys {
  const text = readSecretFile(file, 'customer key', 'customer-key');
  let parsed;
  try {
    parsed = KeyFile.parse(JSON.parse(text));
  } catch (cause) {
    throw new GatewayError('KEY_FILE_INVALID', `${file} is not a customer key file`, { cause });
  }
  const mismatch = (cause?: unknown) =>
    new GatewayError('KEY_FILE_INVALID', `${file}: a private key does not match its public key`, { cause });
  let keys: CustomerKeys;
  try {
    keys = {
      publicKeys: { sealing: parsed.sealing.x, signing: parsed.signing.x },
      sealingPrivate: privateKeyFromRaw(parsed.sealing.d, parsed.sealing.x, 'X25519'),
      signingPrivate: privateKeyFromRaw(parsed.signing.d, parsed.signing.x, 'Ed25519'),
    };
  } catch (cause) {
    throw mismatch(cause);
  }
  // OpenSSL takes the private key from "d" and does not check "x" against it: a damaged file would sign and open
  // with keys other than the ones it names (and the gateway enrolled).
  const derived = (key: KeyObject) => rawPublicKey(createPublicKey(key));
  if (
    derived(keys.sealingPrivate) !== parsed.sealing.x ||
    derived(keys.signingPrivate) !== parsed.signing.x
  ) {
    throw mismatch();
  }
  return keys;
}

/** Checks that both public keys are valid points of their curves; returns them as KeyObjects. */
export function customerPublicKeyObjects(keys: CustomerPublicKeys): {
  sealing: KeyObject;
  signing: KeyObject;
} {
  return {
    sealing: publicKeyFromRaw(keys.sealing, 'X25519'),
    signing: publicKeyFromRaw(keys.signing, 'Ed25519'),
  };
}

/** SHA-256 over both public keys, the first 20 bytes as ten groups of four hex digits: what a household compares. */
export function customerFingerprint(keys: CustomerPublicKeys): string {
  const hex = createHash('sha256')
    .update(`meterspace/v1 customer ${keys.sealing} ${keys.signing}`, 'utf8')
    .digest('hex')
    .slice(0, 40);
  return hex.match(/.{4}/g)!.join(' ');
}

/**
 * The name of a household's stream: derived from the gateway, the meter and the household's keys, so the
 * household computes it itself, the topic does not show the meter, and a new key gives a new name. (Whoever
 * reads the enrolment request on the broker sees the meter id and the keys, and can link the two.)
 */
export function customerPseudonym(gatewayId: string, meterId: string, keys: CustomerPublicKeys): string {
  return createHash('sha256')
    .update(`meterspace/v1 pseudonym ${gatewayId} ${meterId} ${keys.sealing} ${keys.signing}`, 'utf8')
    .digest('hex')
    .slice(0, 32);
}
