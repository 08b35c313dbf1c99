/**
 * One readout of an IEC 62056-21 meter as the reader (HHU) runs it, as a pure state machine: no port, no clock.
 * The driver feeds it what happened (`start`, `receive`, `timerFired`) and carries out the actions it returns in
 * order (`write`, `setBaud`, `startTimer`), until `done` (a verified frame) or `fail` (a GatewayError code).
 *
 * The exchange (6.4, protocol mode C; modes A and B are followed when the identification announces them):
 * 1. at 300 baud 7E1, write the request "/?address!" CR LF, wait for the identification (DEVICE_TIMEOUT);
 * 2. mode C: write the option select ACK "0" Z "0" CR LF (data readout at the meter's highest baud rate, capped at
 *    `maxBaud`); it takes 200 ms to send at 300 baud and the meter answers at the new rate no sooner than its
 *    reaction time tr (200 ms, 20 ms for a lower-case third letter), so the port switches halfway into that
 *    window: 300 ms (210 ms) after the write. Mode B: the meter switches by itself, the port at once. Mode A: 300;
 * 3. collect the data message until its BCC (or "!" CR LF when `expectBcc` is false), verify and parse it.
 *    Silence past `responseTimeoutMs` is DEVICE_TIMEOUT before the data message began, FRAME_TRUNCATED after.
 *
 * Echoes of the reader's own messages (optical heads are half-duplex) and noise before STX are skipped. At most
 * `maxFrameBytes` are ever buffered (FRAME_TOO_LONG).
 */
import { GatewayError, type ErrorCode } from '../../gateway/errors.ts';
import type { MeterFrame } from '../common/meter-frame.ts';
import type { DataContent } from './data-set.ts';
import { findMessageEnd, parseDataMessage, skipEchoes } from './data-block.ts';
import {
  MAX_IDENTIFICATION_BYTES,
  optionSelectMessage,
  parseIdentification,
  requestMessage,
  type Identification,
} from './identification.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  INTER_CHARACTER_MAX_MS,
  REACTION_MAX_MS,
  REACTION_MIN_FAST_MS,
  REACTION_MIN_MS,
  SIGN_ON_BAUD,
  STX,
  indexOfCrLf,
  transmitMs,
  type LineAction,
} from './protocol.ts';

export interface ModeCSessionOptions {
  /** Device address for the request (6.3.1); empty addresses whichever meter is at the optical head. */
  address?: string;
  /** Highest baud rate to select (USB optical heads often stop at 9600). Default 19200. */
  maxBaud?: number;
  /** The data message carries STX … ETX BCC (the standard). False for meters that omit them. Default true. */
  expectBcc?: boolean;
  /** From the request to a complete identification. Default: request + tr max + longest identification. */
  identificationTimeoutMs?: number;
  /** Longest silence while waiting for or receiving the data message. Default 2000 (tr, ta ≤ 1500 + latency). */
  responseTimeoutMs?: number;
  /** From writing the option select to switching the port's baud rate. Default 300 (210 for fast meters). */
  baudSwitchDelayMs?: number;
  /** Most bytes buffered before FRAME_TOO_LONG. Default 64 KiB. */
  maxFrameBytes?: number;
}

export type SessionAction =
  | LineAction
  /** The readout is complete and verified; the session is over (cancel the timer). */
  | { kind: 'done'; frame: MeterFrame; identification: Identification }
  /** The readout failed; the session is over (cancel the timer). */
  | { kind: 'fail'; code: ErrorCode; reason: string };

export type SessionState = 'idle' | 'identifying' | 'switching' | 'reading' | 'done' | 'failed';

const SLASH = 0x2f;
const QUESTION = 0x3f;
const MODE_C_BAUDS = [19200, 9600, 4800, 2400, 1200, 600, 300];
const EMPTY = Buffer.alloc(0);

export class ModeCSession {
  private stateNow: SessionState = 'idle';
  private readonly request: Buffer;
  private readonly maxBaud: number;
  private readonly expectBcc: boolean;
  private readonly maxFrameBytes: number;
  private readonly responseTimeoutMs: number;
  private buf: Buffer = EMPTY;
  private identification: Identification | undefined;
  private targetBaud = SIGN_ON_BAUD;
  /** Start of the data message in `buf` (its STX), -1 until it has begun. */
  private messageStart = -1;
  private scanFrom = 0;

  /** Throws CONFIG_INVALID for an address the request cannot carry. */
  constructor(private readonly opts: ModeCSessionOptions = {}) {
    this.request = requestMessage(opts.address ?? '');
    this.maxBaud = opts.maxBaud ?? 19200;
    this.expectBcc = opts.expectBcc ?? true;
    this.maxFrameBytes = Math.max(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, MAX_IDENTIFICATION_BYTES);
    // The meter answers within tr and pauses less than ta between characters; 500 ms for OS and USB latency.
    this.responseTimeoutMs =
      opts.responseTimeoutMs ?? Math.max(REACTION_MAX_MS, INTER_CHARACTER_MAX_MS) + 500;
  }

  get state(): SessionState {
    return this.stateNow;
  }

  /** Bytes held between calls (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  /** Signs on: 300 baud, the request, the identification timer. */
  start(): SessionAction[] {
    if (this.stateNow !== 'idle') return [];
    this.stateNow = 'identifying';
    const timeout =
      this.opts.identificationTimeoutMs ??
      Math.ceil(
        transmitMs(this.request.length, SIGN_ON_BAUD) +
          REACTION_MAX_MS +
          transmitMs(MAX_IDENTIFICATION_BYTES, SIGN_ON_BAUD),
      );
    return [
      { kind: 'setBaud', baud: SIGN_ON_BAUD },
      { kind: 'write', bytes: this.request },
      { kind: 'startTimer', ms: timeout },
    ];
  }

