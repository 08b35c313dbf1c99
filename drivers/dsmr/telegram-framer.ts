/**
 * Framer for DSMR P1, shaped like `@serialport/parser-*`: raw serial bytes in, one Buffer per candidate telegram
 * out (object mode), from "/" through the end of the line that starts with "!" ("!CRC CR LF", or "! CR LF" in
 * DSMR 2.2/3.0; P1 5.0.2 §6.2, P1 3.0 §5.2), exactly as received. `parseTelegram` verifies it.
 *
 * "/" and "!" appear nowhere else in a telegram (text is hex-encoded, P1 5.0.2 §6.5), so "/" always starts a
 * telegram and "!" always ends its data. A line end is LF, with or without CR before it.
 *
 * It never errors the stream: each rejected fragment is reported once through `onReject` (no bytes attached:
 * they may hold readings) and framing resumes at the next "/". The codes:
 * - FRAME_TRUNCATED: a "/" arrived inside a telegram (the meter restarted, a byte was lost, or the port opened
 *   mid-telegram and this is the next one), or the input ended inside one; a run of "/" is reported once;
 * - FRAME_TOO_LONG: no end within `maxLength` bytes; bytes up to the next "/" are dropped with it;
 * - FRAME_MALFORMED: more than "XXXX CR" between "!" and LF.
 * Bytes outside telegrams (the tail of a telegram the port opened into, an EasyMeter's trailer after "!") are
 * dropped silently and counted in `discardedBytes`. At most `maxLength` bytes are held, whatever arrives.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError, type ErrorCode } from '../../gateway/errors.ts';

export interface TelegramFramerOptions {
  /**
   * Longest telegram accepted, bytes from "/" through the final LF. The longest standard content is a 1024-char
   * text message sent as 2048 hex digits (P1 5.0.2 §6.12) next to ~1 KiB of registers. Default 8 KiB.
   */
  maxLength?: number;
  /** Called once per rejected fragment, so the driver can count rejects by code. Must not throw. */
  onReject?: (error: GatewayError) => void;
}

export const DEFAULT_MAX_TELEGRAM_LENGTH = 8 * 1024;

const SLASH = 0x2f;
const BANG = 0x21;
const LF = 0x0a;
/** Longest "CRC CR" between "!" and LF. */
const MAX_CRC_LINE = 5;

/** Raw P1 bytes in, one Buffer per candidate telegram out; rejects go to `onReject`, never to 'error'. */
export class TelegramFramer extends Transform {
  private readonly maxLength: number;
  private readonly onReject: (error: GatewayError) => void;
  private readonly buf: Buffer;
  private length = 0;
  private state: 'hunt' | 'data' | 'crc' = 'hunt';
  private crcLineLength = 0;
  private discarded = 0;
  /** The "/" in progress follows a "/" already rejected as an empty telegram. */
  private emptyReported = false;

  constructor(options: TelegramFramerOptions = {}) {
    super({ readableObjectMode: true });
    this.maxLength = Math.max(options.maxLength ?? DEFAULT_MAX_TELEGRAM_LENGTH, 16);
    this.onReject = options.onReject ?? (() => {});
    this.buf = Buffer.alloc(this.maxLength);
  }

  /** Bytes of the telegram in progress (never more than `maxLength`). */
  get bufferedLength(): number {
    return this.length;
  }

  /** Bytes dropped while looking for "/": outside telegrams, and the rest of one rejected as too long. */
  get discardedBytes(): number {
    return this.discarded;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (const byte of chunk) this.consume(byte);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.state !== 'hunt') this.reject('FRAME_TRUNCATED', 'input ended inside a telegram');
    callback();
  }

  private consume(byte: number): void {
    if (byte === SLASH) {
      if (this.state === 'hunt') this.emptyReported = false;
      else {
        // A run of "/" is one rejected fragment, not one per byte: each reject costs an Error, and a port sending
        // "/" at line rate would otherwise keep a core busy.
        const empty = this.length === 1;
        if (empty && this.emptyReported) this.discarded++;
        else this.reject('FRAME_TRUNCATED', 'telegram cut off by the start of the next one');
        this.emptyReported = empty;
      }
      this.state = 'data';
      this.length = 0;
      this.append(byte);
      return;
    }
    switch (this.state) {
      case 'hunt':
        this.discarded++;
        return;
      case 'data':
        if (!this.append(byte)) return;
        if (byte === BANG) {
          this.state = 'crc';
          this.crcLineLength = 0;
        }
        return;
      case 'crc':
        if (!this.append(byte)) return;
        if (byte === LF) {
          this.push(Buffer.from(this.buf.subarray(0, this.length)));
          this.state = 'hunt';
          this.length = 0;
        } else if (++this.crcLineLength > MAX_CRC_LINE) {
          this.reject('FRAME_MALFORMED', 'no line end within 4 CRC digits after "!"');
        }
        return;
    }
  }

  /** Adds a byte to the telegram in progress; false (and the telegram rejected) when it would not fit. */
  private append(byte: number): boolean {
    if (this.length === this.maxLength) {
      this.reject('FRAME_TOO_LONG', `telegram longer than ${this.maxLength} bytes`);
      this.discarded++;
      return false;
    }
    this.buf[this.length++] = byte;
    return true;
  }

  private reject(code: ErrorCode, message: string): void {
    this.state = 'hunt';
    this.length = 0;
    this.onReject(new GatewayError(code, message));
  }
}
