/**
 * Enrolment codes: a one-time secret per meter, printed for the household at installation, that proves the
 * right to enrol a key for that meter. The gateway stores only a salted hash of it, in a form that verifies
 * without revealing it: the code is stretched with scrypt (salted with the gateway and meter ids) into the
 * seed of an Ed25519 key pair, and the gateway keeps the public key alone (`enrolment-codes.json`). The
 * household's tool derives the private key from the code and signs its enrolment request with it, so the code
 * itself never travels, and whoever reads the gateway's file must still guess the code, at scrypt's cost per
 * guess. Codes are 16 Crockford base-32 characters (80 bits).
 */
import { createPrivateKey, createPublicKey, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { rawPublicKey } from './raw-keys.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 16;
/** scrypt cost: N = 2^15, r = 8 (32 MiB, about 0.1 s here): each guess costs an attacker as much. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/** PKCS#8 DER header of an Ed25519 private key, followed by its 32-byte seed (RFC 8410 §7). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function generateEnrolmentCode(): string {
  const bytes = randomBytes(LENGTH);
  const chars = [...bytes].map((b) => ALPHABET[b & 31]).join('');
  return chars.match(/.{4}/g)!.join('-');
}

/** Upper case, no spaces or dashes, and the letters people mistake for digits read as those digits. */
export function normaliseCode(code: string): string {
  const text = code.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (text.length !== LENGTH || [...text].some((c) => !ALPHABET.includes(c))) {
    throw new GatewayError('ENROLMENT_CODE_INVALID', `an enrolment code is ${LENGTH} letters and digits`);
  }
  return text;
}

/** The key pair a code stands for, for one meter of one gateway. */
export function codeKeyPair(
  code: string,
  gatewayId: string,
  meterId: string,
): { privateKey: KeyObject; publicKey: string } {
  const seed = scryptSync(normaliseCode(code), `meterspace/v1 enrolment ${gatewayId} ${meterId}`, 32, SCRYPT);
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)) };
}
