/**
 * scripts/keygen run as an operator runs it: help, every key file with the right mode, progress output, refusal to
 * overwrite, usage errors — and keys that work: the Paillier pair decrypts what paillier-bigint encrypted with the
 * public file, the Ed25519 pairs sign and verify, the printed fingerprints match the public files.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PrivateKey, PublicKey } from 'paillier-bigint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePaillierPrivate } from '../../gateway/keys/paillier-files.ts';
import { decrypt } from '../../scripts/lib/mdms/decrypt.ts';
import { runCli, type CliRun } from '../helpers/run-cli.ts';

const KEYGEN = path.resolve(import.meta.dirname, '../../scripts/keygen');
const KINDS = ['supplier', 'gateway', 'mdms', 'operator', 'meter', 'all', 'enrolment-code'];
const PRIVATE = [
  'supplier.paillier.key.json',
  'gateway.ed25519.key.pem',
  'mdms.ed25519.key.pem',
  'operator.ed25519.key.pem',
];
const PUBLIC = [
  'supplier.paillier.pub.json',
  'gateway.ed25519.pub.pem',
  'mdms.ed25519.pub.pem',
  'operator.ed25519.pub.pem',
];

const keygen = (...args: string[]): Promise<CliRun> => runCli(KEYGEN, args);

const hexField = (json: Record<string, unknown>, name: string) => BigInt(`0x${String(json[name])}`);

describe('scripts/keygen', () => {
  let out: string;
  let run: CliRun;

  beforeAll(async () => {
    out = path.join(mkdtempSync(path.join(tmpdir(), 'keygen-')), 'keys');
    run = await keygen('all', '--out', out, '--bits', '2048');
  });

  it('--help exits 0 and documents every kind and option', async () => {
    const help = await keygen('--help');
    expect(help.code).toBe(0);
    for (const kind of KINDS) expect(help.stdout).toMatch(new RegExp(`^\\s+${kind}\\s`, 'm'));
    for (const file of [...PRIVATE, ...PUBLIC]) {
      expect(help.stdout).toContain(file);
    }
    for (const option of ['--out', '--bits', '--name', '--force', '--config', '--meter', '--help'])
      expect(help.stdout).toContain(option);
  });

  it('all: writes every file, private ones 0600 and public ones 0644', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([...PRIVATE, ...PUBLIC].sort());
    for (const f of PRIVATE) expect(statSync(path.join(out, f)).mode & 0o777, f).toBe(0o600);
    for (const f of PUBLIC) expect(statSync(path.join(out, f)).mode & 0o777, f).toBe(0o644);
  });

  it('all: prints the progress of the Paillier key and a fingerprint per signing key', () => {
    const lines = run.stdout.split('\n');
    expect(lines).toContain('supplier: generating a 2048-bit Paillier key pair');
    expect(lines.some((l) => /^\s+searching a 1024-bit prime p\.\.\.$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\s+found p in \d+ ms; searching q\.\.\.$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\s+key ready in \d+ ms$/.test(l))).toBe(true);
    for (const [kind, base] of [
      ['gateway', 'gateway.ed25519'],
      ['mdms', 'mdms.ed25519'],
      ['operator', 'operator.ed25519'],
    ] as const) {
      // The fingerprint is the first 16 bytes of SHA-256 over the public key's DER.
      const der = createPublicKey(readFileSync(path.join(out, `${base}.pub.pem`))).export({
        type: 'spki',
        format: 'der',
      });
      const expected = createHash('sha256').update(der).digest('hex').slice(0, 32);
      const line = lines.find((l) => l.startsWith(`${kind}: wrote `));
      expect(line, kind).toBeDefined();
      expect(line).toContain(`fingerprint ${expected}`);
    }
  });

  it('the Paillier pair: 2048 bits, g = n + 1, and it decrypts what paillier-bigint encrypts with the public file', () => {
    const pub = JSON.parse(readFileSync(path.join(out, 'supplier.paillier.pub.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const privText = readFileSync(path.join(out, 'supplier.paillier.key.json'), 'utf8');
    const priv = JSON.parse(privText) as Record<string, unknown>;
    const n = hexField(pub, 'n');
    const g = hexField(pub, 'g');
    expect(pub.kty).toBe('paillier-public');
    expect(pub.bits).toBe(2048);
    expect(n.toString(2)).toHaveLength(2048);
    expect(g).toBe(n + 1n);
    expect(hexField(priv, 'n')).toBe(n);
    expect(Object.keys(pub)).not.toContain('lambda');

    const publicKey = new PublicKey(n, g);
    const m = 123_456_789_012_345n;
    const c = publicKey.encrypt(m);
    const reference = new PrivateKey(
      hexField(priv, 'lambda'),
      hexField(priv, 'mu'),
      publicKey,
      hexField(priv, 'p'),
      hexField(priv, 'q'),
    );
    expect(reference.decrypt(c)).toBe(m);
    expect(decrypt(parsePaillierPrivate(privText, 'key file'), c)).toBe(m);
    // Homomorphic addition with paillier-bigint's own operation.
    expect(
      decrypt(parsePaillierPrivate(privText, 'key file'), publicKey.addition(c, publicKey.encrypt(5n))),
    ).toBe(m + 5n);
  });

  it('the signing pairs: each private key signs what its public file verifies', () => {
    const message = Buffer.from('batch 42');
    for (const base of ['gateway.ed25519', 'mdms.ed25519', 'operator.ed25519']) {
      const privateKey = createPrivateKey(readFileSync(path.join(out, `${base}.key.pem`)));
      const publicKey = createPublicKey(readFileSync(path.join(out, `${base}.pub.pem`)));
      expect(privateKey.asymmetricKeyType).toBe('ed25519');
      expect(verify(null, message, publicKey, sign(null, message, privateKey)), base).toBe(true);
    }
    // Three distinct identities.
    const pems = ['gateway', 'mdms', 'operator'].map((k) =>
      readFileSync(path.join(out, `${k}.ed25519.pub.pem`), 'utf8'),
    );
    expect(new Set(pems).size).toBe(3);
  });

  it('refuses to overwrite existing keys without --force and leaves them as they were', async () => {
    const before = [...PRIVATE, ...PUBLIC].map((f) => readFileSync(path.join(out, f), 'utf8'));
    const again = await keygen('all', '--out', out, '--bits', '2048');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('--force');
    expect(again.stderr).toContain('KEY_FILE_EXISTS');
    const gateway = await keygen('gateway', '--out', out);
    expect(gateway.code).not.toBe(0);
    expect(gateway.stderr).toContain('pass --force');
    expect([...PRIVATE, ...PUBLIC].map((f) => readFileSync(path.join(out, f), 'utf8'))).toEqual(before);
  });

  it('replaces a key with --force, keeping the modes', async () => {
    const file = path.join(out, 'operator.ed25519.key.pem');
    const before = readFileSync(file, 'utf8');
    const forced = await keygen('operator', '--out', out, '--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toBe(before);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(out, 'operator.ed25519.pub.pem')).mode & 0o777).toBe(0o644);
  });

  it('exits 2 on a bad kind, a bad --bits, a bad --name or an unknown option, writing nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keygen-bad-'));
    const usage = [
      ['wizard', '--out', dir],
      [],
      ['gateway', 'mdms', '--out', dir],
      ['supplier', '--out', dir, '--bits', '1024'],
      ['meter', '--out', dir, '--name', '../escape'],
      ['enrolment-code', '--meter', 'm1'],
    ];
    const runs = await Promise.all(
      [...usage, ['gateway', '--out', dir, '--colour', 'blue']].map((a) => keygen(...a)),
    );
    runs.forEach((r, i) => {
      const what = `case ${i}`;
      expect(r.code, what).toBe(2);
      expect(r.stderr, what).toMatch(/^error: /);
      // Usage errors come with the help text; an unknown option is named.
      if (i < usage.length) expect(r.stderr, what).toContain('Usage: scripts/keygen');
      else expect(r.stderr).toContain('--colour');
    });
    expect(readdirSync(dir)).toEqual([]);
  });
});
