/**
 * Signed envelope of every message of the contract (docs/protocol.md §Envelope):
 *   {"v":1,"alg":"Ed25519","kid":"<fingerprint>","body":"<JSON text>","sig":"<base64 Ed25519 signature>"}
 * The signature covers the UTF-8 bytes of `body` exactly as sent, so no JSON canonicalisation is needed.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { fingerprint } from '../keys/files.ts';

const Envelope = z
  .object({
    v: z.literal(1),
    alg: z.literal('Ed25519'),
    kid: z.string().regex(/^[0-9a-f]{32}$/),
    body: z.string().max(16 * 1024 * 1024),
    // Canonical base64 only: the last character before "==" carries 2 bits and 4 zero bits, which decoders ignore,
    // so 16 spellings of one signature would all verify; one message has one encoding.
    sig: z.string().regex(/^[A-Za-z0-9+/]{85}[AQgw]==$/),
  })
  .strict();

export interface Sealed {
  message: string;
  body: string;
  /** SHA-256 of the body, hex: what an acknowledgement names. */
  bodyDigest: string;
}

export function digest(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

export function signEnvelope(body: unknown, privateKey: KeyObject, publicKey: KeyObject): Sealed {
  const text = JSON.stringify(body);
  const sig = sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64');
  const message = JSON.stringify({ v: 1, alg: 'Ed25519', kid: fingerprint(publicKey), body: text, sig });
  return { message, body: text, bodyDigest: digest(text) };
}

/**
 * Verifies an envelope against the one key allowed to have signed it and returns the parsed body.
 * Throws MESSAGE_MALFORMED or SIGNATURE_INVALID; never anything else.
 */
export function openEnvelope(
  raw: Buffer | string,
  publicKey: KeyObject,
): { body: unknown; bodyDigest: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString());
  } catch {
    throw new GatewayError('MESSAGE_MALFORMED', 'message is not JSON');
  }
  const env = Envelope.safeParse(parsed);
  if (!env.success) throw new GatewayError('MESSAGE_MALFORMED', 'message is not a v1 signed envelope');
  const ok = verify(null, Buffer.from(env.data.body, 'utf8'), publicKey, Buffer.from(env.data.sig, 'base64'));
  if (!ok) throw new GatewayError('SIGNATURE_INVALID', 'signature does not verify');
  try {
    return { body: JSON.parse(env.data.body), bodyDigest: digest(env.data.body) };
  } catch {
    throw new GatewayError('MESSAGE_MALFORMED', 'signed body is not JSON');
  }
}
