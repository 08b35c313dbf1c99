/**
 * One serial port, kept open for as long as the gateway runs. Real serial lines come and go: a USB adapter is
 * unplugged and plugged back, a meter's P1 port is powered down, a technician swaps a cable. The link reopens a
 * port that disappears with exponential back-off (no restart of the gateway), reports a port that stays silent
 * past its timeout, and turns open errors into a sentence naming the fix (`serial-errors.ts`).
 *
 * The transport is injected (STYLE.md §2): `openSerialPort` below uses the `serialport` package; tests use real
 * pseudo-terminals (socat), which the same code opens.
 */
import type { Duplex } from 'node:stream';
import { SerialPort } from 'serialport';
import { GatewayError, errorCode } from '../../gateway/errors.ts';
import type { Logger } from '../../gateway/observe/log.ts';
import type { Metrics } from '../../gateway/observe/metrics.ts';
import { serialPortOptions } from './hangup-aware-binding.ts';
import { serialOpenError } from './serial-errors.ts';
import { sevenBitChars, withParityBit } from './seven-bit.ts';

export interface LineSettings {
  baudRate: number;
  dataBits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

/** The part of an open port the link uses. */
export interface OpenPort {
  stream: Duplex;
  setBaudRate(baudRate: number): Promise<void>;
  close(): Promise<void>;
}

export type PortOpener = (path: string, line: LineSettings) => Promise<OpenPort>;

/** Opens a real serial device (or pty) with the `serialport` package. */
export const openSerialPort: PortOpener = (path, line) =>
  new Promise((resolve, reject) => {
    // A hung-up port fails instead of being read again forever (`hangup-aware-binding.ts`).
    const port = new SerialPort(serialPortOptions({ path, ...line, autoOpen: false }));
    port.open((error) => {
      if (error) return reject(error);
      resolve({
        stream: port,
        setBaudRate: (baudRate) =>
          new Promise((res, rej) => port.update({ baudRate }, (e) => (e ? rej(e) : res()))),
        close: () =>
          new Promise((res) => {
            if (!port.isOpen) return res();
            port.close(() => res());
          }),
      });
    });
  });

export type LinkState = 'opening' | 'open' | 'silent' | 'closed' | 'failed';

export interface SerialLinkOptions {
  /** The port's name in the config (logs, metrics, status). */
  name: string;
  path: string;
  line: LineSettings;
  /** No byte for this long: the link reports itself silent (still open, still listening). */
  silenceMs: number;
  reopenInitialMs: number;
  reopenMaxMs: number;
}

export interface SerialLinkDeps {
  open: PortOpener;
  onData(chunk: Buffer): void;
  /** Called on every change of state, with the reason when it is a failure. */
  onState?(state: LinkState, error?: GatewayError): void;
  metrics: Metrics;
  log: Logger;
}

export class SerialLink {
  private port: OpenPort | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private stopped = false;
  private lastError: string | undefined;
  /** The settings the port is (re)opened with; changed by `changeLine`. */
  private line: LineSettings;
  state: LinkState = 'closed';

  constructor(
    private readonly opts: SerialLinkOptions,
    private readonly deps: SerialLinkDeps,
  ) {
    this.delayMs = opts.reopenInitialMs;
    this.line = opts.line;
  }

  /** Starts opening; never rejects: a port that cannot be opened now is retried in the background. */
  start(): Promise<void> {
    if (this.port || this.state === 'opening') return Promise.resolve();
    this.stopped = false;
    clearTimeout(this.retryTimer);
    return this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.close();
  }

  /** Closes the port and opens it again with other line settings (line-setting detection). */
  async changeLine(line: LineSettings): Promise<void> {
    this.line = line;
    if (this.stopped) return;
    await this.close();
    await this.open();
  }

  private async close(): Promise<void> {
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    const port = this.port;
    this.port = undefined;
    if (port) await port.close();
    this.setState('closed');
  }

