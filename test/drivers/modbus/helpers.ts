/**
 * Shared bits of the Modbus tests: the register tables of ../shared/data/modbus (read here independently of the
 * maps), small maps written inline, and a temporary directory.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateRegisterMap, type RegisterMap } from '../../../drivers/modbus/register-map.ts';

export const MODBUS_DATA = path.resolve(import.meta.dirname, '../../../../shared/data/modbus/register_maps');

/** Rows of a CSV file as objects by header; handles double-quoted fields with commas. */
export function readCsv(file: string): Record<string, string>[] {
  const lines = readFileSync(path.join(MODBUS_DATA, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const split = (line: string) => [...line.matchAll(/("([^"]*)"|[^,]*)(,|$)/g)].map((m) => m[2] ?? m[1]!);
  const header = split(lines[0]!);
  return lines.slice(1).map((l) => {
    const cells = split(l);
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
}

/** A map from a plain object, with defaults for the fields a test does not care about. */
export function inlineMap(fields: Record<string, unknown>): RegisterMap {
  return validateRegisterMap(
    { model: 'test-meter', name: 'Test meter', functionCode: 4, ...fields },
    'inline',
  );
}

/**
 * A built-in map without its serial-number register: for the tests of how values are read, scheduled and backed off,
 * which count requests; the serial's own read is tested in modbus-identity.test.ts.
 */
export function valuesOnly(map: RegisterMap): RegisterMap {
  return { ...map, identity: undefined };
}

export function tempFile(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'modbus-')), name);
  writeFileSync(file, text);
  return file;
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
