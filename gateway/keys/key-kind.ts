/**
 * What a key file holds, told from its text alone (its PEM label or the kind its JSON names), so that a key of the
 * wrong kind is refused as such before anything else is said about it (issue #20). Node's createPublicKey takes a
 * private key too and derives the public one: without this, the MDMS's private key given as `keys.mdmsPublic`
 * loads, and a thief of the gateway's SD card holds the key that forges acknowledgements. A public key given as a
 * private one would otherwise first be refused for its mode, with a chmod that cannot help.
 */
import { GatewayError } from '../errors.ts';

export type KeyKind =
  | 'private'
  | 'public'
  | 'certificate'
  | 'paillier-public'
  | 'paillier-private'
  | 'paillier-share'
  | 'customer-key';

const WORDS: Record<KeyKind, string> = {
  private: 'a PEM private key',
  public: 'a PEM public key',
  certificate: 'a certificate',
  'paillier-public': 'a Paillier public key',
  'paillier-private': 'a Paillier PRIVATE key',
  'paillier-share': 'a share of a Paillier private key',
  'customer-key': "a household's private key file",
};

/** Kinds whose file holds a secret: found where only public material belongs, it must leave the machine. */
const SECRET = new Set<KeyKind>(['private', 'paillier-private', 'paillier-share', 'customer-key']);

/** The kind of key the text holds; undefined when it is none of them (the parser then says what is wrong). */
export function keyKindOf(text: string): KeyKind | undefined {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (label !== undefined) {
    if (label.endsWith('PRIVATE KEY')) return 'private';
    if (label.endsWith('PUBLIC KEY')) return 'public';
    if (label.endsWith('CERTIFICATE')) return 'certificate';
    return undefined;
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!obj || typeof obj !== 'object') return undefined;
  const { kty, kind } = obj as { kty?: unknown; kind?: unknown };
  if (kty === 'paillier-public' || kty === 'paillier-private' || kty === 'paillier-share') return kty;
  if (kind === 'meterspace-customer-key') return 'customer-key';
  return undefined;
}

/** Why a file of kind `found` cannot serve as `expected`, and what to do; undefined when it can (or is unknown). */
export function keyKindProblem(text: string, expected: KeyKind): string | undefined {
  const found = keyKindOf(text);
  if (found === undefined || found === expected) return undefined;
  const fix = SECRET.has(found)
    ? SECRET.has(expected)
      ? 'point it at the right file'
      : 'give the public file here (scripts/keygen writes it beside the private one, *.pub.*) and remove this ' +
        'secret from this machine: whoever reads it can act as its owner'
    : SECRET.has(expected)
      ? 'point it at the private key file (scripts/keygen writes it as *.key.*)'
      : 'point it at the right file';
  return `is ${WORDS[found]}, not ${WORDS[expected]}: ${fix}`;
}

/** Throws KEY_KIND_WRONG naming the file, what it is and what it should be. */
export function assertKeyKind(text: string, expected: KeyKind, file: string, what: string): void {
  const problem = keyKindProblem(text, expected);
  if (problem) throw new GatewayError('KEY_KIND_WRONG', `${what} ${file} ${problem}`);
}
