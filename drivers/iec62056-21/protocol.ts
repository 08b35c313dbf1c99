/**
 * IEC 62056-21:2002 ("direct local data exchange", formerly IEC 61107 / IEC 1107, the "D0" optical and
 * current-loop interface): the characters, line format and timing bounds that the reader (`mode-c-session.ts`),
 * the mode D framer and the meter emulator (`meter-responder.ts`) share.
 */
import type { LineSettings } from '../serial/serial-link.ts';

/** Control characters of the message formats (6.3). */
export const STX = 0x02;
export const ETX = 0x03;
export const ACK = 0x06;
export const CR = 0x0d;
export const LF = 0x0a;

/** Every sign-on (modes A, B, C, E) starts at 300 baud; the meter returns to it after a readout. */
export const SIGN_ON_BAUD = 300;
/** Mode D pushes at a fixed 2400 baud. */
export const MODE_D_BAUD = 2400;

/** The character format of every mode: 1 start bit, 7 data bits, even parity, 1 stop bit. */
export function lineSettings(baudRate: number): LineSettings {
  return { baudRate, dataBits: 7, parity: 'even', stopBits: 1 };
}

/** Bits per character on the line: start, 7 data, parity, stop. */
const BITS_PER_CHARACTER = 10;

/** How long `characters` take on the line at `baud`, in ms. */
export function transmitMs(characters: number, baud: number): number {
  return (characters * BITS_PER_CHARACTER * 1000) / baud;
}

/**
 * The meter's reaction time tr between the end of a message it received and the start of its answer
 * (the standard's message timing): 200 ms ≤ tr ≤ 1500 ms, or from 20 ms when the third letter of the manufacturer's
 * identification is lower case ("ISk").
 */
export const REACTION_MIN_MS = 200;
export const REACTION_MIN_FAST_MS = 20;
export const REACTION_MAX_MS = 1500;
/** The longest pause between two characters of one message (ta < 1500 ms). */
export const INTER_CHARACTER_MAX_MS = 1500;

/** Index of the next CR LF at or after `from`, or -1. */
export function indexOfCrLf(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from); i + 1 < bytes.length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF) return i;
  }
  return -1;
}

/** Longest readout (identification, echoes and data message) buffered by default; the Iskra MT174 sends 9.5 kB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

/** What the state machines of both sides ask their driver to do with the line. */
export type LineAction =
  /** Write these bytes to the port, at the current baud rate. */
  | { kind: 'write'; bytes: Buffer }
  /** Change the port's baud rate (the character format stays 7E1, `lineSettings`). */
  | { kind: 'setBaud'; baud: number }
  /** (Re)start the one timer: a new startTimer replaces a pending one; `done`/`fail` cancel it. */
  | { kind: 'startTimer'; ms: number };
