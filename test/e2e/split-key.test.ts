/**
 * The spine end to end with a split key: the real gateway process replays a day of real household data into
 * a real Mosquitto; the reference MDMS holds only the supplier's share and decrypts every release and bill with
 * the privacy authority, a separate service with its own trusted gateway key and its own log. The sums and bills
 * must be exactly those computed from the CSV, as with a whole key; the authority's log verifies and shows one
 * accepted decision per aggregate and bill, and no refusal.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../gateway/observe/log.ts';
import { Authority } from '../../scripts/lib/authority/authority.ts';
import { AuthorityService } from '../../scripts/lib/authority/service.ts';
import {
  openAuthorityDb,
  readLogRows,
  TransparencyLog,
  verifyTransparencyLog,
} from '../../scripts/lib/authority/transparency-log.ts';
import { PendingStore } from '../../scripts/lib/mdms/pending-store.ts';
import { MdmsReceiver } from '../../scripts/lib/mdms/receiver.ts';
import { MdmsStore, openMdmsDb } from '../../scripts/lib/mdms/store.ts';
import { splitKey } from '../../scripts/lib/split-key/shares.ts';
import { generateKeyPairSync } from 'node:crypto';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { runPipeline, type PipelineRun } from '../helpers/pipeline-run.ts';
import { GATEWAY_ID } from '../helpers/scenario.ts';
import { runCli } from '../helpers/run-cli.ts';

const AUTHORITY = path.resolve(import.meta.dirname, '../../scripts/authority');

describe('gateway → Mosquitto → MDMS with the supplier share + privacy authority', () => {
  let run: PipelineRun;
  let authorityDb = '';
  let pending: PendingStore;

  beforeAll(async () => {
    run = await runPipeline(
      // Slower than the whole-key e2e: the MDMS's exponentiations share the CPU with the gateway replaying.
      { from: '2012-10-10T00:00:00Z', to: '2012-10-11T00:00:00Z', speed: 1200 },
      () => {},
      async (url, keys, dbFile) => {
        // The ceremony's split, on the key the gateway's public file belongs to; the MDMS never sees the whole key.
        const { supplier, authority: share } = splitKey(keys.supplier);
        const dir = path.join(path.dirname(dbFile), 'authority');
        mkdirSync(dir, { recursive: true });
        authorityDb = path.join(dir, 'authority.sqlite');
        const signing = generateKeyPairSync('ed25519');
        const service = new AuthorityService({
          url,
          prefix: 'meterspace/authority/v1',
          authority: new Authority({
            share,
            trust: new Map([[GATEWAY_ID, keys.gatewayPublicKey]]),
            requesters: [keys.mdmsSigning.publicKey],
            policy: { minK: 5, minBillingDays: 1, requireNoise: {} },
            log: new TransparencyLog(openAuthorityDb(authorityDb)),
            now: () => Date.now(),
          }),
          signing,
          log: silentLogger(),
        });
        await service.start();
        const store = new MdmsStore(openMdmsDb(dbFile));
        pending = new PendingStore(store.db);
        const receiver = new MdmsReceiver({
          url,
          prefix: 'meterspace/v1',
          trust: new Map([[GATEWAY_ID, keys.gatewayPublicKey]]),
          split: { share: supplier, authorityKey: signing.publicKey },
          signing: keys.mdmsSigning,
          store,
          log: silentLogger(),
        });
        await receiver.start();
        return {
          store,
          stop: async () => {
            await receiver.stop();
            await service.stop();
          },
        };
      },
    );
  }, 250_000);

  afterAll(() => run?.stop());

  it('holds every release within its noise bound, the suppressions, and the bills exact, as with a whole key', () => {
    expect(run.scenario.expected.aggregates.size).toBeGreaterThan(75);
    expectExactlyExpected(run.store, run.scenario.expected);
    expect(pending.all()).toEqual([]);
  });

  it('the authority logged one accepted decision per aggregate and bill, no refusal, in a chain that verifies', async () => {
    const decisions = verifyTransparencyLog(readLogRows(openAuthorityDb(authorityDb)));
    const c = run.store.counts();
    expect(decisions.filter((d) => d.decision === 'refused')).toEqual([]);
    expect(new Set(decisions.map((d) => d.record)).size).toBe(c.aggregates + c.bills);
    const status = await runCli(AUTHORITY, ['status', '--db', authorityDb]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`accepted: ${decisions.length}`);
  });
});
