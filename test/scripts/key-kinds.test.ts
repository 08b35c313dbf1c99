/**
 * Keys of the wrong kind met by the real command-line tools (issue #20, item 6): the MDMS's private key given as
 * `keys.mdmsPublic` and the gateway's public key given as `keys.gatewayPrivate` are refused by `gateway --check`
 * and at start (exit 2, KEY_KIND_WRONG, naming each path and file, no chmod hint) and are FAILs of the doctor
 * (which said OK before); the MDMS and operator tools refuse a key of the wrong kind the same way.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeKeySet, type KeySet } from '../helpers/keys.ts';
import { runCli } from '../helpers/run-cli.ts';
import { GATEWAY_BIN, makeScenario, type Scenario } from '../helpers/scenario.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NO_BROKER = 'mqtt://127.0.0.1:9';

describe('key files of the wrong kind, by the tools', () => {
  let keys: KeySet;
  let scenario: Scenario;
  beforeAll(async () => {
    keys = await makeKeySet();
    scenario = makeScenario({
      keys: {
        ...keys,
        files: {
          ...keys.files,
          mdmsPublic: keys.files.mdmsPrivate,
          gatewayPrivate: keys.files.gatewayPublic,
        },
      },
      brokerUrl: NO_BROKER,
      from: '2012-10-09T00:00:00Z',
      to: '2012-10-09T01:00:00Z',
      speed: 1,
    });
  }, 120_000);

  const expectRefusal = (stderr: string) => {
    expect(stderr).toMatch(/^error \[KEY_KIND_WRONG\]: /);
    expect(stderr).toContain(
      `keys.gatewayPrivate: ${keys.files.gatewayPublic} is a PEM public key, not a PEM private key`,
    );
    expect(stderr).toContain(
      `keys.mdmsPublic: ${keys.files.mdmsPrivate} is a PEM private key, not a PEM public key`,
    );
    expect(stderr).not.toContain('chmod 600');
  };

  it('gateway --check and the start refuse them with exit 2 (not restarted by systemd)', async () => {
    const check = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, '--check']);
    expect(check.code, check.stderr).toBe(2);
    expectRefusal(check.stderr);
    const start = await runCli(GATEWAY_BIN, ['--config', scenario.configFile], 120_000);
    expect(start.code, start.stderr).toBe(2);
    expectRefusal(start.stderr);
  }, 120_000);

  it('gateway --doctor fails each with what it is and what to do', async () => {
    const r = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, '--doctor'], 120_000);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    for (const field of ['keys.gatewayPrivate', 'keys.mdmsPublic']) {
      const at = lines.findIndex((l) => l.startsWith('FAIL  keys') && l.includes(`${field}:`));
      expect(at, `${field}\n${r.stdout}`).toBeGreaterThanOrEqual(0);
      expect(lines[at]).toMatch(/is a PEM (private|public) key, not a PEM (public|private) key/);
      expect(lines[at + 1]!.trim()).toBe(
        `-> point ${field} at a file of the kind it names (docs/deploy.md, keys)`,
      );
    }
  }, 120_000);

  it('the MDMS and operator tools refuse a key of the wrong kind', async () => {
    const mdms = await runCli(path.join(ROOT, 'scripts/mdms'), [
      ...['run', '--broker', NO_BROKER, '--key', keys.files.supplierPublic],
      ...['--sign-key', keys.files.mdmsPrivate, `--trust=gw-test=${keys.files.gatewayPublic}`],
    ]);
    expect(mdms.code, mdms.stderr).toBe(1);
    expect(mdms.stderr).toContain(
      `error [KEY_KIND_WRONG]: supplier Paillier private key ${keys.files.supplierPublic} is a Paillier public key`,
    );
    const operator = await runCli(path.join(ROOT, 'scripts/operator'), [
      ...['get', '--gateway', 'gw-test', '--broker', NO_BROKER, '--timeout', '5'],
      ...['--key', keys.files.gatewayPublic, '--gateway-public', keys.files.gatewayPrivate],
    ]);
    expect(operator.code, operator.stderr).toBe(1);
    expect(operator.stderr).toMatch(/^error \[KEY_KIND_WRONG\]: operator key .* is a PEM public key/);
  }, 120_000);
});
