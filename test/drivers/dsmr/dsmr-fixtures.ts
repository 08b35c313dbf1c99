/**
 * The committed DSMR captures (test/fixtures/dsmr, copied from ../shared/data/dsmr) and a framer harness that
 * reads it synchronously, so tests see every telegram and every reject of each write.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { GatewayError } from '../../../gateway/errors.ts';
import { TelegramFramer, type TelegramFramerOptions } from '../../../drivers/dsmr/telegram-framer.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/dsmr');

/** The 13 dsmr_parser example telegrams, by file name without ".txt". */
export const CAPTURES = [
  'TELEGRAM_ESY5Q3DA1004_V304',
  'TELEGRAM_ESY5Q3DB1024_V304',
  'TELEGRAM_FLUVIUS_V171',
  'TELEGRAM_FLUVIUS_V171_ALT',
  'TELEGRAM_ISKRA_IE',
  'TELEGRAM_SAGEMCOM_T210_D_R',
  'TELEGRAM_UNPADDED_CRC',
  'TELEGRAM_V2_2',
  'TELEGRAM_V3',
  'TELEGRAM_V4_2',
  'TELEGRAM_V5',
  'TELEGRAM_V5_EON_HU',
  'TELEGRAM_V5_TWO_MBUS',
] as const;

export type CaptureName = (typeof CAPTURES)[number];

/** Captures that end in "!CRC CR LF" and nothing else. */
export const CRC_CAPTURES: readonly CaptureName[] = [
  'TELEGRAM_FLUVIUS_V171',
  'TELEGRAM_FLUVIUS_V171_ALT',
  'TELEGRAM_ISKRA_IE',
  'TELEGRAM_SAGEMCOM_T210_D_R',
  'TELEGRAM_UNPADDED_CRC',
  'TELEGRAM_V4_2',
  'TELEGRAM_V5',
  'TELEGRAM_V5_EON_HU',
  'TELEGRAM_V5_TWO_MBUS',
];

export function capture(name: CaptureName): Buffer {
  return readFileSync(path.join(FIXTURES, 'dsmr_parser', `${name}.txt`));
}

/** dsmr-tools ttyUSB0-raw.txt: 566 telegrams of an Iskra AM550, LF line ends, starting mid-telegram. */
export function ttyUsb0Raw(): Buffer {
  return gunzipSync(readFileSync(path.join(FIXTURES, 'ttyUSB0-raw.txt.gz')));
}

/** Restores the CR the capture lost before every LF. */
export function lfToCrlf(bytes: Buffer): Buffer {
  return Buffer.from(bytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

export interface Framed {
  telegrams: Buffer[];
  rejects: GatewayError[];
  /** Largest `bufferedLength` seen after any write. */
  maxBuffered: number;
  /** Errors the stream emitted (must stay empty). */
  streamErrors: unknown[];
  framer: TelegramFramer;
}

/** Writes `chunks` one by one into a fresh framer, reading it out after each; `end` flushes it. */
export function frame(
  chunks: readonly Uint8Array[],
  options: TelegramFramerOptions & { end?: boolean } = {},
): Framed {
  const rejects: GatewayError[] = [];
  const streamErrors: unknown[] = [];
  const framer = new TelegramFramer({ ...options, onReject: (e) => rejects.push(e) });
  framer.on('error', (e) => streamErrors.push(e));
  const telegrams: Buffer[] = [];
  let maxBuffered = 0;
  const drain = (): void => {
    for (let t = framer.read() as Buffer | null; t !== null; t = framer.read() as Buffer | null)
      telegrams.push(t);
  };
  for (const chunk of chunks) {
    framer.write(chunk);
    maxBuffered = Math.max(maxBuffered, framer.bufferedLength);
    drain();
  }
  if (options.end ?? true) {
    // _flush runs synchronously when nothing is pending; the drain loop above leaves nothing pending.
    framer.end();
    drain();
  }
  return { telegrams, rejects, maxBuffered, streamErrors, framer };
}

/** Splits `bytes` into chunks of the given sizes (cycled). */
export function chunked(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}