  /** Bytes read from the port, in any chunking. */
  receive(bytes: Uint8Array): SessionAction[] {
    const s = this.stateNow;
    if (s === 'idle' || s === 'done' || s === 'failed' || bytes.length === 0) return [];
    this.buf = this.buf.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.buf, bytes]);
    const actions: SessionAction[] = [];
    if (s === 'identifying') this.identify(actions);
    else this.read(actions, s === 'reading');
    return actions;
  }

  /** The timer of the last `startTimer` has expired. */
  timerFired(): SessionAction[] {
    const actions: SessionAction[] = [];
    switch (this.stateNow) {
      case 'identifying':
        this.fail(actions, 'DEVICE_TIMEOUT', 'no identification after the request');
        break;
      case 'switching':
        if (this.targetBaud !== SIGN_ON_BAUD) actions.push({ kind: 'setBaud', baud: this.targetBaud });
        this.stateNow = 'reading';
        actions.push({ kind: 'startTimer', ms: this.responseTimeoutMs });
        break;
      case 'reading':
        if (this.messageStart < 0)
          this.fail(actions, 'DEVICE_TIMEOUT', 'no data message after the identification');
        else this.fail(actions, 'FRAME_TRUNCATED', 'the meter stopped inside the data message');
        break;
      default:
        break;
    }
    return actions;
  }

  private identify(actions: SessionAction[]): void {
    for (;;) {
      const slash = this.buf.indexOf(SLASH);
      if (slash < 0) {
        this.buf = EMPTY;
        return;
      }
      this.buf = this.buf.subarray(slash);
      const end = indexOfCrLf(this.buf);
      if (end < 0) {
        if (this.buf.length > MAX_IDENTIFICATION_BYTES) {
          this.fail(actions, 'FRAME_TOO_LONG', `no CR LF within ${MAX_IDENTIFICATION_BYTES} bytes of "/"`);
        }
        return;
      }
      const line = this.buf.subarray(0, end + 2);
      this.buf = this.buf.subarray(end + 2);
      if (line[1] === QUESTION) continue; // the echo of our own request
      try {
        this.identified(parseIdentification(line), actions);
      } catch (error) {
        this.failWith(actions, error);
      }
      return;
    }
  }

  private identified(id: Identification, actions: SessionAction[]): void {
    this.identification = id;
    if (id.mode === 'C') {
      const offered = Math.min(id.baud ?? SIGN_ON_BAUD, this.maxBaud);
      this.targetBaud = MODE_C_BAUDS.find((b) => b <= offered) ?? SIGN_ON_BAUD;
      const option = optionSelectMessage(this.targetBaud);
      const reaction = id.fastReaction ? REACTION_MIN_FAST_MS : REACTION_MIN_MS;
      const delay =
        this.opts.baudSwitchDelayMs ?? Math.round(transmitMs(option.length, SIGN_ON_BAUD) + reaction / 2);
      actions.push({ kind: 'write', bytes: option }, { kind: 'startTimer', ms: delay });
      this.stateNow = 'switching';
    } else {
      if (id.baud === undefined) {
        throw new GatewayError('FRAME_MALFORMED', `reserved baud rate character "${id.baudChar}"`);
      }
      // Mode B: the meter changes to the announced rate on its own; mode A stays at 300.
      this.targetBaud = id.baud;
      if (id.baud !== SIGN_ON_BAUD) actions.push({ kind: 'setBaud', baud: id.baud });
      actions.push({ kind: 'startTimer', ms: this.responseTimeoutMs });
      this.stateNow = 'reading';
    }
    this.read(actions, false);
  }

  private read(actions: SessionAction[], restartTimer: boolean): void {
    if (this.buf.length > this.maxFrameBytes) {
      this.fail(actions, 'FRAME_TOO_LONG', `readout longer than ${this.maxFrameBytes} bytes`);
      return;
    }
    const waitMore = () => {
      if (restartTimer) actions.push({ kind: 'startTimer', ms: this.responseTimeoutMs });
    };
    if (this.messageStart < 0) {
      const start = this.expectBcc ? this.buf.indexOf(STX) : skipEchoes(this.buf, 0);
      if (start < 0) return waitMore();
      this.messageStart = start;
      this.scanFrom = start;
    }
    const found = findMessageEnd(this.buf, this.messageStart, this.expectBcc, this.scanFrom);
    if ('resumeAt' in found) {
      this.scanFrom = found.resumeAt;
      return waitMore();
    }
    let content: DataContent;
    try {
      content = parseDataMessage(this.buf.subarray(this.messageStart, found.end), {
        expectBcc: this.expectBcc,
      });
    } catch (error) {
      this.failWith(actions, error);
      return;
    }
    const identification = this.identification!;
    this.stateNow = 'done';
    this.buf = EMPTY;
    actions.push({
      kind: 'done',
      frame: { identification: identification.text, ...content },
      identification,
    });
  }

  private failWith(actions: SessionAction[], error: unknown): void {
    if (!(error instanceof GatewayError)) throw error;
    this.fail(actions, error.code, error.message);
  }

  private fail(actions: SessionAction[], code: ErrorCode, reason: string): void {
    this.stateNow = 'failed';
    this.buf = EMPTY;
    actions.push({ kind: 'fail', code, reason });
  }
}
