/** `--trust GATEWAY_ID=FILE` options, shared by the MDMS and the privacy authority (each keeps its own list). */
import type { KeyObject } from 'node:crypto';
import { loadPublicKey } from '../../gateway/keys/files.ts';
import { UsageError } from './cli.ts';

export function parseTrust(entries: readonly string[], help: string): Map<string, KeyObject> {
  const trust = new Map<string, KeyObject>();
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new UsageError(`--trust expects GATEWAY_ID=FILE, got "${e}"`, help);
    trust.set(e.slice(0, eq), loadPublicKey(e.slice(eq + 1), 'ed25519', 'gateway public key'));
  }
  return trust;
}
