/**
 * scripts/keygen supplier --split, the key ceremony: the public key as before, two 0600 shares, no private key
 * file and nothing of p, q or λ written; the shares together decrypt what paillier-bigint encrypted with the
 * public file, and --split is refused for any other kind.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PublicKey } from 'paillier-bigint';
import { describe, expect, it } from 'vitest';
import { loadPaillierPublic } from '../../../gateway/keys/paillier-files.ts';
import { loadShare, paillierFingerprint } from '../../../scripts/lib/split-key/share-files.ts';
import { combinePartials, partialDecrypt } from '../../../scripts/lib/split-key/shares.ts';
import { runCli } from '../../helpers/run-cli.ts';

const KEYGEN = path.resolve(import.meta.dirname, '../../../scripts/keygen');

describe('scripts/keygen supplier --split', () => {
  it('writes the public key and two shares that decrypt only together', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'keygen-split-')), 'keys');
    const run = await runCli(KEYGEN, ['supplier', '--split', '--out', out, '--bits', '2048']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'authority.share.json',
      'supplier.paillier.pub.json',
      'supplier.share.json',
    ]);
    for (const f of ['authority.share.json', 'supplier.share.json'])
      expect(statSync(path.join(out, f)).mode & 0o777).toBe(0o600);
    const pub = loadPaillierPublic(path.join(out, 'supplier.paillier.pub.json'));
    expect(run.stdout).toContain(`fingerprint ${paillierFingerprint(pub)}`);
    const supplier = loadShare(path.join(out, 'supplier.share.json'), 'supplier');
    const authority = loadShare(path.join(out, 'authority.share.json'), 'authority');
    expect(supplier.publicKey.n).toBe(pub.n);
    for (const f of readdirSync(out)) {
      const text = readFileSync(path.join(out, f), 'utf8');
      for (const secret of ['lambda', '"p"', '"q"', '"mu"']) expect(text, f).not.toContain(secret);
    }
    const foreign = new PublicKey(pub.n, pub.n + 1n);
    const c = foreign.encrypt(987654321n);
    const m = combinePartials(pub, [partialDecrypt(supplier, c), partialDecrypt(authority, c)]);
    expect(m).toBe(987654321n);
  });

  it('refuses --split for any kind but supplier', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'keygen-split-'));
    const run = await runCli(KEYGEN, ['gateway', '--split', '--out', out]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--split applies to the supplier key only');
    expect(readdirSync(out)).toEqual([]);
  });
});
