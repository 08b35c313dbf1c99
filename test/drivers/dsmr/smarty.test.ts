/**
 * Luxembourg Smarty frames: the real Sagemcom T210-D-r telegram (a Smarty meter's plaintext, from dsmr_parser)
 * wrapped as the meter does (AES-128-GCM, Smarty P1 spec §3.2.5) comes back byte for byte through the framer and
 * the decryption; a wrong key, a flipped bit or a cut frame are rejected with their codes; garbage between frames
 * is skipped and the next frame is read; random bytes never escape the framer.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { decryptSmartyFrame, encryptSmartyFrame } from '../../../drivers/dsmr/smarty-frame.ts';
import { SmartyFramer } from '../../../drivers/dsmr/smarty-framer.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { pushProtocolFor } from '../../../drivers/serial/protocols.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import type { GatewayError } from '../../../gateway/errors.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const TELEGRAM = readFileSync(
  path.resolve(import.meta.dirname, '../../fixtures/dsmr/dsmr_parser/TELEGRAM_SAGEMCOM_T210_D_R.txt'),
);
const KEY = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
const TITLE = Buffer.from('SAG10307', 'latin1');
const seal = (counter: number, telegram = TELEGRAM) =>
  encryptSmartyFrame(telegram, { key: KEY, systemTitle: TITLE, frameCounter: counter });

function frame(chunks: Buffer[]): { frames: Buffer[]; rejects: GatewayError[]; discarded: number } {
  const frames: Buffer[] = [];
  const rejects: GatewayError[] = [];
  const framer = new SmartyFramer({ onReject: (e) => rejects.push(e) });
  framer.on('data', (f: Buffer) => frames.push(f));
  for (const c of chunks) framer.write(c);
  framer.end();
  return { frames, rejects, discarded: framer.discardedBytes };
}

describe('Smarty (Luxembourg) encrypted telegrams', () => {
  it('round-trips the real telegram and parses it as DSMR with its CRC', () => {
    const sealed = seal(1);
    expect(sealed.subarray(0, 2)).toEqual(Buffer.from([0xdb, 0x08]));
    expect(sealed.includes(Buffer.from('1-0:1.8.0'))).toBe(false);
    const plain = decryptSmartyFrame(sealed, KEY);
    expect(plain).toEqual(TELEGRAM);
    const parsed = parseTelegram(plain, { requireCrc: true });
    expect(parsed.values.find((v) => v.obis === '1-0:1.8.0')?.unit).toBe('Wh');
  });

  it('rejects a wrong key, a flipped bit and a cut frame', () => {
    const sealed = seal(2);
    expectCode('FRAME_CHECKSUM', () => decryptSmartyFrame(sealed, Buffer.alloc(16, 7)));
    for (const at of [14, 20, 100, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at] = bad[at]! ^ 0x01;
      expectCode('FRAME_CHECKSUM', () => decryptSmartyFrame(bad, KEY));
    }
    expectCode('FRAME_TRUNCATED', () => decryptSmartyFrame(sealed.subarray(0, sealed.length - 3), KEY));
    expectCode('FRAME_MALFORMED', () => decryptSmartyFrame(TELEGRAM, KEY));
  });

  it('frames a stream in any chunking, skipping garbage between frames', () => {
    const stream = Buffer.concat([
      Buffer.from('noise\xdb\x00'),
      seal(3),
      Buffer.from([0xdb, 0x08, 1, 2]),
      seal(4),
      seal(5),
    ]);
    for (const size of [1, 7, 64, stream.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      const { frames } = frame(chunks);
      // The false header "DB 08 01 02" swallows bytes up to its announced length, so it costs at most one frame.
      expect(frames.length).toBeGreaterThanOrEqual(2);
      const good = frames.filter((f) => {
        try {
          return decryptSmartyFrame(f, KEY).equals(TELEGRAM);
        } catch {
          return false;
        }
      });
      expect(good.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('is what a dsmr port with a decryptionKeyFile speaks (key file checked for mode 0600)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'smarty-'));
    const keyFile = path.join(dir, 'smarty.key');
    writeFileSync(keyFile, `${KEY.toString('hex')}\n`, { mode: 0o600 });
    const config = validateConfig({
      gateway: { id: 'gw' },
      keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
      upstream: { url: 'mqtt://127.0.0.1:1' },
      drivers: { serial: { lu: { path: '/dev/ttyUSB0', protocol: 'dsmr', decryptionKeyFile: keyFile } } },
      neighbourhoods: [{ id: 'n' }],
      meters: [{ id: 'm', neighbourhood: 'n', account: 'a', source: { driver: 'serial', port: 'lu' } }],
    });
    const protocol = pushProtocolFor(config.drivers.serial!.lu!);
    const frames: Buffer[] = [];
    const framer = protocol.framer(() => {});
    framer.on('data', (f: Buffer) => frames.push(f));
    framer.write(seal(11));
    expect(frames).toHaveLength(1);
    expect(protocol.parse(frames[0]!).values.length).toBeGreaterThan(5);
    chmodSync(keyFile, 0o644);
    expectCode('KEY_FILE_INSECURE', () => pushProtocolFor(config.drivers.serial!.lu!));
  });

  it('property: random bytes never throw out of the framer and every frame either decrypts or is rejected', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (parts) => {
        const { frames } = frame([...parts.map((p) => Buffer.from(p)), seal(9)]);
        for (const f of frames) {
          try {
            decryptSmartyFrame(f, KEY);
          } catch (error) {
            expect((error as GatewayError).code).toMatch(/^FRAME_/);
          }
        }
      }),
      { numRuns: fuzzRuns(100) },
    );
  });
});
