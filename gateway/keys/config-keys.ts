/**
 * Every key file the configuration names, with the kind it must hold, checked at `--check` and before the gateway
 * starts (issue #20): a private key where a public one belongs (the MDMS's or the operator's private key would let
 * a thief of the SD card forge acknowledgements or commands) or a public key where a private one belongs is refused
 * with its configuration path, what the file is and what it should be. A file that cannot be read is left to the
 * loaders, which say why (missing, permissions); one of no known kind to the parsers.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/load.ts';
import type { ConfigIssue } from '../config/rules.ts';
import type { Config } from '../config/schema.ts';
import { keyKindProblem, type KeyKind } from './key-kind.ts';

interface NamedKey {
  path: string;
  file: string;
  kind: KeyKind;
}

function namedKeys(config: Readonly<Config>): NamedKey[] {
  const { keys } = config;
  const list: NamedKey[] = [
    { path: 'keys.supplierPublic', file: keys.supplierPublic, kind: 'paillier-public' },
    { path: 'keys.gatewayPrivate', file: keys.gatewayPrivate, kind: 'private' },
    { path: 'keys.mdmsPublic', file: keys.mdmsPublic, kind: 'public' },
  ];
  const add = (path: string, file: string | undefined, kind: KeyKind) => {
    if (file !== undefined) list.push({ path, file, kind });
  };
  add('keys.operatorPublic', keys.operatorPublic, 'public');
  const tls = config.upstream.tls;
  add('upstream.tls.ca', tls?.ca, 'certificate');
  add('upstream.tls.cert', tls?.cert, 'certificate');
  add('upstream.tls.key', tls?.key, 'private');
  for (const m of config.meters) {
    if (m.source.driver === 'mqtt') add(`meters.${m.id}.source.publicKey`, m.source.publicKey, 'public');
  }
  return list;
}

export function keyKindIssues(config: Readonly<Config>): ConfigIssue[] {
  return namedKeys(config).flatMap(({ path, file, kind }) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    const problem = keyKindProblem(text, kind);
    return problem ? [{ path, message: `${file} ${problem}`, code: 'KEY_KIND_WRONG' }] : [];
  });
}

/** `--check` and the start: one error listing every key file of the wrong kind (exit code 2, as a bad file). */
export function assertKeyKinds(config: Readonly<Config>, source: string): void {
  const issues = keyKindIssues(config);
  if (issues.length > 0) throw new ConfigError(source, issues, 'KEY_KIND_WRONG');
}
