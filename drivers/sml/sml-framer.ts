/**
 * Framer for SML transport protocol version 1 (BSI TR-03109-1 Anlage IV, "SML – Smart Message Language" 1.04;
 * details in `sml-transport.ts`), shaped like `@serialport/parser-*`: raw serial bytes in, one Buffer per
 * complete, CRC-verified file out (object mode), still escaped and padded exactly as received, from
 * `1b1b1b1b 01010101` through the CRC; `parseSmlFrame` takes it from there.
 *
 * It never errors the stream: every rejected stretch of input is reported once through `onReject` and skipped,
 * and framing resumes at the next start sequence. The codes:
 * - FRAME_CHECKSUM: the transport CRC does not match;
 * - FRAME_MALFORMED: bytes outside any frame (reported when the next start arrives or at the end of input),
 *   an unknown escape sequence, a bad length or padding;
 * - FRAME_TRUNCATED: a new start before the end, or the input ended inside a frame; a run of starts is reported
 *   once;
 * - FRAME_TOO_LONG: no end within `maxFrameBytes`; the bytes up to the next start are dropped with it.
 *
 * At most `maxFrameBytes` stay buffered between chunks, whatever arrives.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../../gateway/errors.ts';
import { START, checkTrailer, nextEscape } from './sml-transport.ts';

export interface SmlFramerOptions {
  /** Longest file accepted, escapes and padding included; eHZ files are a few hundred bytes. Default 16 KiB. */
  maxFrameBytes?: number;
  /** Called once per rejected stretch of input, so the driver can count rejects by code. Must not throw. */
  onReject?: (error: GatewayError) => void;
}

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024;

export class SmlFramer extends Transform {
  private readonly maxFrameBytes: number;
  private readonly onReject: (error: GatewayError) => void;
  private buf: Buffer = Buffer.alloc(0);
  /** Inside a frame (buf starts with START) or hunting for the next start. */
  private inFrame = false;
  /** Where the escape scan of the current frame resumes. */
  private scanFrom = 0;
  /** Bytes discarded while hunting that belong to no reported reject yet. */
  private garbage = 0;
  /** After a reject, the bytes up to the next start belong to it and are not reported again. */
  private quiet = false;
  /** The file in progress follows a start sequence already rejected as an empty file. */
  private emptyReported = false;

  constructor(options: SmlFramerOptions = {}) {
    super({ readableObjectMode: true });
    this.maxFrameBytes = Math.max(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 16);
    this.onReject = options.onReject ?? (() => {});
  }

  /** Bytes held between chunks (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.process();
    // Keep a copy of the rest, not a view that would pin the whole chunk (and see a caller reuse it).
    if (this.buf.buffer === chunk.buffer) this.buf = Buffer.from(this.buf);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.inFrame) {
      this.reject('FRAME_TRUNCATED', 'input ended inside an SML file');
    } else {
      this.discard(this.buf.length);
      this.reportGarbage();
    }
    this.buf = Buffer.alloc(0);
    callback();
  }

  private process(): void {
    for (;;) {
      if (!this.inFrame && !this.hunt()) return;
      const event = nextEscape(this.buf, this.scanFrom);
      switch (event.kind) {
        case 'data':
          this.scanFrom = event.at + 8;
          continue;
        case 'start': {
          // A run of start sequences is one rejected stretch, not one per sequence (each reject costs an Error).
          const empty = event.at === START.length;
          if (!(empty && this.emptyReported))
            this.reject('FRAME_TRUNCATED', 'SML file cut by a new start sequence');
          this.emptyReported = empty;
          this.buf = this.buf.subarray(event.at);
          this.startFrame();
          continue;
        }
        case 'end':
          this.endFrame(event.at + 8);
          continue;
        case 'invalid':
          this.reject('FRAME_MALFORMED', 'unknown SML escape sequence');
          this.buf = this.buf.subarray(event.at + 4);
          this.inFrame = false;
          continue;
        case 'incomplete':
          this.scanFrom = event.at;
          break;
        case 'none':
          this.scanFrom = event.resumeAt;
          break;
      }
      if (this.buf.length > this.maxFrameBytes) {
        this.reject('FRAME_TOO_LONG', `SML file longer than ${this.maxFrameBytes} bytes`);
        // Everything before scanFrom has been scanned and holds no start sequence.
        this.buf = this.buf.subarray(this.scanFrom);
        this.inFrame = false;
      }
      return;
    }
  }

  /** Drops bytes up to the next start sequence; false when none has arrived yet. */
  private hunt(): boolean {
    this.emptyReported = false;
    const at = this.buf.indexOf(START);
    if (at < 0) {
      // Keep what may be the beginning of a start sequence.
      this.discard(Math.max(0, this.buf.length - (START.length - 1)));
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
    this.scanFrom = START.length;
  }

  private endFrame(end: number): void {
    const file = this.buf.subarray(0, end);
    this.inFrame = false;
    if (end > this.maxFrameBytes) {
      this.reject('FRAME_TOO_LONG', `SML file longer than ${this.maxFrameBytes} bytes`);
      this.buf = this.buf.subarray(end);
      return;
    }
    try {
      checkTrailer(file);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      this.onReject(error);
      this.quiet = true;
      // A frame cut inside its end sequence may be followed at once by the next start: look again after 0x1a.
      this.buf = this.buf.subarray(end - 3);
      return;
    }
    this.buf = this.buf.subarray(end);
    this.push(Buffer.from(file));
  }

  private reject(code: 'FRAME_TRUNCATED' | 'FRAME_MALFORMED' | 'FRAME_TOO_LONG', message: string): void {
    this.onReject(new GatewayError(code, message));
    this.quiet = true;
  }

  private discard(count: number): void {
    if (count <= 0) return;
    if (!this.quiet) this.garbage += count;
    this.buf = this.buf.subarray(count);
  }

  private reportGarbage(): void {
    if (this.garbage > 0) {
      this.onReject(
        new GatewayError('FRAME_MALFORMED', `${this.garbage} bytes outside any SML file discarded`),
      );
    }
    this.garbage = 0;
  }
}
