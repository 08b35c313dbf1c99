/**
 * The serial port of a Modbus RTU bus, given to modbus-serial's client (its constructor takes any port that opens,
 * closes, writes and emits each whole answer as 'data'), in place of modbus-serial's own buffered port, which
 * takes any bytes of the right unit, function and length for the answer to the request in flight.
 *
 * RTU answers carry no transaction id (Modbus over Serial Line v1.02 §2.4.1: the master waits out the response
 * time-out, then goes on), so a meter that answers after the time-out would otherwise have its answer taken for
 * the next request, and every answer after it shifted by one. This port keeps them apart:
 * - bytes that arrive while no request is in flight are dropped, and so are those held when a request is
 *   written: none of them can answer it;
 * - after a request that got no answer in time, the transport `settle`s before the next one: it is held back
 *   until the line has been quiet for the time-out (at most three times that, for a line that never goes quiet),
 *   and what arrives meanwhile is dropped. A late answer thus goes nowhere; one later than twice the time-out
 *   after its request could still be misread, which a slower meter needs a longer `timeoutMs` against.
 * At most 256 bytes (the longest RTU frame) are held.
 */
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { serialPortOptions } from '../serial/hangup-aware-binding.ts';

export interface RtuLine {
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
}

const MAX_FRAME = 256;
const EXCEPTION_LENGTH = 5;

export class RtuPort extends EventEmitter {
  private readonly port: SerialPort;
  private buf = Buffer.alloc(0);
  /** The answer the request in flight expects. */
  private pending: { unit: number; fc: number; length: number } | undefined;
  private lastByteAt = 0;

  constructor(path: string, line: RtuLine) {
    super();
    this.port = new SerialPort(serialPortOptions({ path, ...line, autoOpen: false }));
    this.port.on('data', (chunk: Buffer) => this.receive(chunk));
    this.port.on('error', (error) => this.emit('error', error));
    this.port.on('close', () => this.emit('close'));
  }

  get isOpen(): boolean {
    return this.port.isOpen;
  }

  open(callback: (error: Error | null) => void): void {
    this.port.open(callback);
  }

  close(callback?: () => void): void {
    if (!this.port.isOpen) return void callback?.();
    this.port.close(() => callback?.());
  }

  /** Called by modbus-serial with each request. */
  write(request: Buffer): void {
    this.buf = Buffer.alloc(0);
    const fc = request[1]!;
    // Reads (FC 1-4) answer with a byte count; single and multiple writes (5, 6, 15, 16) echo 6 bytes.
    const count = request.length >= 6 ? request.readUInt16BE(4) : 0;
    const data = fc === 1 || fc === 2 ? Math.ceil(count / 8) : fc === 3 || fc === 4 ? 2 * count : -1;
    this.pending = { unit: request[0]!, fc, length: data < 0 ? 8 : 3 + data + 2 };
    this.port.write(request);
  }

  /** The request in flight got no answer in time: whatever still comes for it is dropped. */
  expire(): void {
    this.pending = undefined;
  }

  /** Waits until the line has been quiet for `quietMs` (at most 3 × `quietMs`), dropping what arrives. */
  async settle(quietMs: number): Promise<void> {
    this.pending = undefined;
    const giveUpAt = Date.now() + 3 * quietMs;
    this.lastByteAt = Math.max(this.lastByteAt, Date.now());
    for (;;) {
      const wait = Math.min(this.lastByteAt + quietMs, giveUpAt) - Date.now();
      if (wait <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    this.buf = Buffer.alloc(0);
  }

  private receive(chunk: Buffer): void {
    this.lastByteAt = Date.now();
    const want = this.pending;
    if (!want) return;
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.buf.length > MAX_FRAME) this.buf = this.buf.subarray(this.buf.length - MAX_FRAME);
    for (let i = 0; i + EXCEPTION_LENGTH <= this.buf.length; i++) {
      if (this.buf[i] !== want.unit) continue;
      const fc = this.buf[i + 1];
      const length = fc === want.fc ? want.length : fc === (want.fc | 0x80) ? EXCEPTION_LENGTH : 0;
      if (length === 0) continue;
      if (i + length > this.buf.length) return; // the rest is still on its way
      const answer = this.buf.subarray(i, i + length);
      this.buf = Buffer.alloc(0);
      this.pending = undefined;
      this.emit('data', answer);
      return;
    }
  }
}
