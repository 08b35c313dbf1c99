/**
 * Every key file a configuration names is checked for its kind before the gateway starts and by `--check` (issue
 * #20): each one of the wrong kind is one issue with its configuration path and the code KEY_KIND_WRONG; a file that
 * is missing is left to the loaders, which say why.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../gateway/config/load.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { assertKeyKinds, keyKindIssues } from '../../../gateway/keys/config-keys.ts';
import { makeKeySet, type KeySet } from '../../helpers/keys.ts';
import { makeScenario } from '../../helpers/scenario.ts';

const WINDOW = {
  brokerUrl: 'mqtt://127.0.0.1:9',
  from: '2012-10-09T00:00:00Z',
  to: '2012-10-09T01:00:00Z',
  speed: 1,
};

describe('the kinds of the key files a configuration names', () => {
  let keys: KeySet;
  beforeAll(async () => {
    keys = await makeKeySet();
  }, 120_000);

  it('finds nothing in a configuration of the right files', () => {
    const config = loadConfigFile(makeScenario({ keys, ...WINDOW }).configFile);
    expect(keyKindIssues(config)).toEqual([]);
    expect(() => assertKeyKinds(config, 'gateway.yaml')).not.toThrow();
  });

  it('names each file of the wrong kind with its path', () => {
    const swapped = {
      ...keys,
      files: {
        ...keys.files,
        supplierPublic: keys.files.supplierPrivate,
        gatewayPrivate: keys.files.gatewayPublic,
        mdmsPublic: keys.files.mdmsPrivate,
      },
    };
    const scenario = makeScenario({
      keys: swapped,
      ...WINDOW,
      keysExtra: { operatorPublic: keys.files.gatewayPrivate },
      upstream: {
        tls: { ca: keys.files.mdmsPrivate, key: keys.files.gatewayPublic },
      },
    });
    const config = loadConfigFile(scenario.configFile);
    const issues = keyKindIssues(config);
    expect(issues.map((i) => [i.path, i.code])).toEqual([
      ['keys.supplierPublic', 'KEY_KIND_WRONG'],
      ['keys.gatewayPrivate', 'KEY_KIND_WRONG'],
      ['keys.mdmsPublic', 'KEY_KIND_WRONG'],
      ['keys.operatorPublic', 'KEY_KIND_WRONG'],
      ['upstream.tls.ca', 'KEY_KIND_WRONG'],
      ['upstream.tls.key', 'KEY_KIND_WRONG'],
    ]);
    expect(issues[2]!.message).toBe(
      `${keys.files.mdmsPrivate} is a PEM private key, not a PEM public key: give the public file here (scripts/keygen ` +
        'writes it beside the private one, *.pub.*) and remove this secret from this machine: whoever reads it ' +
        'can act as its owner',
    );
    let error: unknown;
    try {
      assertKeyKinds(config, scenario.configFile);
    } catch (e) {
      error = e;
    }
    expect(isGatewayError(error, 'KEY_KIND_WRONG')).toBe(true);
    expect((error as Error).message).toContain(
      `keys.mdmsPublic: ${keys.files.mdmsPrivate} is a PEM private key`,
    );
  });

  it('leaves a missing file to the loaders', () => {
    const missing = { ...keys, files: { ...keys.files, mdmsPublic: path.join(keys.dir, 'absent.pem') } };
    const config = loadConfigFile(makeScenario({ keys: missing, ...WINDOW }).configFile);
    expect(keyKindIssues(config)).toEqual([]);
  });
});
