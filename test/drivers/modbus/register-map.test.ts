/**
 * The register map files: the built-in maps validate and agree with the register tables they were derived from
 * (../shared/data/modbus, read independently here); invalid maps are refused with REGISTER_MAP_INVALID and the
 * path of every problem; a map outside the built-in directory loads by path.
 */
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../gateway/errors.ts';
import {
  builtInModels,
  loadRegisterMap,
  normaliseObis,
  parseRegisterMap,
  RegisterMapError,
} from '../../../drivers/modbus/register-map.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { readCsv, tempFile } from './helpers.ts';

const ATTRIBUTION =
  "derived from volkszaehler/mbmd register tables (BSD-3-Clause); addresses from the vendors' manuals";

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    expect(isGatewayError(error, 'REGISTER_MAP_INVALID'), String(error)).toBe(true);
    return error instanceof RegisterMapError ? [...error.issues] : [];
  }
  throw new Error('expected REGISTER_MAP_INVALID');
}

const VALID = `
model: my-meter
name: My meter
functionCode: 3
registers:
  - { obis: 1-0:1.8.0, address: 0, type: uint32, scale: 0.01, unit: kWh }
  - { obis: 1-0:32.7.0, address: 2, type: uint16, scale: 0.1, unit: V }
`;

describe('built-in register maps', () => {
  it('has the three models and every one validates, named after its file, with the attribution', () => {
    const models = builtInModels();
    expect(models).toEqual(
      expect.arrayContaining(['carlo-gavazzi-em24', 'eastron-sdm120', 'eastron-sdm630']),
    );
    for (const model of models) {
      const map = loadRegisterMap(model);
      expect(map.model).toBe(model);
      expect(map.source).toBe(ATTRIBUTION);
      expect(Object.isFrozen(map.registers[0])).toBe(true);
    }
  });

  it('maps total import active energy to 1-0:1.8.0 in kWh on every model', () => {
    for (const model of builtInModels()) {
      const total = loadRegisterMap(model).registers.find((r) => r.obis === '1-0:1.8.0');
      expect(total, model).toMatchObject({ unit: 'kWh', name: 'Import' });
    }
  });

  it('SDM630: the 47 registers of the table that have an OBIS code, float32 high word first, FC04', () => {
    const map = loadRegisterMap('eastron-sdm630');
    const rows = readCsv('eastron_sdm630.csv');
    expect(rows).toHaveLength(52);
    const mapped = rows.filter((row) => map.registers.some((r) => r.name === row.measurement));
    expect(rows.filter((row) => !mapped.includes(row)).map((r) => r.measurement)).toEqual([
      'PhaseAngle',
      'ReactiveSum',
      'ReactiveSumL1',
      'ReactiveSumL2',
      'ReactiveSumL3',
    ]);
    expect(map.registers).toHaveLength(47);
    expect(map.functionCode).toBe(4);
    expect(map.maxReadWords).toBe(80);
    for (const row of mapped) {
      const reg = map.registers.find((r) => r.name === row.measurement)!;
      expect(reg.address, row.measurement).toBe(Number(row.register_dec));
      expect(reg).toMatchObject({
        type: 'float32',
        wordOrder: 'high-first',
        byteOrder: 'high-first',
        scale: 1,
      });
      expect(reg.unit ?? '').toBe(row.unit);
    }
    const volts = ['1-0:32.7.0', '1-0:52.7.0', '1-0:72.7.0'].map((o) =>
      map.registers.find((r) => r.obis === o),
    );
    expect(volts.map((r) => [r?.name, r?.address])).toEqual([
      ['VoltageL1', 0],
      ['VoltageL2', 2],
      ['VoltageL3', 4],
    ]);
  });

  it('EM24: all 20 registers with the table type, scale (1/divisor) and low word first', () => {
    const map = loadRegisterMap('carlo-gavazzi-em24');
    const rows = readCsv('carlogavazzi_em24.csv');
    expect(rows).toHaveLength(20);
    expect(map.registers).toHaveLength(20);
    for (const row of rows) {
      const reg = map.registers.find((r) => r.name === row.measurement)!;
      expect(reg.address, row.measurement).toBe(Number(row.register_dec));
      expect(reg.type).toBe(row.datatype);
      expect(reg.scale).toBeCloseTo(1 / Number(row.scale_divisor), 12);
      expect(reg.unit ?? '').toBe(row.unit);
      if (reg.words === 2) expect(reg.wordOrder).toBe('low-first');
    }
  });

  it('SDM120: the addresses of the mbmd table', () => {
    const map = loadRegisterMap('eastron-sdm120');
    const rows = readCsv('mbmd_rs485_opcodes_all_meters.csv').filter((r) => r.source_file === 'sdm120.go');
    expect(rows).toHaveLength(13);
    for (const row of rows.filter((r) => r.measurement !== 'ReactiveSum')) {
      const reg = map.registers.find((r) => r.name === row.measurement);
      expect(reg?.address, row.measurement).toBe(Number(row.register_dec));
    }
    expect(map.registers).toHaveLength(12);
  });

  it('applies the per-unit plausible ranges, a register range overriding', () => {
    const map = loadRegisterMap('eastron-sdm630');
    expect(map.registers.find((r) => r.obis === '1-0:32.7.0')?.range).toEqual([0, 1000]);
    expect(map.registers.find((r) => r.obis === '1-0:1.8.0')?.range).toEqual([0, 1e9]);
    expect(map.registers.find((r) => r.obis === '1-0:13.7.0')?.range).toEqual([-1.01, 1.01]);
  });
});

