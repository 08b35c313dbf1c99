/** The operator of an end-to-end harness: its key pair, named in the gateway's file, and `scripts/operator`. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { writeKeyFile } from '../../gateway/keys/files.ts';
import { generateSigningPair } from '../../gateway/keys/generate.ts';
import type { Harness } from './harness.ts';
import { runCli, type CliRun } from './run-cli.ts';
import { GATEWAY_ID } from './scenario.ts';

export const OPERATOR_BIN = path.resolve(import.meta.dirname, '../../scripts/operator');

/** A configuration file as an operator edits it (YAML parsed, not yet validated). */
export interface RawMeter {
  id: string;
  neighbourhood: string;
  account: string;
  source: Record<string, unknown>;
}
export type RawConfig = { meters: RawMeter[]; neighbourhoods: { id: string }[] } & Record<string, unknown>;

export interface OperatorKey {
  private: string;
  public: string;
}

/**
 * Writes an operator key pair beside the scenario and names its public key in the gateway's file; `edit` changes
 * the rest of that file in the same write (before the gateway starts).
 */
export function addOperatorKey(h: Harness, edit?: (config: Record<string, unknown>) => void): OperatorKey {
  const pair = generateSigningPair('ed25519');
  const key = {
    private: path.join(h.scenario.dir, 'operator.ed25519.key.pem'),
    public: path.join(h.scenario.dir, 'operator.ed25519.pub.pem'),
  };
  writeKeyFile(key.private, pair.privatePem, { secret: true });
  writeKeyFile(key.public, pair.publicPem, { secret: false });
  const config = parse(readFileSync(h.scenario.configFile, 'utf8')) as Record<string, unknown> & {
    keys: Record<string, string>;
  };
  config.keys.operatorPublic = key.public;
  edit?.(config);
  writeFileSync(h.scenario.configFile, stringify(config));
  return key;
}

/** Runs `scripts/operator` against the harness's gateway with the operator's key. */
export function operatorCli(h: Harness, key: OperatorKey): (...args: string[]) => Promise<CliRun> {
  return (...args) =>
    runCli(OPERATOR_BIN, [
      ...args,
      ...['--gateway', GATEWAY_ID, '--broker', h.broker.url],
      ...['--key', key.private, '--gateway-public', h.keys.files.gatewayPublic],
    ]);
}

/** Trusts a new operator key and removes `later` (a neighbourhood and its meters) from the starting config. */
export function operatorRig(h: Harness, later: string): (...args: string[]) => Promise<CliRun> {
  const key = addOperatorKey(h, (config) => {
    const c = config as RawConfig;
    c.meters = c.meters.filter((m) => m.neighbourhood !== later);
    c.neighbourhoods = c.neighbourhoods.filter((n) => n.id !== later);
  });
  return operatorCli(h, key);
}
