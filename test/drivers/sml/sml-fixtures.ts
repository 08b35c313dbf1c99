/**
 * The committed SML captures (test/fixtures/sml/README.md) and a helper that runs bytes through an SmlFramer the
 * way a serial port would, chunk by chunk, recording frames, rejects and the framer's buffer after every chunk.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import type { GatewayError } from '../../../gateway/errors.ts';
import { SmlFramer, type SmlFramerOptions } from '../../../drivers/sml/sml-framer.ts';

const DIR = path.resolve(import.meta.dirname, '../../fixtures/sml');

/** Every file of the captures is 324 bytes long. */
export const FILE_BYTES = 324;

export function fixture(name: string): Buffer {
  return readFileSync(path.join(DIR, name));
}

let full: Buffer | undefined;

/** The three captures: ttyUSB0-3 and ttyUSB0-2 are prefixes of ttyUSB0 (checked by SHA-256 in the tests). */
export function dump(name: 'ttyUSB0.dump' | 'ttyUSB0-3.dump' | 'ttyUSB0-2.dump'): Buffer {
  full ??= gunzipSync(fixture('ttyUSB0.dump.gz'));
  const length = { 'ttyUSB0.dump': full.length, 'ttyUSB0-3.dump': 168_091, 'ttyUSB0-2.dump': 736 }[name];
  return full.subarray(0, length);
}

/** File `index` of ttyUSB0.dump. */
export function captureFile(index: number): Buffer {
  return dump('ttyUSB0.dump').subarray(index * FILE_BYTES, (index + 1) * FILE_BYTES);
}

export interface FramerRun {
  frames: Buffer[];
  rejects: GatewayError[];
  /** Largest `bufferedBytes` seen after any chunk. */
  maxBuffered: number;
}

/** Writes the chunks one after another, ends the stream and waits until it has finished. */
export async function runFramer(
  chunks: Iterable<Uint8Array>,
  options: Omit<SmlFramerOptions, 'onReject'> = {},
): Promise<FramerRun> {
  const rejects: GatewayError[] = [];
  const framer = new SmlFramer({ ...options, onReject: (error) => rejects.push(error) });
  const frames: Buffer[] = [];
  framer.on('data', (frame: Buffer) => frames.push(frame));
  let maxBuffered = 0;
  for (const chunk of chunks) {
    await new Promise<void>((resolve, reject) =>
      framer.write(chunk, (error) => (error ? reject(error) : resolve())),
    );
    maxBuffered = Math.max(maxBuffered, framer.bufferedBytes);
  }
  framer.end();
  await finished(framer);
  return { frames, rejects, maxBuffered };
}

/** Splits `bytes` into chunks of `size` bytes. */
export function chunked(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}
