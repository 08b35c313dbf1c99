/**
 * encryption.exponentBits never below 2λ for the supplier key in use (issue #14 C): the schema's 224 is the floor of
 * the smallest key only; a 3072-bit key needs 256. Refused through the real `scripts/gateway --check`, at start and
 * by the doctor, each with its code.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkExponentBits, securityBits } from '../../../gateway/encrypt/randomizers.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { makeKeySet, type KeySet } from '../../helpers/keys.ts';
import { runCli } from '../../helpers/run-cli.ts';

const GATEWAY_BIN = path.resolve(import.meta.dirname, '../../../scripts/gateway');
const CSV = path.resolve(import.meta.dirname, '../../fixtures/consumption/sgsc-2012-10-09_4days.csv');

describe('securityBits', () => {
  it('is NIST SP 800-57 Table 2 at its rows and interpolated, rounded down, between them', () => {
    expect([1024, 2048, 3072, 7680, 15360].map(securityBits)).toEqual([80, 112, 128, 192, 256]);
    expect(securityBits(2560)).toBe(120);
    expect(securityBits(4096)).toBe(142); // 128 + 64·1024/4608 = 142.2
    expect(securityBits(512)).toBe(80);
    expect(securityBits(20_000)).toBe(256);
  });
});

describe('checkExponentBits', () => {
  it('accepts unset and 2λ, refuses one bit less with EXPONENT_TOO_SHORT', () => {
    expect(() => checkExponentBits(undefined, 3072)).not.toThrow();
    expect(() => checkExponentBits(224, 2048)).not.toThrow();
    expect(() => checkExponentBits(256, 3072)).not.toThrow();
    expectCode('EXPONENT_TOO_SHORT', () => checkExponentBits(255, 3072));
    expectCode('EXPONENT_TOO_SHORT', () => checkExponentBits(224, 2560));
  });
});

describe('a gateway configured with exponentBits 224 and a 3072-bit key', () => {
  let keys: KeySet;
  let config: string;
  beforeAll(async () => {
    keys = await makeKeySet(3072);
    config = path.join(mkdtempSync(path.join(tmpdir(), 'exponent-')), 'gateway.yaml');
    writeFileSync(
      config,
      stringify({
        gateway: { id: 'gw-exp', dataDir: path.join(path.dirname(config), 'var') },
        keys: {
          supplierPublic: keys.files.supplierPublic,
          gatewayPrivate: keys.files.gatewayPrivate,
          mdmsPublic: keys.files.mdmsPublic,
        },
        encryption: { exponentBits: 224 },
        upstream: { url: 'mqtt://127.0.0.1:1' },
        drivers: { replay: { file: CSV } },
        neighbourhoods: [{ id: 'nb-a' }],
        meters: [
          { id: 'm1', neighbourhood: 'nb-a', account: 'A1', source: { driver: 'replay', household: '1' } },
        ],
      }),
    );
  }, 120_000);

  it('is refused by --check (exit 2) and at start (exit 1), with the code and the figure needed', async () => {
    const check = await runCli(GATEWAY_BIN, ['--config', config, '--check']);
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(
      /\[EXPONENT_TOO_SHORT\][\s\S]*encryption\.exponentBits: 224 is below 2λ = 256/,
    );
    const start = await runCli(GATEWAY_BIN, ['--config', config]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(
      'error [EXPONENT_TOO_SHORT]: encryption.exponentBits: 224 is below 2λ = 256',
    );
  }, 60_000);

  it('is a FAIL of the doctor with what to do', async () => {
    const run = await runCli(GATEWAY_BIN, ['--config', config, '--doctor']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL.*keys\.supplierPublic: encryption\.exponentBits: 224 is below 2λ = 256/);
    expect(run.stdout).toContain('raise encryption.exponentBits');
  }, 60_000);
});
