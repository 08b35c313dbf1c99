/**
 * The file of enrolment-code hashes (`keys.enrolmentCodes`): per meter, the Ed25519 public key its code stands
 * for (enrolment-code.ts), never the code. Written on the gateway by `scripts/keygen enrolment-code` (mode
 * 0600, replaced atomically); remote configuration cannot touch it, so it cannot open the way to a key.
 *
 *   {"kind":"meterspace-enrolment-codes","v":1,"meters":{"m1":"<raw public key, base64url>"}}
 */
import { existsSync, renameSync } from 'node:fs';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { readSecretFile, writeKeyFile } from '../keys/files.ts';

const CodesFile = z
  .object({
    kind: z.literal('meterspace-enrolment-codes'),
    v: z.literal(1),
    meters: z.record(z.string(), z.string().regex(/^[A-Za-z0-9_-]{43}$/)),
  })
  .strict();

export type EnrolmentCodes = ReadonlyMap<string, string>;

export function loadEnrolmentCodes(file: string): EnrolmentCodes {
  let parsed;
  try {
    parsed = CodesFile.parse(JSON.parse(readSecretFile(file, 'enrolment codes')));
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    throw new GatewayError('KEY_FILE_INVALID', `${file} is not an enrolment-codes file`, { cause });
  }
  return new Map(Object.entries(parsed.meters));
}

/**
 * Adds or replaces a meter's code hash; the file is created when missing, its directory too (0700). The
 * temporary file is made 0600 whatever the umask or a stale one left by an interrupted run.
 */
export function storeEnrolmentCode(file: string, meterId: string, publicKey: string): void {
  const meters: Record<string, string> = existsSync(file) ? Object.fromEntries(loadEnrolmentCodes(file)) : {};
  meters[meterId] = publicKey;
  writeCodes(file, meters);
}

/**
 * Deletes the codes of meters removed or re-homed (issue #14: a retired meter's code is void; a new id gets a new
 * code on site). Returns the meters whose code was deleted; the file is rewritten only if one was.
 */
export function removeEnrolmentCodes(file: string, meterIds: readonly string[]): string[] {
  if (!existsSync(file)) return [];
  const meters = Object.fromEntries(loadEnrolmentCodes(file));
  const removed = meterIds.filter((id) => id in meters);
  if (removed.length === 0) return [];
  for (const id of removed) delete meters[id];
  writeCodes(file, meters);
  return removed;
}

function writeCodes(file: string, meters: Record<string, string>): void {
  const text = `${JSON.stringify({ kind: 'meterspace-enrolment-codes', v: 1, meters }, null, 2)}\n`;
  const tmp = `${file}.tmp`;
  writeKeyFile(tmp, text, { secret: true, force: true });
  renameSync(tmp, file);
}
