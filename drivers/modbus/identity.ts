/**
 * A Modbus meter's serial number (issue #14 A): the registers a map's `identity` names, decoded to the identity the
 * gateway binds for life (DriverContext.identify), and encoded for the emulator. Pure, never throws.
 *
 * The identity is `modbus-serial:<vendor>:<serial>`: scoped by the vendor that numbers the serials, not by the map
 * or the bus, so one device read through another map of its vendor, another spelling of its endpoint or another
 * unit id is still one device (DEVICE_BOUND_ELSEWHERE), and two vendors' equal numbers are two devices.
 */
import type { MapIdentity } from './register-map.ts';

export type IdentityDecode =
  | { ok: true; serial: string }
  /** The registers name no device: all zeros or all ones (unset), or text with non-printable characters. */
  | { ok: false; reason: 'blank' | 'not-text' | 'not-a-register' };

/** The serial in the registers as read (`words.length === identity.words`). */
export function decodeIdentity(identity: MapIdentity, words: readonly number[]): IdentityDecode {
  if (words.length !== identity.words || !words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)) {
    return { ok: false, reason: 'not-a-register' };
  }
  if (identity.type === 'ascii') {
    // Two characters per register, high byte first (Modbus is big-endian); unused characters are NUL or space.
    const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
    const text = String.fromCharCode(...bytes)
      .replace(/[\0 ]+$/, '')
      .trim();
    if (!/^[\x20-\x7e]*$/.test(text)) return { ok: false, reason: 'not-text' };
    return text === '' ? { ok: false, reason: 'blank' } : { ok: true, serial: text };
  }
  const ordered = identity.wordOrder === 'low-first' ? [...words].reverse() : words;
  const value = ordered.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
  // A meter that was never given a serial answers 0 or all ones (an erased EEPROM): that names no device.
  if (value === 0n || value === (1n << BigInt(16 * words.length)) - 1n) return { ok: false, reason: 'blank' };
  return { ok: true, serial: value.toString() };
}

/** What the device store binds: the vendor's serial, whatever map, bus or unit it was read through. */
export function identityKey(identity: MapIdentity, serial: string): string {
  return `modbus-serial:${identity.vendor}:${serial}`;
}

/**
 * The registers a meter with `serial` serves (the emulator): a decimal serial for the integer types (throws a
 * RangeError when it does not fit), text padded with NULs for ascii (longer text is cut).
 */
export function encodeIdentity(identity: MapIdentity, serial: string): number[] {
  if (identity.type === 'ascii') {
    const bytes = Array.from({ length: identity.words * 2 }, (_, i) => serial.charCodeAt(i) & 0xff || 0);
    return Array.from({ length: identity.words }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  }
  if (!/^\d+$/.test(serial) || BigInt(serial) >= 1n << BigInt(16 * identity.words)) {
    throw new RangeError(`serial ${serial} is not a ${identity.type}`);
  }
  let value = BigInt(serial);
  const words: number[] = [];
  for (let i = 0; i < identity.words; i++) {
    words.unshift(Number(value & 0xffffn));
    value >>= 16n;
  }
  return identity.wordOrder === 'low-first' ? words.reverse() : words;
}

/**
 * The serial an emulated meter of `household` reports, of the type its map keeps: `EMU<household>` as text, the
 * household id itself when it is a number that fits, else a number derived from it (stable, so a restarted
 * emulator is the same device).
 */
export function emulatedSerial(identity: MapIdentity, household: string): string {
  if (identity.type === 'ascii') return `EMU${household}`;
  const max = (1n << BigInt(16 * identity.words)) - 1n;
  if (/^\d+$/.test(household) && BigInt(household) > 0n && BigInt(household) < max) {
    return BigInt(household).toString();
  }
  // FNV-1a of the id, folded into the type's range (never 0 nor all ones: those name no device).
  let h = 0xcbf29ce484222325n;
  for (const c of `EMU${household}`)
    h = ((h ^ BigInt(c.charCodeAt(0))) * 0x100000001b3n) & ((1n << 64n) - 1n);
  return ((h % (max - 1n)) + 1n).toString();
}
