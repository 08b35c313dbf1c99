/**
 * The `serialport` binding for Linux and macOS, with one change: a read that returns 0 bytes (end of file) fails
 * the port instead of being retried.
 *
 * A terminal hung up under an open port (its USB adapter pulled, the pty's other end gone: socat killed) returns
 * end of file on every read, at once. The package's `unixRead` answers a 0-byte read by reading again, in a
 * recursive async call: when the hangup comes while a read is under way (not while it waits for the port to be
 * readable, which ends in an error), the gateway spins on the dead descriptor, its promise chain growing by a
 * level per read (about 13,000 a second) until the heap runs out (seen: 390,000 promises, 38 MB, the gateway dead
 * of "JavaScript heap out of memory" in the real-meters e2e under load), and the link never learns that the port
 * is gone. Here that read fails with EIO like a vanished device, the stream closes and `SerialLink` reopens the
 * port with back-off (counted as `serial.lost.SERIAL_PORT_FAILED`).
 * Upstream: serialport/bindings-cpp issue #162 (open; the fix, PR #164, was closed unmerged), the same crash
 * after a USB adapter was unplugged.
 *
 * The read loop is otherwise the package's: EAGAIN waits for the poller's "readable" (in a loop, not recursion).
 * With VMIN=1 (the package's default, never changed by the gateway) a raw terminal returns 0 only at end of file.
 */
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { autoDetect, BindingsError, type AutoDetectTypes } from '@serialport/bindings-cpp';
import type { SerialPortOpenOptions } from 'serialport';

const readAsync = promisify(read);

/** The part of the Linux and macOS port bindings that the read loop uses. */
interface UnixPort {
  isOpen: boolean;
  fd: number | null;
  poller: { once(event: 'readable', callback: (error?: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number; buffer: Buffer }>;
}

const RETRY = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);

/** The error of a read that found the line hung up. */
export function hangupError(): Error {
  return Object.assign(
    new Error('the line hung up (end of file): the adapter was unplugged or the other end closed'),
    { code: 'EIO', disconnect: true },
  );
}

/** Reads until at least one byte arrives; fails at end of file, like a device that is gone. */
export async function readUntilHangup(
  port: UnixPort,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ bytesRead: number; buffer: Buffer }> {
  for (;;) {
    if (!port.isOpen || port.fd === null) throw new BindingsError('Port is not open', { canceled: true });
    let bytesRead: number;
    try {
      ({ bytesRead } = await readAsync(port.fd, buffer, offset, length, null));
    } catch (error) {
      if (!RETRY.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      if (!port.isOpen) throw new BindingsError('Port is not open', { canceled: true });
      await new Promise<void>((resolve, reject) =>
        port.poller.once('readable', (e) => (e ? reject(e) : resolve())),
      );
      continue;
    }
    if (bytesRead === 0) throw hangupError();
    return { bytesRead, buffer };
  }
}

/** The detected binding, its Linux and macOS ports reading with `readUntilHangup` (Windows: unchanged). */
export function hangupAwareBinding(base: AutoDetectTypes = autoDetect()): AutoDetectTypes {
  if (process.platform === 'win32') return base;
  const open = base.open.bind(base) as (options: unknown) => Promise<unknown>;
  return {
    list: () => base.list(),
    open: async (options: unknown) => {
      const port = (await open(options)) as UnixPort;
      port.read = (buffer, offset, length) => readUntilHangup(port, buffer, offset, length);
      return port;
    },
  } as unknown as AutoDetectTypes;
}

let detected: AutoDetectTypes | undefined;

/**
 * Options for `new SerialPort(...)` with the hangup-aware binding (the constructor takes `binding`, its default
 * being the detected one; its option type leaves the field out).
 */
export function serialPortOptions<T extends object>(options: T): SerialPortOpenOptions<AutoDetectTypes> {
  detected ??= hangupAwareBinding();
  return { ...options, binding: detected } as unknown as SerialPortOpenOptions<AutoDetectTypes>;
}
