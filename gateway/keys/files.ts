/**
 * Key files on disk. Private keys are written with mode 0600 and refused when group- or world-accessible, as
 * OpenSSH does: a key others could read must be treated as leaked. Formats are in docs/protocol.md §Key files.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.ts';
import { assertKeyKind, keyKindProblem, type KeyKind } from './key-kind.ts';

export function readKeyFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EACCES') {
      throw new GatewayError(
        'KEY_FILE_UNREADABLE',
        `permission denied reading ${what} ${file}: it must be owned by the user the gateway runs as (chown)`,
        { cause },
      );
    }
    throw new GatewayError(
      'KEY_FILE_MISSING',
      `cannot read ${what} ${file} (create it with scripts/keygen)`,
      {
        cause,
      },
    );
  }
}

/**
 * Reads a private key file after checking that only its owner can read it; given the kind of key it must hold, that
 * first (a public key given as a private one is the wrong file, whatever its mode).
 */
export function readSecretFile(file: string, what: string, kind?: KeyKind): string {
  const text = readKeyFile(file, what);
  if (kind) assertKeyKind(text, kind, file, what);
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new GatewayError(
      'KEY_FILE_INSECURE',
      `${what} ${file} is accessible by group or others (mode ${mode.toString(8)}); run: chmod 600 ${file}`,
    );
  }
  return text;
}

/** Writes a key file; private ones get mode 0600. Refuses to overwrite unless `force`. */
export function writeKeyFile(file: string, text: string, opts: { secret: boolean; force?: boolean }): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, text, { mode: opts.secret ? 0o600 : 0o644, flag: opts.force ? 'w' : 'wx' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new GatewayError('KEY_FILE_EXISTS', `${file} exists; pass --force to replace it`, { cause });
    }
    throw cause;
  }
  // The mode given to writeFileSync only applies to new files and is masked by the umask.
  chmodSync(file, opts.secret ? 0o600 : 0o644);
}

export function loadPrivateKey(file: string, type: 'ed25519' | 'x25519', what: string): KeyObject {
  const pem = readSecretFile(file, what, 'private');
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new GatewayError('KEY_FILE_INVALID', `${what} ${file} is not a PKCS#8 PEM private key`, { cause });
  }
  if (key.asymmetricKeyType !== type) {
    throw new GatewayError(
      'KEY_FILE_INVALID',
      `${what} ${file} is a ${key.asymmetricKeyType} key, not ${type}`,
    );
  }
  return key;
}

export function loadPublicKey(file: string, type: 'ed25519' | 'x25519', what: string): KeyObject {
  return parsePublicKey(readKeyFile(file, what), type, `${what} ${file}`);
}

export function parsePublicKey(pem: string, type: 'ed25519' | 'x25519', what: string): KeyObject {
  // createPublicKey would take a private key and derive the public one from it.
  const problem = keyKindProblem(pem, 'public');
  if (problem) throw new GatewayError('KEY_KIND_WRONG', `${what} ${problem}`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (cause) {
    throw new GatewayError('KEY_FILE_INVALID', `${what} is not an SPKI PEM public key`, { cause });
  }
  if (key.asymmetricKeyType !== type) {
    throw new GatewayError('KEY_FILE_INVALID', `${what} is a ${key.asymmetricKeyType} key, not ${type}`);
  }
  return key;
}

/** SHA-256 of the public key's DER (SPKI), first 16 bytes in hex: short enough to read aloud, long enough to trust. */
export function fingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 32);
}
