/**
 * Modbus register maps: a meter model is a YAML data file (STYLE.md §3), validated here with one schema. Every
 * problem is reported with its path (`registers.3.type`) under REGISTER_MAP_INVALID; a valid map is frozen.
 * Built-in models live in `maps/` (`loadRegisterMap('eastron-sdm630')`); any other model is loaded from a path, so a
 * new meter needs no code. The file format is register-map-schema.ts (one described field per line).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { GatewayError } from '../../gateway/errors.ts';
import { MapSchema, TYPE_WORDS, type IdentityType, type RegisterType } from './register-map-schema.ts';

export { normaliseObis, REGISTER_TYPES, TYPE_WORDS, type RegisterType } from './register-map-schema.ts';

/** Where the built-in maps are: `<model>.yaml`. */
export const BUILT_IN_MAPS_DIR = fileURLToPath(new URL('./maps/', import.meta.url));

/** One register with the map's defaults applied. */
export interface MapRegister {
  obis: string;
  name: string | undefined;
  address: number;
  type: RegisterType;
  /** Registers occupied (TYPE_WORDS[type]). */
  words: 1 | 2 | 4;
  wordOrder: 'high-first' | 'low-first';
  byteOrder: 'high-first' | 'low-first';
  scale: number;
  unit: string | undefined;
  /** Plausible scaled values; undefined: any finite value. */
  range: readonly [number, number] | undefined;
}

/** The serial-number register(s) of a model, with the map's defaults applied (identity.ts reads them). */
export interface MapIdentity {
  name: string | undefined;
  vendor: string;
  functionCode: 3 | 4;
  address: number;
  type: IdentityType;
  /** Registers read. */
  words: number;
  wordOrder: 'high-first' | 'low-first';
}

export interface RegisterMap {
  model: string;
  name: string;
  source: string | undefined;
  functionCode: 3 | 4;
  maxReadWords: number;
  maxGap: number;
  /** Sorted by address. */
  registers: readonly MapRegister[];
  /** Where the meter keeps its serial number; undefined when the model's manual names none. */
  identity: MapIdentity | undefined;
}

export interface MapIssue {
  path: string;
  message: string;
}

export class RegisterMapError extends GatewayError {
  constructor(
    readonly source: string,
    readonly issues: readonly MapIssue[],
  ) {
    super(
      'REGISTER_MAP_INVALID',
      `${source}: ${issues.length} register map error(s)\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
  }
}

/** Validates an already-parsed map (e.g. from a config file); throws RegisterMapError. */
export function validateRegisterMap(raw: unknown, source = 'register map'): RegisterMap {
  const parsed = MapSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RegisterMapError(
      source,
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const m = parsed.data;
  const registers = m.registers.map((r): MapRegister => ({
    obis: r.obis,
    name: r.name,
    address: r.address,
    type: r.type,
    words: TYPE_WORDS[r.type],
    wordOrder: r.wordOrder ?? m.wordOrder,
    byteOrder: r.byteOrder ?? m.byteOrder,
    scale: r.scale,
    unit: r.unit,
    range: r.range ?? (r.unit === undefined ? undefined : m.ranges[r.unit]),
  }));
  const identity: MapIdentity | undefined = m.identity && {
    name: m.identity.name,
    vendor: m.identity.vendor,
    functionCode: m.identity.functionCode,
    address: m.identity.address,
    type: m.identity.type,
    words: m.identity.type === 'ascii' ? m.identity.words! : TYPE_WORDS[m.identity.type],
    wordOrder: m.identity.wordOrder ?? m.wordOrder,
  };
  const issues = crossIssues(registers);
  if (identity && identity.address + identity.words > 0x10000) {
    issues.push({ path: 'identity.address', message: `a ${identity.type} here runs past register 0xFFFF` });
  }
  if (identity && identity.words > m.maxReadWords) {
    issues.push({ path: 'identity.words', message: `more than maxReadWords ${m.maxReadWords}` });
  }
  if (issues.length > 0) throw new RegisterMapError(source, issues);
  const map: RegisterMap = {
    model: m.model,
    name: m.name,
    source: m.source,
    functionCode: m.functionCode,
    maxReadWords: m.maxReadWords,
    maxGap: m.maxGap,
    registers: [...registers].sort((a, b) => a.address - b.address),
    identity,
  };
  return deepFreeze(map);
}

/** Overlapping registers, registers past address 0xFFFF, and one OBIS code mapped twice. */
function crossIssues(registers: readonly MapRegister[]): MapIssue[] {
  const issues: MapIssue[] = [];
  const label = (i: number) => `registers.${i}${registers[i]!.name ? ` (${registers[i]!.name})` : ''}`;
  const byObis = new Map<string, number>();
  registers.forEach((r, i) => {
    if (r.address + r.words > 0x10000) {
      issues.push({ path: `registers.${i}.address`, message: `a ${r.type} here runs past register 0xFFFF` });
    }
    const first = byObis.get(r.obis);
    if (first !== undefined) {
      issues.push({ path: `registers.${i}.obis`, message: `${r.obis} is already mapped by ${label(first)}` });
    } else byObis.set(r.obis, i);
  });
  const order = registers.map((_, i) => i).sort((a, b) => registers[a]!.address - registers[b]!.address);
  for (let k = 1; k < order.length; k++) {
    const prev = registers[order[k - 1]!]!;
    const cur = registers[order[k]!]!;
    if (cur.address < prev.address + prev.words) {
      issues.push({
        path: `registers.${order[k]}.address`,
        message: `overlaps ${label(order[k - 1]!)} (${prev.type} at ${hex(prev.address)})`,
      });
    }
  }
  return issues;
}

/** Parses and validates the YAML text of a map; `source` names it in errors. */
export function parseRegisterMap(text: string, source: string): RegisterMap {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new RegisterMapError(
      source,
      doc.errors.map((e) => ({
        path: `line ${e.linePos?.[0].line ?? '?'}`,
        message: e.message.split('\n')[0]!,
      })),
    );
  }
  return validateRegisterMap(doc.toJS(), source);
}

export function loadRegisterMapFile(file: string): RegisterMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new GatewayError('REGISTER_MAP_INVALID', `cannot read register map ${file}`, { cause });
  }
  return parseRegisterMap(text, file);
}

/** The models of the built-in maps. */
export function builtInModels(dir = BUILT_IN_MAPS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/**
 * A map by built-in model name ("eastron-sdm630") or by file path (anything with a "/" or a .yaml/.yml ending;
 * relative to `baseDir`, default the working directory).
 */
export function loadRegisterMap(modelOrPath: string, baseDir = process.cwd()): RegisterMap {
  if (/[/\\]/.test(modelOrPath) || /\.ya?ml$/i.test(modelOrPath)) {
    return loadRegisterMapFile(path.resolve(baseDir, modelOrPath));
  }
  const models = builtInModels();
  if (!models.includes(modelOrPath)) {
    throw new GatewayError(
      'REGISTER_MAP_INVALID',
      `no built-in register map "${modelOrPath}" (built-in: ${models.join(', ')}); give the path of a map file`,
    );
  }
  return loadRegisterMapFile(path.join(BUILT_IN_MAPS_DIR, `${modelOrPath}.yaml`));
}

export function hex(address: number): string {
  return `0x${address.toString(16).toUpperCase().padStart(4, '0')}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
