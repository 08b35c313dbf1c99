/**
 * A Modbus meter's serial number (issue #14 A): the `identity` entry of a register map (validated with the map,
 * every problem with its path) and the decoding of its registers into the identity the gateway binds, against the
 * encoding the emulator serves. Register values here are worked by hand from the Modbus byte order (big-endian
 * registers, two ASCII characters a register, high byte first).
 */
import { describe, expect, it } from 'vitest';
import {
  decodeIdentity,
  emulatedSerial,
  encodeIdentity,
  identityKey,
} from '../../../drivers/modbus/identity.ts';
import {
  loadRegisterMap,
  parseRegisterMap,
  RegisterMapError,
  type MapIdentity,
} from '../../../drivers/modbus/register-map.ts';

const BASE = `
model: my-meter
name: My meter
functionCode: 4
registers:
  - { obis: 1-0:1.8.0, address: 0, type: float32, unit: kWh }
`;

function mapIssues(identityYaml: string): string[] {
  try {
    parseRegisterMap(`${BASE}identity: ${identityYaml}\n`, 'inline');
  } catch (error) {
    if (error instanceof RegisterMapError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

const uint32: MapIdentity = {
  name: 'SerialNumber',
  vendor: 'eastron',
  functionCode: 3,
  address: 0xfc00,
  type: 'uint32',
  words: 2,
  wordOrder: 'high-first',
};
const ascii: MapIdentity = { ...uint32, vendor: 'carlo-gavazzi', address: 0x5000, type: 'ascii', words: 7 };

describe('the identity entry of a register map', () => {
  it('the built-in maps name the serial register of their vendor (docs/drivers/modbus.md)', () => {
    expect(loadRegisterMap('eastron-sdm630').identity).toEqual(uint32);
    expect(loadRegisterMap('eastron-sdm120').identity).toEqual(uint32);
    expect(loadRegisterMap('carlo-gavazzi-em24').identity).toMatchObject({
      vendor: 'carlo-gavazzi',
      functionCode: 3,
      address: 0x5000,
      type: 'ascii',
      words: 7,
    });
  });

  it('is optional: a map without it has none', () => {
    expect(parseRegisterMap(BASE, 'inline').identity).toBeUndefined();
  });

  it("takes the map's word order unless it names its own", () => {
    const low = `${BASE}wordOrder: low-first\nidentity: { vendor: acme, functionCode: 3, address: 16, type: uint32 }\n`;
    expect(parseRegisterMap(low, 'inline').identity).toMatchObject({ words: 2, wordOrder: 'low-first' });
    const own = low.replace('type: uint32', 'type: uint32, wordOrder: high-first');
    expect(parseRegisterMap(own, 'inline').identity?.wordOrder).toBe('high-first');
  });

  it('refuses each bad field with its path', () => {
    expect(mapIssues('{ vendor: acme, functionCode: 3, address: 0, type: ascii }')).toEqual([
      'identity.words: an ascii serial needs its number of registers',
    ]);
    expect(mapIssues('{ vendor: acme, functionCode: 3, address: 0, type: uint32, words: 2 }')).toEqual([
      'identity.words: a uint32 spans a fixed number of registers',
    ]);
    expect(mapIssues('{ vendor: Acme Corp, functionCode: 6, address: 0, type: float32 }')).toEqual([
      'identity.vendor: must be lower-case letters, digits and "-"',
      expect.stringMatching(/^identity\.functionCode: /),
      expect.stringMatching(/^identity\.type: /),
    ]);
    expect(mapIssues('{ functionCode: 3, address: 0, type: uint16 }')).toEqual([
      expect.stringMatching(/^identity\.vendor: /),
    ]);
    expect(mapIssues('{ vendor: acme, functionCode: 3, address: 0, type: uint16, unit: V }')).toEqual([
      expect.stringMatching(/^identity: .*unit/),
    ]);
  });

  it('refuses a serial running past register 0xFFFF or longer than one read', () => {
    expect(mapIssues('{ vendor: acme, functionCode: 3, address: 0xFFFF, type: uint32 }')).toEqual([
      'identity.address: a uint32 here runs past register 0xFFFF',
    ]);
    const short = BASE.replace('functionCode: 4', 'functionCode: 4\nmaxReadWords: 4');
    expect(() =>
      parseRegisterMap(
        `${short}identity: { vendor: a, functionCode: 3, address: 0, type: ascii, words: 7 }\n`,
        'x',
      ),
    ).toThrow(/identity\.words: more than maxReadWords 4/);
  });
});

describe('decoding a serial', () => {
  it('a uint32, high register first, in decimal; scoped by the vendor', () => {
    // 0x0134_5678 = 20207224
    expect(decodeIdentity(uint32, [0x0134, 0x5678])).toEqual({ ok: true, serial: '20207224' });
    expect(decodeIdentity({ ...uint32, wordOrder: 'low-first' }, [0x5678, 0x0134])).toEqual({
      ok: true,
      serial: '20207224',
    });
    expect(identityKey(uint32, '20207224')).toBe('modbus-serial:eastron:20207224');
    expect(identityKey(ascii, '20207224')).toBe('modbus-serial:carlo-gavazzi:20207224');
  });

  it('a uint64 beyond 2^53 exactly, and a uint16', () => {
    const u64: MapIdentity = { ...uint32, type: 'uint64', words: 4 };
    expect(decodeIdentity(u64, [0x0020, 0x0000, 0x0000, 0x0001])).toEqual({
      ok: true,
      serial: (2n ** 53n + 1n).toString(),
    });
    expect(decodeIdentity({ ...uint32, type: 'uint16', words: 1 }, [0x3039])).toEqual({
      ok: true,
      serial: '12345',
    });
  });

  it('ASCII text, two characters a register, trailing NULs and spaces dropped', () => {
    // "BX1234567" = 42 58 31 32 33 34 35 36 37, then NULs
    expect(decodeIdentity(ascii, [0x4258, 0x3132, 0x3334, 0x3536, 0x3700, 0x0000, 0x0000])).toEqual({
      ok: true,
      serial: 'BX1234567',
    });
    expect(decodeIdentity(ascii, [0x4258, 0x3132, 0x3334, 0x3536, 0x3720, 0x2020, 0x2020])).toEqual({
      ok: true,
      serial: 'BX1234567',
    });
  });

  it('names no device: zeros, all ones, blank text', () => {
    expect(decodeIdentity(uint32, [0, 0])).toEqual({ ok: false, reason: 'blank' });
    expect(decodeIdentity(uint32, [0xffff, 0xffff])).toEqual({ ok: false, reason: 'blank' });
    expect(decodeIdentity(ascii, [0, 0, 0, 0, 0, 0, 0])).toEqual({ ok: false, reason: 'blank' });
    expect(decodeIdentity(ascii, [0x2020, 0x2020, 0x2020, 0x2020, 0x2020, 0x2020, 0x2020])).toEqual({
      ok: false,
      reason: 'blank',
    });
  });

  it('refuses what is not a serial: control bytes inside text, wrong length, not registers', () => {
    expect(decodeIdentity(ascii, [0x4200, 0x5800, 0, 0, 0, 0, 0])).toEqual({ ok: false, reason: 'not-text' });
    expect(decodeIdentity(ascii, [0x41ff, 0, 0, 0, 0, 0, 0])).toEqual({ ok: false, reason: 'not-text' });
    expect(decodeIdentity(uint32, [1])).toEqual({ ok: false, reason: 'not-a-register' });
    expect(decodeIdentity(uint32, [1, 0x10000])).toEqual({ ok: false, reason: 'not-a-register' });
    expect(decodeIdentity(uint32, [1, -1])).toEqual({ ok: false, reason: 'not-a-register' });
  });
});

describe('encoding a serial (the emulator)', () => {
  it('gives back what decoding reads, for each type and word order', () => {
    for (const id of [uint32, { ...uint32, wordOrder: 'low-first' as const }]) {
      expect(encodeIdentity(id, '20207224')).toHaveLength(2);
      expect(decodeIdentity(id, encodeIdentity(id, '20207224'))).toEqual({ ok: true, serial: '20207224' });
    }
    expect(encodeIdentity(uint32, '20207224')).toEqual([0x0134, 0x5678]);
    expect(encodeIdentity(ascii, 'BX1234567')).toEqual([0x4258, 0x3132, 0x3334, 0x3536, 0x3700, 0, 0]);
  });

  it('refuses a serial the register cannot hold', () => {
    expect(() => encodeIdentity(uint32, 'EMU42')).toThrow(RangeError);
    expect(() => encodeIdentity(uint32, String(2 ** 32))).toThrow(RangeError);
  });

  it("derives an emulated meter's serial from its household: the id if it fits, else a stable number", () => {
    expect(emulatedSerial(ascii, '8145135')).toBe('EMU8145135');
    expect(emulatedSerial(uint32, '8145135')).toBe('8145135');
    const derived = emulatedSerial(uint32, 'household-a');
    expect(derived).toMatch(/^\d+$/);
    expect(emulatedSerial(uint32, 'household-a')).toBe(derived);
    expect(emulatedSerial(uint32, 'household-b')).not.toBe(derived);
    // Too large for a uint32, and 0: derived instead, and still a serial that names a device.
    for (const household of [String(2 ** 40), '0', 'household-a']) {
      const serial = emulatedSerial(uint32, household);
      expect(decodeIdentity(uint32, encodeIdentity(uint32, serial)).ok, household).toBe(true);
    }
  });
});
