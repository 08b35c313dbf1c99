/**
 * The demo's privacy authority (npm run demo -- --split): the real service in-process, with its own signing key,
 * its own trusted key for the demo gateway and its own log in var/demo/authority.sqlite; at the end, a summary of
 * its verified log.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../../../gateway/observe/log.ts';
import { Authority } from '../authority/authority.ts';
import { AuthorityService } from '../authority/service.ts';
import {
  openAuthorityDb,
  readLogRows,
  TransparencyLog,
  verifyTransparencyLog,
} from '../authority/transparency-log.ts';
import type { SplitOptions } from '../mdms/split-decryptor.ts';
import type { KeyShare } from '../split-key/shares.ts';

export interface DemoAuthority {
  /** What the MDMS needs to decrypt with it. */
  split: (supplierShare: KeyShare) => SplitOptions;
  /** The verified log, summarised: decisions, accepted, refused per code. */
  summary(): string;
  stop(): Promise<void>;
}

export async function startDemoAuthority(o: {
  dir: string;
  brokerUrl: string;
  share: KeyShare;
  gatewayId: string;
  gatewayPublicKey: KeyObject;
  mdmsPublicKey: KeyObject;
  minK: number;
  log: Logger;
}): Promise<DemoAuthority> {
  const file = path.join(o.dir, 'authority.sqlite');
  const db = openAuthorityDb(file);
  const signing = generateKeyPairSync('ed25519');
  const service = new AuthorityService({
    url: o.brokerUrl,
    prefix: 'meterspace/authority/v1',
    authority: new Authority({
      share: o.share,
      trust: new Map([[o.gatewayId, o.gatewayPublicKey]]),
      requesters: [o.mdmsPublicKey],
      policy: { minK: o.minK, minBillingDays: 1, requireNoise: {} },
      log: new TransparencyLog(db),
      now: () => Date.now(),
    }),
    signing,
    log: o.log,
  });
  await service.start();
  return {
    split: (share) => ({ share, authorityKey: signing.publicKey }),
    summary() {
      const decisions = verifyTransparencyLog(readLogRows(db));
      const refused = new Map<string, number>();
      for (const d of decisions) if (d.code) refused.set(d.code, (refused.get(d.code) ?? 0) + 1);
      const accepted = decisions.filter((d) => d.decision === 'accepted').length;
      const codes = [...refused].map(([c, n]) => `${c} ${n}`).join(', ') || 'none';
      return (
        `Privacy authority: its log (${path.relative(process.cwd(), file)}) verifies, ${decisions.length} decisions: ` +
        `${accepted} co-decryptions, refused: ${codes}. Check it: scripts/authority log --verify --db ${file}`
      );
    },
    stop: () => service.stop(),
  };
}