describe('loading maps', () => {
  it('loads a user map by path (no code for a new model), normalising OBIS codes', () => {
    const file = tempFile('my-meter.yaml', VALID.replace('1-0:32.7.0', '32.7.0*255'));
    const map = loadRegisterMap(file);
    expect(map.model).toBe('my-meter');
    expect(map.functionCode).toBe(3);
    expect(map.registers.map((r) => [r.obis, r.words])).toEqual([
      ['1-0:1.8.0', 2],
      ['1-0:32.7.0', 1],
    ]);
  });

  it('refuses an unknown model, naming the built-in ones', () => {
    expectCode('REGISTER_MAP_INVALID', () => loadRegisterMap('acme-9000'));
    expect(() => loadRegisterMap('acme-9000')).toThrow(/eastron-sdm630/);
  });

  it('refuses a file that does not exist or is not YAML', () => {
    expectCode('REGISTER_MAP_INVALID', () => loadRegisterMap('/nonexistent/map.yaml'));
    const issues = issuesOf(() => parseRegisterMap('model: [unclosed\n', 'bad.yaml'));
    expect(issues[0]?.path).toMatch(/^line /);
  });

  it('normalises OBIS codes the MeterFrame way', () => {
    expect(normaliseObis('1.8.0')).toBe('1-0:1.8.0');
    expect(normaliseObis('1-0:1.8.0*255')).toBe('1-0:1.8.0');
    expect(normaliseObis('1-0:1.8.0*1')).toBe('1-0:1.8.0*1');
    expect(normaliseObis('1-0:1.8')).toBeUndefined();
    expect(normaliseObis('1-0:256.8.0')).toBeUndefined();
  });
});

describe('invalid maps', () => {
  const parse = (text: string) => () => parseRegisterMap(text, 'test.yaml');

  it('a wrong type: the path of the register', () => {
    const issues = issuesOf(parse(VALID.replace('type: uint16', 'type: uint24')));
    expect(issues.map((i) => i.path)).toEqual(['registers.1.type']);
  });

  it('a missing OBIS code and a malformed one', () => {
    const text = VALID.replace('obis: 1-0:1.8.0, ', '').replace('1-0:32.7.0', 'voltage');
    const issues = issuesOf(parse(text));
    expect(issues.map((i) => i.path).sort()).toEqual(['registers.0.obis', 'registers.1.obis']);
  });

  it('overlapping registers: a uint32 at 0 covers address 1', () => {
    const issues = issuesOf(parse(VALID.replace('address: 2', 'address: 1')));
    expect(issues.map((i) => i.path)).toEqual(['registers.1.address']);
    expect(issues[0]?.message).toMatch(/overlaps registers\.0/);
  });

  it('one OBIS code mapped twice', () => {
    const issues = issuesOf(parse(VALID.replace('1-0:32.7.0', '1-0:1.8.0')));
    expect(issues.map((i) => i.path)).toEqual(['registers.1.obis']);
  });

  it('every problem of the file at once, with its path', () => {
    const text = `
model: Bad Name
functionCode: 6
wordOrder: middle
registers:
  - { obis: 1-0:1.8.0, address: -1, type: float32, scale: 0 }
  - { obis: 1-0:2.8.0, address: 65535, type: float32, unknownKey: 1 }
`;
    const paths = issuesOf(parse(text)).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'model',
        'name',
        'functionCode',
        'wordOrder',
        'registers.0.address',
        'registers.0.scale',
        'registers.1',
      ]),
    );
  });

  it('a register running past 0xFFFF, an inverted range, no registers', () => {
    const past = issuesOf(parse(VALID.replace('address: 2, type: uint16', 'address: 65535, type: uint32')));
    expect(past.map((i) => [i.path, i.message])).toEqual([
      ['registers.1.address', 'a uint32 here runs past register 0xFFFF'],
    ]);
    expect(
      issuesOf(parse(VALID.replace('unit: V }', 'unit: V, range: [10, 0] }'))).map((i) => i.path),
    ).toEqual(['registers.1.range']);
    expect(issuesOf(parse('model: x\nname: x\nfunctionCode: 4\nregisters: []\n')).map((i) => i.path)).toEqual(
      ['registers'],
    );
  });
});
