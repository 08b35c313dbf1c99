/**
 * Where an emulated serial meter writes: one end of a socat pty pair made for it (the gateway opens the other
 * end), or a real serial device wired to the gateway. Stopping the emulator kills socat, which to the gateway is
 * an unplugged adapter (its end fails with EIO and the link disappears); starting it again plugs it back.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { openSerialPort, type LineSettings, type OpenPort } from '../../../drivers/serial/serial-link.ts';
import { sevenBitChars, withParityBit } from '../../../drivers/serial/seven-bit.ts';
import { openPtyPair, type PtyPair } from '../pty-pair.ts';

export interface SerialOutput {
  /** The path the gateway must open. */
  gatewayPath: string | undefined;
  write(bytes: Buffer): Promise<void>;
  /** Registers a handler for bytes coming back from the gateway (IEC 62056-21 requests). */
  onData(handler: (chunk: Buffer) => void): void;
  setBaudRate(baudRate: number): Promise<void>;
  close(): Promise<void>;
}

export async function openSerialOutput(
  target: { ptyDir: string } | { device: string },
  line: LineSettings,
): Promise<SerialOutput> {
  let pair: PtyPair | undefined;
  let devicePath: string;
  if ('ptyDir' in target) {
    mkdirSync(target.ptyDir, { recursive: true });
    pair = await openPtyPair(path.join(target.ptyDir, 'meter'), path.join(target.ptyDir, 'gateway'));
    devicePath = pair.meterEnd;
  } else {
    devicePath = target.device;
  }
  const port: OpenPort = await openSerialPort(devicePath, line);
  // 7-bit characters travel with their parity bit, as on the wire of a real line (drivers/serial/seven-bit.ts).
  const sevenBit = line.dataBits === 7;
  const parity = line.parity;
  const toWire = (bytes: Buffer) => (sevenBit && parity !== 'none' ? withParityBit(bytes, parity) : bytes);
  return {
    gatewayPath: pair?.gatewayEnd,
    write: (bytes) =>
      new Promise((resolve, reject) => port.stream.write(toWire(bytes), (e) => (e ? reject(e) : resolve()))),
    onData: (handler) =>
      void port.stream.on('data', (chunk: Buffer) => handler(sevenBit ? sevenBitChars(chunk) : chunk)),
    setBaudRate: (baudRate) => port.setBaudRate(baudRate),
    close: async () => {
      await port.close();
      await pair?.close();
    },
  };
}
