/**
 * Needles for private key material, the companion of plaintext-scan.ts: every encoding a key could leak in, each
 * long and random enough never to turn up by chance in megabytes of ciphertext hex, SQLite pages and logs.
 * Raw bytes, hex (both cases), and base64 and base64url at each of the three byte alignments a key can have
 * inside a longer base64 text (a PEM body, a DER or JSON blob), so a PKCS#8 PEM or DER of the key is found too.
 */
import type { KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { toBytes } from '../../gateway/encrypt/bigint.ts';
import { codeKeyPair, normaliseCode } from '../../gateway/customer/enrolment-code.ts';
import { rawPrivateKey } from '../../gateway/customer/raw-keys.ts';
import type { PaillierPrivateKey } from '../../gateway/keys/paillier-files.ts';

export type Needles = Map<string, Buffer>;

/** The base64 of `raw` as it reads inside a longer text, where it starts `shift` bytes into a 3-byte group. */
function embeddedBase64(raw: Buffer, shift: number, encoding: 'base64' | 'base64url'): string {
  const padded = Buffer.concat([Buffer.alloc(shift), raw]);
  // Characters that mix bits of the key with bits of what comes before or after are dropped.
  const exact = Math.floor(padded.length / 3) * 4 + (padded.length % 3);
  return padded.toString(encoding).replace(/=+$/, '').slice([0, 2, 3][shift], exact);
}

/** Every encoding of `raw` (a seed, a scalar, a prime), named `what`. */
export function bytesNeedles(what: string, raw: Buffer, needles: Needles = new Map()): Needles {
  needles.set(`${what} (raw bytes)`, raw);
  needles.set(`${what} (hex)`, Buffer.from(raw.toString('hex')));
  needles.set(`${what} (HEX)`, Buffer.from(raw.toString('hex').toUpperCase()));
  for (const encoding of ['base64', 'base64url'] as const) {
    for (const shift of [0, 1, 2]) {
      needles.set(`${what} (${encoding}+${shift})`, Buffer.from(embeddedBase64(raw, shift, encoding)));
    }
  }
  return needles;
}

/** An Ed25519 or X25519 private key: its 32 raw bytes in every encoding, its PKCS#8 PEM and DER. */
export function okpKeyNeedles(what: string, key: KeyObject, needles: Needles = new Map()): Needles {
  bytesNeedles(what, Buffer.from(rawPrivateKey(key), 'base64url'), needles);
  needles.set(`${what} (PEM)`, Buffer.from(key.export({ type: 'pkcs8', format: 'pem' }).toString()));
  needles.set(`${what} (DER)`, key.export({ type: 'pkcs8', format: 'der' }));
  return needles;
}

/** The supplier's Paillier private key: λ, μ, p and q in decimal, hex and bytes. */
export function paillierNeedles(key: PaillierPrivateKey, needles: Needles = new Map()): Needles {
  for (const [name, value] of Object.entries({ lambda: key.lambda, mu: key.mu, p: key.p, q: key.q })) {
    needles.set(`supplier ${name} (decimal)`, Buffer.from(value.toString(10)));
    bytesNeedles(`supplier ${name}`, toBytes(value), needles);
    // As a number in hex it has no leading zero digit: the even-length hex of its bytes may not be found.
    needles.set(`supplier ${name} (hex)`, Buffer.from(value.toString(16)));
    needles.set(`supplier ${name} (HEX)`, Buffer.from(value.toString(16).toUpperCase()));
  }
  return needles;
}

/** A meter's one-time enrolment code as printed, as typed and normalised, and the signing key it stands for. */
export function enrolmentCodeNeedles(
  code: string,
  gatewayId: string,
  meterId: string,
  needles: Needles = new Map(),
): Needles {
  const plain = normaliseCode(code);
  for (const text of new Set([code, code.toLowerCase(), plain, plain.toLowerCase()]))
    needles.set(`enrolment code of ${meterId} "${text}"`, Buffer.from(text));
  return okpKeyNeedles(
    `enrolment key of ${meterId}`,
    codeKeyPair(code, gatewayId, meterId).privateKey,
    needles,
  );
}

/** Every regular file under `dir`, at any depth, with its contents. */
export function filesUnder(dir: string): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = path.join(dir, name);
    if (statSync(file).isFile()) found.set(file, readFileSync(file));
  }
  return found;
}
