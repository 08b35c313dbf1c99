/**
 * The three push meter kinds of the serial fault tests (DSMR P1, SML, IEC 62056-21 mode D): each one's port
 * configuration, the start of its frames, and its frames as the emulator writes them, at emulated time
 * `T0 + k × INTERVAL` with a given register, the meter's clock in each.
 */
import { START } from '../../drivers/sml/sml-transport.ts';
import { dsmrFrame, iecModeDFrame, smlFrame, type FrameInput } from '../../scripts/lib/emulate/frames.ts';
import type { RigPort } from './serial-rig.ts';

export const T0 = Date.parse('2024-03-01T00:00:00Z');
/** The rig's default interval: 15 minutes. */
export const INTERVAL = 15 * 60_000;

export interface PushKind {
  name: 'dsmr' | 'sml' | 'iec62056-21';
  port: RigPort;
  /** The start of a frame. */
  start: Buffer;
  /** A byte that ends no frame, to fill one that never ends. */
  filler: number;
  /** The frame the meter sends at `T0 + k × INTERVAL` with its register at `registerWh`. */
  frame(k: number, registerWh: number): Buffer;
}

const at = (k: number, registerWh: number): FrameInput => ({
  t: T0 + k * INTERVAL,
  registerWh,
  powerW: 500,
  timeZone: 'UTC',
  serial: '42',
});

export const PUSH_KINDS: PushKind[] = [
  {
    name: 'dsmr',
    port: { protocol: 'dsmr' },
    start: Buffer.from('/'),
    filler: 0x41,
    frame: (k, wh) => dsmrFrame('5.0', at(k, wh)),
  },
  {
    name: 'sml',
    port: { protocol: 'sml' },
    start: START,
    filler: 0x00,
    frame: (k, wh) => smlFrame(at(k, wh), k, true),
  },
  {
    name: 'iec62056-21',
    port: { protocol: 'iec62056-21', iec: { mode: 'D' } },
    start: Buffer.from('/'),
    filler: 0x41,
    frame: (k, wh) => iecModeDFrame(at(k, wh)),
  },
];

export const DSMR = PUSH_KINDS[0]!;
