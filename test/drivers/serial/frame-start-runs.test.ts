/**
 * A run of frame starts ("/" for DSMR and IEC 62056-21 mode D, 1b1b1b1b 01010101 for SML), as a port spewing
 * garbage sends them, is one rejected fragment for each push framer, not one per start: every reject costs an
 * Error, and one per byte kept a core busy at a DSMR line's 11.5 kB/s (about 35,000 rejects a second per core
 * here; a Raspberry Pi is slower). A start alone before a frame is still reported, and the frames around the
 * runs come through intact, whatever the chunking.
 */
import type { Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../gateway/errors.ts';
import { pushProtocolFor } from '../../../drivers/serial/protocols.ts';
import { modeDProtocol } from '../../../drivers/iec62056-21/mode-d.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { PUSH_KINDS } from '../../helpers/push-meters.ts';

function framerFor(name: string, onReject: (e: GatewayError) => void): Transform {
  if (name === 'iec62056-21') return modeDProtocol().framer(onReject);
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: { serial: { p: { path: '/dev/null', protocol: name } } },
    neighbourhoods: [{ id: 'n' }],
    meters: [{ id: 'm', neighbourhood: 'n', account: 'a', source: { driver: 'serial', port: 'p' } }],
  });
  return pushProtocolFor(config.drivers.serial!.p!).framer(onReject);
}

describe.each(PUSH_KINDS)('a run of frame starts: $name', (kind) => {
  it('is one FRAME_TRUNCATED; a lone start is another; the frames around them are intact', () => {
    const [a, b, c] = [0, 1, 2].map((k) => kind.frame(k, 1_000_000 + k));
    const run = Buffer.concat(new Array<Buffer>(10_000).fill(kind.start));
    const input = Buffer.concat([a!, run, b!, kind.start, c!]);
    const rejects: string[] = [];
    const frames: Buffer[] = [];
    const framer = framerFor(kind.name, (e) => rejects.push(e.code));
    framer.on('data', (f: Buffer) => frames.push(f));
    for (let at = 0; at < input.length; at += 7) framer.write(input.subarray(at, at + 7));
    expect(frames.map((f) => f.equals(a!) || f.equals(b!) || f.equals(c!))).toEqual([true, true, true]);
    expect(rejects).toEqual(['FRAME_TRUNCATED', 'FRAME_TRUNCATED']);
  });
});
