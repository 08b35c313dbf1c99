/**
 * The operator's side of an end-to-end test: an operator key the gateway trusts, the gateway's configuration
 * started without the neighbourhood the operator will add, and `scripts/operator` bound to the harness.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { writeKeyFile } from '../../gateway/keys/files.ts';
import { generateSigningPair } from '../../gateway/keys/generate.ts';
import type { Harness } from './harness.ts';
import { runCli, type CliRun } from './run-cli.ts';
import { GATEWAY_ID } from './scenario.ts';

const OPERATOR = path.resolve(import.meta.dirname, '../../scripts/operator');

export type RawConfig = {
  meters: { id: string; neighbourhood: string }[];
  neighbourhoods: { id: string }[];
} & Record<string, unknown>;

/** Trusts a new operator key and removes `later` (a neighbourhood and its meters) from the starting config. */
export function operatorRig(h: Harness, later: string): (...args: string[]) => Promise<CliRun> {
  const pair = generateSigningPair('ed25519');
  const key = path.join(h.scenario.dir, 'operator.ed25519.key.pem');
  const pub = path.join(h.scenario.dir, 'operator.ed25519.pub.pem');
  writeKeyFile(key, pair.privatePem, { secret: true });
  writeKeyFile(pub, pair.publicPem, { secret: false });
  const config = parse(readFileSync(h.scenario.configFile, 'utf8')) as RawConfig & {
    keys: Record<string, string>;
  };
  config.keys.operatorPublic = pub;
  config.meters = config.meters.filter((m) => m.neighbourhood !== later);
  config.neighbourhoods = config.neighbourhoods.filter((n) => n.id !== later);
  writeFileSync(h.scenario.configFile, stringify(config));
  return (...args: string[]) =>
    runCli(OPERATOR, [
      ...args,
      ...['--gateway', GATEWAY_ID, '--broker', h.broker.url],
      ...['--key', key, '--gateway-public', h.keys.files.gatewayPublic],
    ]);
}
