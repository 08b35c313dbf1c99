/**
 * The schema of a register map file (YAML), one field per line with its description: the file format of a Modbus
 * meter model. register-map.ts validates with it, then checks what one field cannot (overlaps, duplicates).
 */
import { z } from 'zod';
import { normaliseObis } from '../common/obis.ts';

export const REGISTER_TYPES = [
  'int16',
  'uint16',
  'int32',
  'uint32',
  'float32',
  'int64',
  'uint64',
  'float64',
] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

/** 16-bit registers a value of each type occupies. */
export const TYPE_WORDS: Readonly<Record<RegisterType, 1 | 2 | 4>> = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
};

export { normaliseObis };

const Order = z.enum(['high-first', 'low-first']);
const Range = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => lo <= hi, 'must be [min, max] with min <= max');

export const RegisterSchema = z
  .object({
    obis: z
      .string()
      .transform((s, ctx) => {
        const code = normaliseObis(s);
        if (code === undefined)
          ctx.addIssue({ code: 'custom', message: 'is not an OBIS code like "1-0:1.8.0"' });
        return code ?? s;
      })
      .describe('OBIS code of the quantity, normalised to "A-B:C.D.E" ("1.8.0" is read as "1-0:1.8.0")'),
    name: z
      .string()
      .min(1)
      .optional()
      .describe("The vendor's name of the quantity (e.g. VoltageL1), for people"),
    address: z
      .number()
      .int()
      .min(0)
      .max(0xffff)
      .describe('0-based protocol address of the first register (30001 / 40001 in vendor tables is 0)'),
    type: z.enum(REGISTER_TYPES).describe('Value type; 32- and 64-bit types span 2 and 4 registers'),
    wordOrder: Order.optional().describe("Order of the registers of a 32/64-bit value; default the map's"),
    byteOrder: Order.optional().describe("Order of the two bytes inside each register; default the map's"),
    scale: z
      .number()
      .positive()
      .refine(Number.isFinite, 'must be finite')
      .default(1)
      .describe('Multiplier from the raw number to the value in `unit` (0.1: the register counts tenths)'),
    unit: z
      .string()
      .min(1)
      .optional()
      .describe('Unit of the scaled value (V, A, W, kWh...); none for a ratio'),
    range: Range.optional().describe(
      "Plausible [min, max] of the scaled value; default the map's for the unit",
    ),
  })
  .strict();

/** How a serial number is stored: an unsigned integer (shown in decimal) or ASCII text, two characters a register. */
export const IDENTITY_TYPES = ['uint16', 'uint32', 'uint64', 'ascii'] as const;
export type IdentityType = (typeof IDENTITY_TYPES)[number];

/**
 * The register(s) a meter model keeps its serial number in: read at connect and after a reconnect, and reported as
 * the meter's device identity (issue #14 A; docs/drivers/modbus.md "Device identity").
 */
export const IdentitySchema = z
  .object({
    name: z
      .string()
      .min(1)
      .optional()
      .describe("The vendor's name of the register (e.g. SerialNumber), for people"),
    vendor: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and "-"')
      .describe(
        'Who numbers the serials (eastron): one serial space per vendor, so equal numbers of two vendors are two ' +
          'devices while two models of one vendor share it (the same meter read with either map is one device)',
      ),
    functionCode: z
      .union([z.literal(3), z.literal(4)])
      .describe('3: holding registers, 4: input registers (often not the function code of the values)'),
    address: z.number().int().min(0).max(0xffff).describe('0-based protocol address of the first register'),
    type: z
      .enum(IDENTITY_TYPES)
      .describe(
        'uint16/uint32/uint64: a number, reported in decimal; ascii: text, two characters per register',
      ),
    words: z
      .number()
      .int()
      .min(1)
      .max(16)
      .optional()
      .describe('Registers of an ascii serial (required for ascii; the integer types imply theirs)'),
    wordOrder: Order.optional().describe("Order of the registers of a 32/64-bit serial; default the map's"),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.type === 'ascii' && v.words === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['words'],
        message: 'an ascii serial needs its number of registers',
      });
    if (v.type !== 'ascii' && v.words !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['words'],
        message: `a ${v.type} spans a fixed number of registers`,
      });
  });

export const MapSchema = z
  .object({
    model: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and "-"')
      .describe('Model id; a built-in map is the file <model>.yaml'),
    name: z.string().min(1).describe('Human name (Eastron SDM630)'),
    source: z.string().optional().describe('Where the addresses come from (attribution)'),
    functionCode: z
      .union([z.literal(3), z.literal(4)])
      .describe('3: read holding registers, 4: read input registers'),
    byteOrder: Order.default('high-first').describe('Default byte order in a register (Modbus: high-first)'),
    wordOrder: Order.default('high-first').describe('Default register order of 32/64-bit values'),
    maxReadWords: z
      .number()
      .int()
      .min(1)
      .max(125)
      .default(125)
      .describe('Most registers the meter answers in one read (Modbus allows 125)'),
    maxGap: z
      .number()
      .int()
      .min(0)
      .max(124)
      .default(0)
      .describe('Unmapped registers a read may span to join two blocks; 0 unless the meter answers them'),
    ranges: z.record(z.string(), Range).default({}).describe('Plausible [min, max] per unit'),
    registers: z.array(RegisterSchema).min(1).describe('The mapped registers'),
    identity: IdentitySchema.optional().describe(
      "The serial-number register, where the model's manual names one; without it the meter is known only by its bus " +
        'endpoint and unit, and a command cannot add it',
    ),
  })
  .strict();