  /** Writes bytes and waits until they are handed to the OS. Fails when the port is not open. */
  write(bytes: Buffer): Promise<void> {
    const port = this.port;
    if (!port) return Promise.reject(new GatewayError('SERIAL_PORT_FAILED', `${this.opts.path} is not open`));
    const { dataBits, parity } = this.line;
    const wire = dataBits === 7 && parity !== 'none' ? withParityBit(bytes, parity) : bytes;
    return new Promise((resolve, reject) => {
      port.stream.write(wire, (error) =>
        error ? reject(serialOpenError(this.opts.path, error)) : resolve(),
      );
    });
  }

  /** Changes the baud rate of the open port (IEC 62056-21 mode C switches after the sign-on). */
  async setBaudRate(baudRate: number): Promise<void> {
    if (!this.port) throw new GatewayError('SERIAL_PORT_FAILED', `${this.opts.path} is not open`);
    await this.port.setBaudRate(baudRate);
    this.line = { ...this.line, baudRate };
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.setState('opening');
    let port: OpenPort;
    try {
      port = await this.deps.open(this.opts.path, this.line);
    } catch (error) {
      this.fail(serialOpenError(this.opts.path, error));
      return;
    }
    if (this.stopped) return void port.close();
    this.port = port;
    this.delayMs = this.opts.reopenInitialMs;
    this.lastError = undefined;
    this.deps.log.info({ port: this.opts.name, path: this.opts.path, ...this.line }, 'serial port open');
    const sevenBit = this.line.dataBits === 7;
    this.setState('open');
    this.armSilence();
    port.stream.on('data', (chunk: Buffer) => {
      // Bytes a lost port still delivers must not reach the framer or session of its successor.
      if (this.port !== port) return;
      if (this.state === 'silent') {
        this.deps.log.info({ port: this.opts.name }, 'serial port receiving again');
        this.setState('open');
      }
      this.armSilence();
      this.deps.onData(sevenBit ? sevenBitChars(chunk) : chunk);
    });
    // A disconnected adapter or a closed pty ends the stream with an error (EIO) and/or a close.
    let gone = false;
    const lost = (error?: Error) => {
      if (gone || this.port !== port) return;
      gone = true;
      this.port = undefined;
      void port.close();
      this.fail(serialOpenError(this.opts.path, error ?? new Error('port closed')), 'lost');
    };
    port.stream.on('error', lost);
    port.stream.on('close', () => lost());
  }

  private fail(error: GatewayError, how: 'lost' | 'open' = 'open'): void {
    clearTimeout(this.silenceTimer);
    if (this.stopped) return;
    this.deps.metrics.inc(`serial.${how === 'lost' ? 'lost' : 'open_failed'}.${errorCode(error)}`);
    // Log a failure once, not at every retry: an unplugged adapter would otherwise flood the log.
    if (error.message !== this.lastError) {
      this.deps.log.warn(
        {
          port: this.opts.name,
          code: error.code,
          reason: error.message,
          retryInSeconds: this.delayMs / 1000,
        },
        how === 'lost'
          ? 'serial port lost; reopening with back-off'
          : 'serial port cannot be opened; retrying',
      );
      this.lastError = error.message;
    }
    this.setState('failed', error);
    this.retryTimer = setTimeout(() => void this.open(), this.delayMs);
    this.retryTimer.unref?.();
    this.delayMs = Math.min(this.opts.reopenMaxMs, this.delayMs * 2);
  }

  private armSilence(): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (this.stopped || !this.port) return;
      this.deps.metrics.inc('serial.silent');
      this.deps.log.warn(
        { port: this.opts.name, silentSeconds: this.opts.silenceMs / 1000 },
        'serial port open but silent: check the cable, the meter and the line settings',
      );
      this.setState('silent');
    }, this.opts.silenceMs);
    this.silenceTimer.unref?.();
  }

  private setState(state: LinkState, error?: GatewayError): void {
    if (state === this.state && !error) return;
    this.state = state;
    this.deps.onState?.(state, error);
  }
}
