/**
 * Cuts a Luxembourg Smarty byte stream into encrypted frames (`smarty-frame.ts`): hunts for the header
 * (DB 08 … 82 LL LL), takes exactly the announced length, and drops bytes between frames (counted). Like the
 * other framers it never throws: a frame cut short by silence is reported when the next header arrives, an
 * announced length above the limit is rejected, and at most `maxLength` bytes are ever held.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../../gateway/errors.ts';
import { SMARTY_PREFIX, SMARTY_TAG, smartyFrameLength } from './smarty-frame.ts';

export interface SmartyFramerOptions {
  /** Longest frame accepted (a Smarty telegram is about 1 KiB). Default 8 KiB. */
  maxLength?: number;
  onReject?: (error: GatewayError) => void;
}

export class SmartyFramer extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private readonly maxLength: number;
  private readonly onReject: (error: GatewayError) => void;
  /** Bytes dropped outside any frame. */
  discardedBytes = 0;

  constructor(options: SmartyFramerOptions = {}) {
    super({ readableObjectMode: true });
    this.maxLength = options.maxLength ?? 8 * 1024;
    this.onReject = options.onReject ?? (() => {});
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const start = this.buf.indexOf(SMARTY_TAG);
      if (start < 0) {
        this.discardedBytes += this.buf.length;
        this.buf = Buffer.alloc(0);
        break;
      }
      if (start > 0) {
        this.discardedBytes += start;
        this.buf = this.buf.subarray(start);
      }
      if (this.buf.length < SMARTY_PREFIX) break;
      const total = smartyFrameLength(this.buf);
      if (total === undefined) {
        // Not a header after all (0xDB inside line noise): skip this byte and hunt on.
        this.discardedBytes += 1;
        this.buf = this.buf.subarray(1);
        continue;
      }
      if (total > this.maxLength) {
        this.onReject(new GatewayError('FRAME_TOO_LONG', `Smarty frame announces ${total} bytes`));
        this.buf = this.buf.subarray(1);
        continue;
      }
      if (this.buf.length < total) break;
      this.push(Buffer.from(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.buf.length > 0)
      this.onReject(new GatewayError('FRAME_TRUNCATED', 'stream ended inside a Smarty frame'));
    this.buf = Buffer.alloc(0);
    callback();
  }
}
