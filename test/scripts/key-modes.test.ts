/**
 * Every private key file the tools write and the gateway and the tools read (issue #7, item 9), with the real
 * command-line tools as an installer, a household and an operator run them: written 0600 in a directory made 0700
 * even under umask 000, and refused, with KEY_FILE_INSECURE, the file and the chmod to run, as soon as group or
 * others may read it: by the gateway at start, by `gateway --doctor`, and by each tool that reads it.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CUSTOMER, KEYGEN } from '../helpers/household.ts';
import { runCli, type CliRun } from '../helpers/run-cli.ts';
import { GATEWAY_BIN, makeScenario, type Scenario } from '../helpers/scenario.ts';
import { createPublicKey } from 'node:crypto';
import { loadPrivateKey } from '../../gateway/keys/files.ts';
import { loadPaillierPrivate } from '../../gateway/keys/paillier-files.ts';
import type { KeySet } from '../helpers/keys.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MDMS = path.join(ROOT, 'scripts/mdms');
const OPERATOR = path.join(ROOT, 'scripts/operator');
const EMULATE = path.join(ROOT, 'scripts/emulate');
/** Nothing listens there: every tool must stop at its key before it tries to connect. */
const NO_BROKER = 'mqtt://127.0.0.1:9';

/** A tool run as a careless installer would: with umask 000, so that only the tool's own care sets the modes. */
const careless = (bin: string, args: string[]): Promise<CliRun> =>
  runCli('sh', ['-c', 'umask 000 && exec "$0" "$@"', bin, ...args], 120_000);

const modeOf = (file: string) => statSync(file).mode & 0o777;

/** The one-line refusal every loader gives (gateway/keys/files.ts). */
function refusal(what: string, file: string, mode: number): string {
  return (
    `error [KEY_FILE_INSECURE]: ${what} ${file} is accessible by group or others (mode ${mode.toString(8)}); ` +
    `run: chmod 600 ${file}`
  );
}

/** Runs `act` with `file` at `mode`, then puts it back to 0600. */
async function exposed<T>(file: string, mode: number, act: () => Promise<T>): Promise<T> {
  chmodSync(file, mode);
  try {
    return await act();
  } finally {
    chmodSync(file, 0o600);
  }
}

/** The key set of a directory that `scripts/keygen all` made. */
function keySetFrom(dir: string): KeySet {
  const at = (name: string) => path.join(dir, name);
  const files = {
    supplierPublic: at('supplier.paillier.pub.json'),
    supplierPrivate: at('supplier.paillier.key.json'),
    gatewayPrivate: at('gateway.ed25519.key.pem'),
    gatewayPublic: at('gateway.ed25519.pub.pem'),
    mdmsPrivate: at('mdms.ed25519.key.pem'),
    mdmsPublic: at('mdms.ed25519.pub.pem'),
  };
  const mdms = loadPrivateKey(files.mdmsPrivate, 'ed25519', 'MDMS private key');
  const gateway = loadPrivateKey(files.gatewayPrivate, 'ed25519', 'gateway private key');
  return {
    dir,
    supplier: loadPaillierPrivate(files.supplierPrivate),
    files,
    mdmsSigning: { privateKey: mdms, publicKey: createPublicKey(mdms) },
    gatewayPublicKey: createPublicKey(gateway),
    gatewayPrivateKey: gateway,
  };
}

