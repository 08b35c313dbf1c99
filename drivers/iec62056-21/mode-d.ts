/**
 * IEC 62056-21 protocol mode D (6.4): the meter pushes its readout on its own, typically every few seconds at
 * 2400 baud 7E1, as "/" XXX Z ident CR LF CR LF, data lines, "!" CR LF, without STX, ETX or BCC (the EMH eHZ
 * capture). The serial driver only listens (`drivers/serial/push-meter-driver.ts`): `ModeDFramer` cuts the byte
 * stream into telegrams, `parseReadout` verifies and parses each.
 *
 * The framer never errors the stream; every rejected stretch is reported once through `onReject`:
 * - FRAME_TRUNCATED: a new "/" before the end ("/" cannot occur inside a telegram), or input ended inside one;
 *   a run of "/" is reported once;
 * - FRAME_TOO_LONG: no end within `maxFrameBytes`; the bytes up to the next "/" go with it;
 * - FRAME_MALFORMED: bytes outside any telegram (blank lines between telegrams are not counted).
 * At most `maxFrameBytes` stay buffered between chunks.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../../gateway/errors.ts';
import type { PushProtocol } from '../serial/push-protocol.ts';
import { parseReadout } from './data-block.ts';
import { CR, ETX, LF, MODE_D_BAUD, lineSettings } from './protocol.ts';

export interface ModeDOptions {
  /** The meter ends its telegrams with STX … ETX BCC (not mode D as the standard has it). Default false. */
  expectBcc?: boolean;
  /** Longest telegram; an eHZ sends about 150 bytes. Default 16 KiB. */
  maxFrameBytes?: number;
}

export interface ModeDFramerOptions extends ModeDOptions {
  /** Called once per rejected stretch of input. Must not throw. */
  onReject?: (error: GatewayError) => void;
}

const SLASH = 0x2f;
const BANG = 0x21;
const EMPTY = Buffer.alloc(0);

export class ModeDFramer extends Transform {
  private readonly expectBcc: boolean;
  private readonly maxFrameBytes: number;
  private readonly onReject: (error: GatewayError) => void;
  private buf: Buffer = EMPTY;
  private inFrame = false;
  private scanFrom = 0;
  private garbage = 0;
  /** After a reject, the bytes up to the next "/" belong to it and are not reported again. */
  private quiet = false;
  /** The telegram in progress follows a "/" already rejected as an empty telegram. */
  private emptyReported = false;

  constructor(options: ModeDFramerOptions = {}) {
    super({ readableObjectMode: true });
    this.expectBcc = options.expectBcc ?? false;
    this.maxFrameBytes = Math.max(options.maxFrameBytes ?? 16 * 1024, 64);
    this.onReject = options.onReject ?? (() => {});
  }

  /** Bytes held between chunks (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.process();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.inFrame) this.reject('FRAME_TRUNCATED', 'input ended inside a mode D telegram');
    else this.discard(this.buf.length);
    this.reportGarbage();
    this.buf = EMPTY;
    callback();
  }

  private process(): void {
    for (;;) {
      if (!this.inFrame && !this.hunt()) return;
      const event = this.scan();
      if (event.kind === 'end') {
        this.push(Buffer.from(this.buf.subarray(0, event.at)));
        this.buf = this.buf.subarray(event.at);
        this.inFrame = false;
        continue;
      }
      if (event.kind === 'restart') {
        // A run of "/" is one rejected stretch, not one per byte (each reject costs an Error).
        const empty = event.at === 1;
        if (!(empty && this.emptyReported))
          this.reject('FRAME_TRUNCATED', 'mode D telegram cut by a new "/"');
        this.emptyReported = empty;
        this.buf = this.buf.subarray(event.at);
        this.startFrame();
        continue;
      }
      this.scanFrom = event.at;
      if (this.buf.length > this.maxFrameBytes) {
        // Everything scanned holds no "/": it all goes with the reject.
        this.reject('FRAME_TOO_LONG', `mode D telegram longer than ${this.maxFrameBytes} bytes`);
        this.buf = this.buf.subarray(this.scanFrom);
        this.inFrame = false;
      }
      return;
    }
  }

  /** The end of the telegram, a new start, or where to resume once more bytes arrive. */
  private scan(): { kind: 'end' | 'restart' | 'wait'; at: number } {
    const buf = this.buf;
    for (let i = this.scanFrom; i < buf.length; i++) {
      const b = buf[i];
      if (b === SLASH) return { kind: 'restart', at: i };
      if (this.expectBcc && b === ETX) {
        return i + 1 < buf.length ? { kind: 'end', at: i + 2 } : { kind: 'wait', at: i };
      }
      if (!this.expectBcc && b === BANG) {
        if (i + 2 >= buf.length) return { kind: 'wait', at: i };
        if (buf[i + 1] === CR && buf[i + 2] === LF) return { kind: 'end', at: i + 3 };
      }
    }
    return { kind: 'wait', at: buf.length };
  }

  /** Drops bytes up to the next "/"; false when none has arrived yet. */
  private hunt(): boolean {
    this.emptyReported = false;
    const at = this.buf.indexOf(SLASH);
    if (at < 0) {
      this.discard(this.buf.length);
      return false;
    }
    this.discard(at);
    this.reportGarbage();
    this.startFrame();
    return true;
  }

  private startFrame(): void {
    this.inFrame = true;
    this.quiet = false;
    this.scanFrom = 1;
  }

  private reject(code: 'FRAME_TRUNCATED' | 'FRAME_TOO_LONG', message: string): void {
    this.onReject(new GatewayError(code, message));
    this.quiet = true;
  }

  private discard(count: number): void {
    if (!this.quiet) {
      for (let i = 0; i < count; i++) {
        const b = this.buf[i];
        if (b !== CR && b !== LF && b !== 0) this.garbage++;
      }
    }
    this.buf = this.buf.subarray(count);
  }

  private reportGarbage(): void {
    if (this.garbage > 0) {
      this.onReject(
        new GatewayError('FRAME_MALFORMED', `${this.garbage} bytes outside any mode D telegram discarded`),
      );
    }
    this.garbage = 0;
  }
}

/** Mode D as a push protocol for `PushMeterDriver`: 2400 baud 7E1, the framer above, `parseReadout`. */
export function modeDProtocol(options: ModeDOptions = {}): PushProtocol {
  const expectBcc = options.expectBcc ?? false;
  const maxBytes = options.maxFrameBytes ?? 16 * 1024;
  return {
    name: 'iec62056-21',
    line: lineSettings(MODE_D_BAUD),
    framer: (onReject) => new ModeDFramer({ ...options, onReject }),
    parse: (frame) => parseReadout(frame, { expectBcc, maxBytes }),
  };
}
