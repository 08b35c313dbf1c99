/**
 * `scripts/keygen enrolment-code` on site, beside a gateway's real buffer: the code of a meter the gateway has
 * read is bound to the device bound to it, and the printed sheet names that device for the household to compare
 * with its meter; a meter not read yet gets an unbound code, and the sheet says so.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../gateway/buffer/database.ts';
import { DeviceStore } from '../../gateway/buffer/device-store.ts';
import { loadEnrolmentCodes } from '../../gateway/customer/enrolment-codes.ts';
import { runCli } from '../helpers/run-cli.ts';

const KEYGEN = path.resolve(import.meta.dirname, '../../scripts/keygen');

describe('scripts/keygen enrolment-code', () => {
  it("binds each code to its meter's device and names it on the sheet; an unread meter's code is unbound", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keygen-codes-'));
    const codes = path.join(dir, 'keys', 'enrolment-codes.json');
    const configFile = path.join(dir, 'gateway.yaml');
    writeFileSync(
      configFile,
      stringify({
        gateway: { id: 'gw-1', dataDir: path.join(dir, 'var') },
        keys: {
          supplierPublic: 's.json',
          gatewayPrivate: 'g.pem',
          mdmsPublic: 'm.pem',
          enrolmentCodes: codes,
        },
        upstream: { url: 'mqtt://127.0.0.1:1883' },
        drivers: { replay: { file: path.join(dir, 'd.csv') } },
        neighbourhoods: [{ id: 'north' }],
        meters: ['m01', 'm02'].map((id, i) => ({
          id,
          neighbourhood: 'north',
          account: `A-${i}`,
          source: { driver: 'replay', household: `h${i}` },
        })),
      }),
    );
    // The gateway has read m01, which reported its serial; m02 not yet.
    const db = openDatabase(path.join(dir, 'var', 'buffer.sqlite'), { synchronous: 'NORMAL' });
    new DeviceStore(db).identify({ id: 'm01', neighbourhood: 'north' }, 'meter-serial:E0044007', 1000);
    db.close();

    const run = await runCli(KEYGEN, [
      'enrolment-code',
      '--config',
      configFile,
      '--meter',
      'm01',
      '--meter',
      'm02',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^m01\t[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/),
      '\tmeter m01, device meter serial E0044007: compare it with the serial on the meter',
      expect.stringMatching(/^m02\t[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/),
      '\tmeter m02, device not read yet: the code is pinned to the first device read as this meter',
    ]);
    const stored = loadEnrolmentCodes(codes);
    expect([...stored.keys()]).toEqual(['m01', 'm02']);
    expect([...(stored.devices ?? [])]).toEqual([['m01', 'meter-serial:E0044007']]);
  }, 60_000);
});
