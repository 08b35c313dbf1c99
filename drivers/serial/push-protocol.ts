/**
 * A meter protocol in which the meter sends on its own (DSMR P1 every 1-10 s, SML every 1-4 s, IEC 62056-21
 * mode D): the serial driver only listens. Each protocol provides its framer (bytes → candidate frames) and its
 * pure parser (frame → verified MeterFrame or a typed error), as STYLE.md §3 layers them.
 */
import type { Transform } from 'node:stream';
import type { GatewayError } from '../../gateway/errors.ts';
import type { MeterFrame } from '../common/meter-frame.ts';
import type { LineSettings } from './serial-link.ts';

export interface PushProtocol {
  readonly name: string;
  /** Line settings when the config sets none. */
  readonly line: LineSettings;
  /** When the settings are to be found by listening: the candidates, in order (`line` is the first). */
  readonly lineCandidates?: readonly LineSettings[];
  /** A fresh framer (one per opening of the port: a partial frame never spans two). Rejects go to `onReject`. */
  framer(onReject: (error: GatewayError) => void): Transform;
  /** Verifies and parses one frame; throws a GatewayError (FRAME_*) when it cannot be trusted. */
  parse(frame: Buffer): MeterFrame;
}
