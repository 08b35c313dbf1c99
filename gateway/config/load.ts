/**
 * Reads, validates and freezes the configuration. Every problem is collected (schema and cross-field) and reported
 * with its path; nothing starts on an invalid file (the CLI exits with code 2).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { GatewayError } from '../errors.ts';
import { crossFieldIssues, isMapPath, registerMapIssues, type ConfigIssue } from './rules.ts';
import { ConfigSchema, type Config } from './schema.ts';

export class ConfigError extends GatewayError {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
    /**
     * PRIVACY_FLOOR: valid, but remote configuration may not do it. EXPONENT_TOO_SHORT: valid, but weaker than the
     * supplier key it is used with. KEY_KIND_WRONG: valid, but a key file it names is of the wrong kind.
     */
    code: 'CONFIG_INVALID' | 'PRIVACY_FLOOR' | 'EXPONENT_TOO_SHORT' | 'KEY_KIND_WRONG' = 'CONFIG_INVALID',
  ) {
    super(
      code,
      `${source}: ${issues.length} configuration error(s)\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
  }
}

/** Validates an already-parsed object; paths in it are taken as they are. */
export function validateConfig(raw: unknown, source = 'config'): Readonly<Config> {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((i) => ({
        path: i.path.map(String).join('.'),
        message:
          i.code === 'invalid_type' && /received undefined$/.test(i.message) ? 'is required' : i.message,
      })),
    );
  }
  const issues = crossFieldIssues(parsed.data);
  if (issues.length > 0) throw new ConfigError(source, issues);
  return deepFreeze(parsed.data);
}

/** Loads a YAML file; relative paths in it are resolved against the file's directory. */
export function loadConfigFile(file: string): Readonly<Config> {
  return loadConfigText(readConfigFile(file), file, path.dirname(path.resolve(file)));
}

export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new GatewayError('CONFIG_UNREADABLE', `cannot read configuration file ${file}`, { cause });
  }
}

/**
 * Validates YAML text exactly as a file with that text would be (remote configuration goes through here);
 * relative paths are resolved against `baseDir`.
 */
export function loadConfigText(text: string, file: string, baseDir: string): Readonly<Config> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: `line ${e.linePos?.[0].line ?? '?'}`,
        message: e.message.split('\n')[0]!,
      })),
    );
  }
  const config = validateConfig(doc.toJS(), file);
  const resolved = resolvePaths(structuredClone(config), baseDir);
  const mapIssues = registerMapIssues(resolved);
  if (mapIssues.length > 0) throw new ConfigError(file, mapIssues);
  return deepFreeze(resolved);
}

function resolvePaths(c: Config, base: string): Config {
  const r = (p: string) => path.resolve(base, p);
  c.gateway.dataDir = r(c.gateway.dataDir);
  if (c.gateway.logFile) c.gateway.logFile = r(c.gateway.logFile);
  c.keys.supplierPublic = r(c.keys.supplierPublic);
  c.keys.gatewayPrivate = r(c.keys.gatewayPrivate);
  c.keys.mdmsPublic = r(c.keys.mdmsPublic);
  if (c.keys.enrolmentCodes) c.keys.enrolmentCodes = r(c.keys.enrolmentCodes);
  if (c.keys.operatorPublic) c.keys.operatorPublic = r(c.keys.operatorPublic);
  if (c.upstream.passwordFile) c.upstream.passwordFile = r(c.upstream.passwordFile);
  const tls = c.upstream.tls;
  if (tls?.ca) tls.ca = r(tls.ca);
  if (tls?.cert) tls.cert = r(tls.cert);
  if (tls?.key) tls.key = r(tls.key);
  if (c.drivers.replay) c.drivers.replay.file = r(c.drivers.replay.file);
  if (c.drivers.mqtt?.passwordFile) c.drivers.mqtt.passwordFile = r(c.drivers.mqtt.passwordFile);
  for (const port of Object.values(c.drivers.serial ?? {})) {
    if (port.decryptionKeyFile) port.decryptionKeyFile = r(port.decryptionKeyFile);
  }
  for (const m of c.meters) {
    if (m.source.driver === 'modbus' && isMapPath(m.source.model)) m.source.model = r(m.source.model);
    if (m.source.driver === 'mqtt' && m.source.publicKey) m.source.publicKey = r(m.source.publicKey);
  }
  return c;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
