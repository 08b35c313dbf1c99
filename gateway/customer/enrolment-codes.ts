/**
 * The file of enrolment-code hashes (`keys.enrolmentCodes`): per meter, the Ed25519 public key its code stands
 * for (enrolment-code.ts), never the code, and the device identity the gateway had bound to the meter when the
 * code was issued on site (issue #14: a code is bound to the device; a code issued before the meter was read has
 * none and is pinned to the meter's device at its use). Written on the gateway by `scripts/keygen enrolment-code`
 * (mode 0600, replaced atomically); remote configuration cannot touch it, so it cannot open the way to a key.
 *
 *   {"kind":"meterspace-enrolment-codes","v":2,"meters":{"m1":"<raw public key>"},"devices":{"m1":"<identity>"}}
 *
 * Version 1 files (no `devices`) are read as codes issued unbound; every write is version 2.
 */
import { existsSync, renameSync } from 'node:fs';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { readSecretFile, writeKeyFile } from '../keys/files.ts';

const Meters = z.record(z.string(), z.string().regex(/^[A-Za-z0-9_-]{43}$/));
const CodesFile = z.discriminatedUnion('v', [
  z.object({ kind: z.literal('meterspace-enrolment-codes'), v: z.literal(1), meters: Meters }).strict(),
  z
    .object({
      kind: z.literal('meterspace-enrolment-codes'),
      v: z.literal(2),
      meters: Meters,
      /** Meter id → the device identity its code was issued for (device-store identities). */
      devices: z.record(z.string(), z.string().min(1).max(1000)),
    })
    .strict(),
]);

/** Meter id → code key; `devices`, meter id → the device its code was issued for (absent: issued unbound). */
export interface EnrolmentCodes extends ReadonlyMap<string, string> {
  readonly devices?: ReadonlyMap<string, string>;
}

export function loadEnrolmentCodes(file: string): EnrolmentCodes {
  let parsed;
  try {
    parsed = CodesFile.parse(JSON.parse(readSecretFile(file, 'enrolment codes')));
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    throw new GatewayError('KEY_FILE_INVALID', `${file} is not an enrolment-codes file`, { cause });
  }
  const devices = parsed.v === 2 ? parsed.devices : {};
  // A device named for a meter without a code binds nothing: only the meters' entries are kept.
  return Object.assign(new Map(Object.entries(parsed.meters)), {
    devices: new Map(Object.entries(devices).filter(([id]) => id in parsed.meters)),
  });
}

/**
 * Adds or replaces a meter's code hash and the device it is issued for (none: unbound); the file is created when
 * missing, its directory too (0700). The temporary file is made 0600 whatever the umask or a stale one left by an
 * interrupted run.
 */
export function storeEnrolmentCode(file: string, meterId: string, publicKey: string, device?: string): void {
  const codes = existsSync(file) ? loadEnrolmentCodes(file) : undefined;
  const meters: Record<string, string> = Object.fromEntries(codes ?? []);
  const devices: Record<string, string> = Object.fromEntries(codes?.devices ?? []);
  meters[meterId] = publicKey;
  if (device === undefined) delete devices[meterId];
  else devices[meterId] = device;
  writeCodes(file, meters, devices);
}

/**
 * Deletes the codes of meters removed or re-homed (issue #14: a retired meter's code is void; a new id gets a new
 * code on site), and the codes issued for any of `devices` (a re-homed meter's identities: a code never follows a
 * device to another id). Returns the meters whose code was deleted; the file is rewritten only if one was.
 */
export function removeEnrolmentCodes(
  file: string,
  meterIds: readonly string[],
  devices: readonly string[] = [],
): string[] {
  if (!existsSync(file)) return [];
  const codes = loadEnrolmentCodes(file);
  const meters = Object.fromEntries(codes);
  const bound = Object.fromEntries(codes.devices ?? []);
  const removed = Object.keys(meters).filter(
    (id) => meterIds.includes(id) || (bound[id] !== undefined && devices.includes(bound[id])),
  );
  if (removed.length === 0) return [];
  for (const id of removed) {
    delete meters[id];
    delete bound[id];
  }
  writeCodes(file, meters, bound);
  return removed;
}

function writeCodes(file: string, meters: Record<string, string>, devices: Record<string, string>): void {
  const text = `${JSON.stringify({ kind: 'meterspace-enrolment-codes', v: 2, meters, devices }, null, 2)}\n`;
  const tmp = `${file}.tmp`;
  writeKeyFile(tmp, text, { secret: true, force: true });
  renameSync(tmp, file);
}
