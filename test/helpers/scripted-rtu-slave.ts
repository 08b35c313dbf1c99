/**
 * A Modbus RTU meter whose every answer is scripted, on the meter's end of a pty pair: request n (counted from 1)
 * is answered after `delayMs`, cut into `pieces` written `gapMs` apart, or not at all. The registers come from a
 * register map (`readUnitRegisters`, as the emulator serves them) with the energy register equal to n, so the
 * master can tell which request an answer belongs to.
 */
import { readUnitRegisters, type ServedUnit } from '../../drivers/modbus/register-server.ts';
import type { RegisterMap } from '../../drivers/modbus/register-map.ts';
import type { SerialOutput } from '../../scripts/lib/emulate/serial-output.ts';

export interface ScriptedAnswer {
  delayMs?: number;
  pieces?: number;
  gapMs?: number;
  /** No answer at all. */
  silent?: boolean;
}

/** Modbus over Serial Line v1.02 §6.2.2: CRC-16 polynomial 0xA001 reflected, initial 0xFFFF, low byte first. */
export function modbusCrc(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export class ScriptedRtuSlave {
  /** Requests received (valid CRC, this unit), plus `firstRequest` - 1. */
  requests: number;
  /** The request numbers whose answers were written completely. */
  readonly answered: number[] = [];
  private buf = Buffer.alloc(0);
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly out: SerialOutput,
    private readonly unitId: number,
    private readonly map: RegisterMap,
    /** The energy register's OBIS code, which carries the request number. */
    private readonly energy: string,
    private readonly script: (n: number) => ScriptedAnswer,
    /** The number of the first request (a meter plugged back in can go on counting from where it was). */
    firstRequest = 1,
  ) {
    this.requests = firstRequest - 1;
    out.onData((chunk) => this.receive(chunk));
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private receive(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    // A read request is 8 bytes: unit, function, address, count, CRC.
    while (this.buf.length >= 8) {
      const request = this.buf.subarray(0, 8);
      if (modbusCrc(request.subarray(0, 6)) !== request.readUInt16LE(6)) {
        this.buf = this.buf.subarray(1);
        continue;
      }
      this.buf = this.buf.subarray(8);
      if (request[0] !== this.unitId) continue;
      this.answer(++this.requests, request);
    }
  }

  private answer(n: number, request: Buffer): void {
    const { delayMs = 0, pieces = 1, gapMs = 0, silent = false } = this.script(n);
    if (silent) return;
    const fc = request[1] as 3 | 4;
    const unit: ServedUnit = {
      unitId: this.unitId,
      map: this.map,
      values: (obis) => (obis === this.energy ? n : 0),
    };
    const words = readUnitRegisters(unit, fc, request.readUInt16BE(2), request.readUInt16BE(4));
    const body = Buffer.alloc(3 + 2 * words.length);
    body[0] = this.unitId;
    body[1] = fc;
    body[2] = 2 * words.length;
    words.forEach((w, i) => body.writeUInt16BE(w, 3 + 2 * i));
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(modbusCrc(body));
    const frame = Buffer.concat([body, crc]);
    const size = Math.ceil(frame.length / pieces);
    for (let p = 0; p < pieces; p++) {
      const piece = frame.subarray(p * size, (p + 1) * size);
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          void this.out.write(piece).then(
            () => p === pieces - 1 && this.answered.push(n),
            () => undefined,
          );
        },
        delayMs + p * gapMs,
      );
      this.timers.add(timer);
    }
  }
}