describe('private key files: 0600 whatever the umask, refused when others may read them', () => {
  let dir: string;
  let keyDir: string;
  let scenario: Scenario;
  let codes: string;
  let household: string;
  let password: string;
  const key = (name: string) => path.join(keyDir, name);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'key-modes-'));
    keyDir = path.join(dir, 'new', 'keys');
    for (const args of [
      ['all', '--out', keyDir, '--bits', '2048'],
      ['meter', '--name', 'm01', '--out', keyDir],
    ]) {
      const made = await careless(KEYGEN, args);
      expect(made.code, made.stderr).toBe(0);
    }
    // A gateway on those keys, with enrolment codes in a directory keygen must make, and an upstream password.
    codes = path.join(dir, 'codes', 'enrolment-codes.json');
    password = path.join(dir, 'broker.password');
    writeFileSync(password, 'broker-password\n', { mode: 0o600 });
    scenario = makeScenario({
      keys: keySetFrom(keyDir),
      brokerUrl: NO_BROKER,
      from: '2012-10-09T00:00:00Z',
      to: '2012-10-09T02:00:00Z',
      speed: 1,
      keysExtra: { enrolmentCodes: codes, operatorPublic: key('operator.ed25519.pub.pem') },
      upstream: { passwordFile: password, username: 'gw-test' },
    });
    // A stale temporary file of an interrupted run, readable by anyone: must not become the codes file.
    const stale = `${codes}.tmp`;
    const made = await careless(KEYGEN, [
      'enrolment-code',
      '--config',
      scenario.configFile,
      '--meter',
      'm01',
    ]);
    expect(made.code, made.stderr).toBe(0);
    writeFileSync(stale, '{}', { mode: 0o666 });
    chmodSync(stale, 0o666);
    const again = await careless(KEYGEN, [
      'enrolment-code',
      '--config',
      scenario.configFile,
      '--meter',
      'm02',
    ]);
    expect(again.code, again.stderr).toBe(0);
    household = path.join(dir, 'home', 'household.key.json');
    const hh = await careless(CUSTOMER, ['keygen', '--key', household]);
    expect(hh.code, hh.stderr).toBe(0);
  }, 120_000);

  it('writes every private key 0600 and every directory it makes 0700, under umask 000', () => {
    for (const name of [
      'supplier.paillier.key.json',
      'gateway.ed25519.key.pem',
      'mdms.ed25519.key.pem',
      'operator.ed25519.key.pem',
      'meter-m01.ed25519.key.pem',
    ]) {
      expect(modeOf(key(name)).toString(8), name).toBe('600');
    }
    for (const name of ['supplier.paillier.pub.json', 'gateway.ed25519.pub.pem', 'meter-m01.ed25519.pub.pem'])
      expect(modeOf(key(name)).toString(8), name).toBe('644');
    expect(modeOf(codes).toString(8)).toBe('600');
    const stored = JSON.parse(readFileSync(codes, 'utf8')) as { meters: Record<string, string> };
    expect(Object.keys(stored.meters)).toEqual(['m01', 'm02']);
    expect(modeOf(household).toString(8)).toBe('600');
    for (const made of [keyDir, path.dirname(keyDir), path.dirname(codes), path.dirname(household)])
      expect(modeOf(made).toString(8), made).toBe('700');
  });

  it('the gateway refuses to start on a gateway key, enrolment codes or password file others may read', async () => {
    const gateway = () => runCli(GATEWAY_BIN, ['--config', scenario.configFile], 120_000);
    for (const [what, file, mode] of [
      ['gateway private key', key('gateway.ed25519.key.pem'), 0o640],
      ['enrolment codes', codes, 0o604],
      ['broker password file', password, 0o644],
    ] as const) {
      const r = await exposed(file, mode, gateway);
      expect(r.code, r.stderr).toBe(1);
      // One line, nothing after it (no crash on the way out).
      expect(r.stderr.trim(), what).toBe(refusal(what, file, mode));
    }
  }, 120_000);

  it('gateway --doctor fails each of them with the chmod to run', async () => {
    const gatewayKey = key('gateway.ed25519.key.pem');
    chmodSync(gatewayKey, 0o640);
    chmodSync(codes, 0o604);
    chmodSync(password, 0o660);
    try {
      const r = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, '--doctor'], 120_000);
      expect(r.code).toBe(1);
      const lines = r.stdout.split('\n');
      for (const [field, what, file, mode] of [
        ['keys.gatewayPrivate', 'gateway private key', gatewayKey, 0o640],
        ['keys.enrolmentCodes', 'enrolment codes', codes, 0o604],
        ['upstream.passwordFile', 'broker password file', password, 0o660],
      ] as const) {
        const at = lines.findIndex((l) => l.startsWith('FAIL  keys') && l.includes(`${field}:`));
        expect(at, `${field}\n${r.stdout}`).toBeGreaterThanOrEqual(0);
        expect(lines[at]).toContain(refusal(what, file, mode).replace('error [KEY_FILE_INSECURE]: ', ''));
        expect(lines[at + 1]!.trim()).toBe(`-> sudo chmod 600 ${file}`);
      }
    } finally {
      for (const f of [gatewayKey, codes, password]) chmodSync(f, 0o600);
    }
  }, 120_000);

  it('each tool refuses the private key it reads when group or others may read it', async () => {
    const cases: { what: string; file: string; mode: number; run: () => Promise<CliRun> }[] = [
      {
        what: 'supplier Paillier private key',
        file: key('supplier.paillier.key.json'),
        mode: 0o640,
        run: () => mdmsRun(),
      },
      { what: 'MDMS private key', file: key('mdms.ed25519.key.pem'), mode: 0o604, run: () => mdmsRun() },
      {
        what: 'operator key',
        file: key('operator.ed25519.key.pem'),
        mode: 0o644,
        run: () =>
          runCli(OPERATOR, [
            ...['get', '--gateway', 'gw-test', '--broker', NO_BROKER, '--timeout', '5'],
            ...['--key', key('operator.ed25519.key.pem'), '--gateway-public', key('gateway.ed25519.pub.pem')],
          ]),
      },
      {
        what: 'meter private key',
        file: key('meter-m01.ed25519.key.pem'),
        mode: 0o640,
        run: () =>
          runCli(EMULATE, [
            ...['mqtt', '--broker', NO_BROKER, '--household', '10006414', '--format', 'sealed'],
            ...['--meter-key', key('meter-m01.ed25519.key.pem'), '--gateway-config', scenario.configFile],
          ]),
      },
      {
        what: 'customer key',
        file: household,
        mode: 0o604,
        run: () => runCli(CUSTOMER, ['fingerprint', '--key', household]),
      },
      {
        what: 'customer key',
        file: household,
        mode: 0o640,
        run: () =>
          runCli(CUSTOMER, [
            ...['enrol', '--key', household, '--broker', NO_BROKER, '--gateway', 'gw-test', '--meter', 'm01'],
            ...['--code', 'AAAA-BBBB-CCCC-DDDD', '--timeout', '5'],
          ]),
      },
      {
        what: 'enrolment codes',
        file: codes,
        mode: 0o640,
        run: () => runCli(KEYGEN, ['enrolment-code', '--config', scenario.configFile, '--meter', 'm03']),
      },
    ];
    for (const c of cases) {
      const r = await exposed(c.file, c.mode, c.run);
      expect(r.code, `${c.what}: ${r.stderr}`).toBe(1);
      expect(r.stderr, c.what).toContain(refusal(c.what, c.file, c.mode));
    }
    // Put back to 0600, each works again (the refusal was the mode, nothing else).
    const fp = await runCli(CUSTOMER, ['fingerprint', '--key', household]);
    expect(fp.code, fp.stderr).toBe(0);
  }, 120_000);

  it('a key file that cannot be read as a key is refused by its code and name, never printed', async () => {
    const pem = readFileSync(key('gateway.ed25519.key.pem'), 'utf8');
    const supplierJson = readFileSync(key('supplier.paillier.key.json'), 'utf8');
    // What must not appear: the PEM's base64 past the prefix every Ed25519 key shares, and λ, μ, p, q.
    const body = pem.split('\n')[1]!.slice('MC4CAQAwBQYDK2VwBCIEI'.length);
    const fields = JSON.parse(supplierJson) as Record<string, string>;
    const secrets = [body, ...['lambda', 'mu', 'p', 'q'].map((f) => fields[f]!)];
    const leaked = (output: string) =>
      secrets.flatMap((s) =>
        Array.from({ length: s.length - 11 }, (_, i) => s.slice(i, i + 12)).filter((w) => output.includes(w)),
      );
    const broken = (name: string, text: string) => {
      const file = path.join(dir, name);
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    };
    const truncatedPem = broken('truncated.key.pem', pem.split('\n').slice(0, 2).join('\n').slice(0, 60));
    const supplierAsGateway = broken('supplier-as-gateway.key.pem', supplierJson);
    const damagedJson = broken('damaged.paillier.key.json', supplierJson.replace('"mu"', '"mu":'));
    const supplierCopy = path.join(dir, 'supplier-as-public.json');
    copyFileSync(key('supplier.paillier.key.json'), supplierCopy);
    const gatewayWith = (keys: Record<string, string>) => {
      const config = parse(readFileSync(scenario.configFile, 'utf8')) as { keys: Record<string, string> };
      Object.assign(config.keys, keys);
      const file = path.join(
        dir,
        `gateway-${Object.values(keys)
          .map((f) => path.basename(f))
          .join()}.yaml`,
      );
      writeFileSync(file, stringify(config));
      return runCli(GATEWAY_BIN, ['--config', file], 120_000);
    };
    const household = readFileSync(path.join(dir, 'home', 'household.key.json'), 'utf8');
    const householdKeys = JSON.parse(household) as Record<string, { d: string }>;
    secrets.push(householdKeys.sealing!.d, householdKeys.signing!.d);
    // The household's signing key paired with another public key: the file is refused, its keys not shown.
    const mismatched = broken(
      'mismatched.key.json',
      household.replace(householdKeys.signing!.d, householdKeys.sealing!.d),
    );
    // A key of the wrong kind is refused as such before it is parsed (issue #20): the configuration names the
    // wrong file (exit 2, as an invalid configuration), and nothing of the secret is shown either.
    for (const [what, run, file] of [
      ['JSON as PEM', () => gatewayWith({ gatewayPrivate: supplierAsGateway }), supplierAsGateway],
      ['private for public', () => gatewayWith({ supplierPublic: supplierCopy }), supplierCopy],
    ] as const) {
      const r = await run();
      const output = `${r.stdout}${r.stderr}`;
      expect(r.code, `${what}: ${output}`).toBe(2);
      expect(r.stderr, what).toMatch(/^error \[KEY_KIND_WRONG\]: /);
      expect(r.stderr, what).toContain(file);
      expect(leaked(output), what).toEqual([]);
    }
    for (const [what, run, file] of [
      ['truncated PEM', () => gatewayWith({ gatewayPrivate: truncatedPem }), truncatedPem],
      [
        'damaged JSON',
        () =>
          runCli(MDMS, [
            ...[
              'run',
              '--broker',
              NO_BROKER,
              '--key',
              damagedJson,
              '--sign-key',
              key('mdms.ed25519.key.pem'),
            ],
            `--trust=gw-test=${key('gateway.ed25519.pub.pem')}`,
          ]),
        damagedJson,
      ],
      ['mismatched keys', () => runCli(CUSTOMER, ['fingerprint', '--key', mismatched]), mismatched],
    ] as const) {
      const r = await run();
      const output = `${r.stdout}${r.stderr}`;
      expect(r.code, `${what}: ${output}`).toBe(1);
      expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(r.stderr, what).toMatch(/^error \[KEY_FILE_INVALID\]: /);
      expect(r.stderr, what).toContain(file);
      expect(leaked(output), what).toEqual([]);
    }
    // The windows do find a key where it is printed.
    expect(leaked(pem).length).toBeGreaterThan(20);
    expect(leaked(supplierJson).length).toBeGreaterThan(1000);
  }, 120_000);

  function mdmsRun(): Promise<CliRun> {
    return runCli(MDMS, [
      ...['run', '--broker', NO_BROKER, '--key', key('supplier.paillier.key.json')],
      ...['--sign-key', key('mdms.ed25519.key.pem'), '--db', path.join(dir, 'mdms.sqlite')],
      `--trust=gw-test=${key('gateway.ed25519.pub.pem')}`,
    ]);
  }
});
