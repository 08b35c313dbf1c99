/**
 * The split-key ceremony (docs/key-ceremony.md): on an offline machine, generate a Paillier key, split its
 * decryption exponent into the supplier's and the authority's shares, write the public key and both shares
 * (0600), and keep nothing else: p, q, λ and μ exist only in this process's memory and are never written.
 */
import path from 'node:path';
import { writeKeyFile } from '../../../gateway/keys/files.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import { paillierPublicJson } from '../../../gateway/keys/paillier-files.ts';
import { paillierFingerprint, shareJson } from './share-files.ts';
import { splitKey } from './shares.ts';

export const splitShareFiles = (out: string): string[] => [
  path.join(out, 'supplier.share.json'),
  path.join(out, 'authority.share.json'),
];

export async function splitCeremony(bits: number, out: string, force: boolean): Promise<void> {
  console.log(`supplier (split): generating a ${bits}-bit Paillier key`);
  const whole = await generatePaillier(bits, (m) => console.log(`  ${m}`));
  const { supplier, authority } = splitKey(whole);
  const [supplierFile, authorityFile] = splitShareFiles(out) as [string, string];
  const publicFile = path.join(out, 'supplier.paillier.pub.json');
  writeKeyFile(publicFile, paillierPublicJson(whole.publicKey), { secret: false, force });
  writeKeyFile(supplierFile, shareJson(supplier), { secret: true, force });
  writeKeyFile(authorityFile, shareJson(authority), { secret: true, force });
  console.log(`  wrote ${publicFile}, ${supplierFile} and ${authorityFile}`);
  console.log(
    `  public key fingerprint ${paillierFingerprint(whole.publicKey)}; p, q and λ were not written`,
  );
  console.log(
    '  hand authority.share.json to the privacy authority and delete it here (docs/key-ceremony.md)',
  );
}
