/**
 * The meter side of an IEC 62056-21 readout, for the meter emulator, as a pure state machine like the reader's
 * `ModeCSession`: fed `receive(bytes)` and `timerFired()`, it returns line actions (`write`, `setBaud`,
 * `startTimer`). It answers a request addressed to it (6.3.1) after its reaction time with its identification
 * (6.3.2), then by mode (6.4):
 * - mode C (digit baud character): waits for the option select (6.3.3); a data readout ("0" mode control) at a
 *   rate it offers is answered after the reaction time at that rate with the data message (6.3.4); anything
 *   else, or nothing within tr max, sends it back to idle;
 * - mode B (letter "A"…"F"): switches to the announced rate and sends the data message;
 * - mode A (any other character): sends the data message at 300 baud.
 * After the data message it returns to 300 baud, ready for the next request. The data message is asked for at
 * the moment it is sent (`readout`), so the emulator can serve its current register values (`writeDataBlock`).
 */
import {
  identificationMessage,
  modeCBaud,
  parseIdentification,
  parseOptionSelect,
  parseRequestMessage,
  type IdentificationFields,
} from './identification.ts';
import {
  ACK,
  REACTION_MAX_MS,
  REACTION_MIN_FAST_MS,
  REACTION_MIN_MS,
  SIGN_ON_BAUD,
  indexOfCrLf,
  transmitMs,
  type LineAction,
} from './protocol.ts';

export interface MeterResponderOptions {
  /** What the meter announces; `baudChar` is its highest rate in mode C ("5" = 9600). */
  identification: IdentificationFields;
  /** Answers requests with this address, and requests without one. Default: any address. */
  address?: string;
  /** Reaction time tr before each answer. Default 200 ms, 20 ms for a lower-case third manufacturer letter. */
  reactionMs?: number;
  /** The data message to send now (STX … ETX BCC, `writeDataBlock`). */
  readout: () => Buffer;
}

export type ResponderState = 'idle' | 'identifying' | 'awaitingOption' | 'answering' | 'sending';

const SLASH = 0x2f;
const EMPTY = Buffer.alloc(0);
/** Longest request ("/?" 32-character address "!" CR LF). */
const MAX_REQUEST_BYTES = 37;

export class MeterResponder {
  private stateNow: ResponderState = 'idle';
  private readonly ident: Buffer;
  private readonly maxBaud: number | undefined;
  private readonly mode: 'A' | 'B' | 'C';
  private readonly reactionMs: number;
  private buf: Buffer = EMPTY;
  private answerBaud = SIGN_ON_BAUD;

  /** Throws FRAME_MALFORMED when the identification cannot be sent. */
  constructor(private readonly opts: MeterResponderOptions) {
    this.ident = identificationMessage(opts.identification);
    const parsed = parseIdentification(this.ident);
    this.mode = parsed.mode;
    this.maxBaud = parsed.baud;
    this.reactionMs = opts.reactionMs ?? (parsed.fastReaction ? REACTION_MIN_FAST_MS : REACTION_MIN_MS);
  }

  get state(): ResponderState {
    return this.stateNow;
  }

  /** Bytes held between calls (a request or option select being received; at most a few dozen). */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  /** Bytes from the reader. */
  receive(bytes: Uint8Array): LineAction[] {
    if (this.stateNow !== 'idle' && this.stateNow !== 'awaitingOption') return [];
    this.buf = Buffer.concat([this.buf, bytes]);
    const actions: LineAction[] = [];
    for (let end = indexOfCrLf(this.buf); end >= 0; end = indexOfCrLf(this.buf)) {
      const line = this.buf.subarray(0, end + 2);
      this.buf = this.buf.subarray(end + 2);
      if (this.stateNow === 'idle') this.onRequest(line, actions);
      else this.onOption(line, actions);
      if (actions.length > 0) break;
    }
    // Noise never accumulates: keep no more than the longest message the meter waits for.
    if (this.buf.length > MAX_REQUEST_BYTES)
      this.buf = this.buf.subarray(this.buf.length - MAX_REQUEST_BYTES);
    return actions;
  }

  /** The timer of the last `startTimer` has expired. */
  timerFired(): LineAction[] {
    switch (this.stateNow) {
      case 'identifying':
        return this.identify();
      case 'awaitingOption':
        this.idle();
        return [];
      case 'answering': {
        const data = this.opts.readout();
        const actions: LineAction[] = [];
        if (this.answerBaud !== SIGN_ON_BAUD) actions.push({ kind: 'setBaud', baud: this.answerBaud });
        actions.push({ kind: 'write', bytes: data });
        actions.push({ kind: 'startTimer', ms: Math.ceil(transmitMs(data.length, this.answerBaud)) });
        this.stateNow = 'sending';
        return actions;
      }
      case 'sending': {
        const back = this.answerBaud !== SIGN_ON_BAUD;
        this.idle();
        return back ? [{ kind: 'setBaud', baud: SIGN_ON_BAUD }] : [];
      }
      default:
        return [];
    }
  }

  private onRequest(line: Buffer, actions: LineAction[]): void {
    const slash = line.lastIndexOf(SLASH);
    const address = slash < 0 ? undefined : parseRequestMessage(line.subarray(slash));
    if (address === undefined) return;
    const mine = this.opts.address;
    if (address !== '' && mine !== undefined && address !== mine) return;
    this.stateNow = 'identifying';
    this.buf = EMPTY;
    actions.push({ kind: 'startTimer', ms: this.reactionMs });
  }

  private identify(): LineAction[] {
    const actions: LineAction[] = [{ kind: 'write', bytes: this.ident }];
    const sendMs = Math.ceil(transmitMs(this.ident.length, SIGN_ON_BAUD));
    if (this.mode === 'C') {
      this.stateNow = 'awaitingOption';
      actions.push({ kind: 'startTimer', ms: sendMs + REACTION_MAX_MS + transmitMs(6, SIGN_ON_BAUD) });
    } else {
      this.answerBaud = this.maxBaud ?? SIGN_ON_BAUD;
      this.stateNow = 'answering';
      actions.push({ kind: 'startTimer', ms: sendMs + this.reactionMs });
    }
    return actions;
  }

  private onOption(line: Buffer, actions: LineAction[]): void {
    const ack = line.lastIndexOf(ACK);
    const option = ack < 0 ? undefined : parseOptionSelect(line.subarray(ack));
    const baud = option && modeCBaud(option.baudChar);
    if (!option || option.protocolControl !== '0' || option.modeControl !== '0' || baud === undefined) {
      return this.idle();
    }
    if (this.maxBaud === undefined || baud > this.maxBaud) return this.idle();
    this.answerBaud = baud;
    this.stateNow = 'answering';
    actions.push({ kind: 'startTimer', ms: this.reactionMs });
  }

  /** Back to idle. A timer still pending is harmless: idle ignores it, the next state starts its own. */
  private idle(): void {
    this.stateNow = 'idle';
    this.buf = EMPTY;
    this.answerBaud = SIGN_ON_BAUD;
  }
}
