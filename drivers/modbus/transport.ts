/**
 * The Modbus transport edge (STYLE.md §2): the poller talks to this small interface, the real one wraps
 * modbus-serial's client (one TCP connection per host:port, or one RTU serial port per bus). Errors are turned into
 * GatewayErrors here: MODBUS_EXCEPTION (the device answered with an exception), DEVICE_TIMEOUT (no answer, or the
 * host cannot be reached), FRAME_MALFORMED (a corrupt answer), SERIAL_PORT_FAILED (the port cannot be opened).
 */
import modbusSerial from 'modbus-serial';
import { GatewayError, isGatewayError } from '../../gateway/errors.ts';
import { serialOpenError } from '../serial/serial-errors.ts';
import { RtuPort } from './rtu-port.ts';

export type ModbusEndpoint =
  | { kind: 'tcp'; host: string; port: number }
  | {
      kind: 'rtu';
      /** Serial device, e.g. /dev/serial/by-id/usb-...; every device on the bus shares it. */
      path: string;
      /** Default 9600. */
      baudRate?: number;
      /** Default 'none'. */
      parity?: 'none' | 'even' | 'odd';
      /** Default 8. */
      dataBits?: 7 | 8;
      /** Default 1. */
      stopBits?: 1 | 2;
    };

export interface ModbusTransport {
  readonly isOpen: boolean;
  /** Opens the connection or port (again, after a failure); rejects with a GatewayError. */
  connect(): Promise<void>;
  /** Unit id (slave address) of the following requests. */
  setID(unitId: number): void;
  /** Milliseconds to wait for each answer. */
  setTimeout(ms: number): void;
  readInputRegisters(address: number, length: number): Promise<{ data: number[] }>;
  readHoldingRegisters(address: number, length: number): Promise<{ data: number[] }>;
  /**
   * Before each request: when the last one got no answer, waits until its late answer can no longer be taken for
   * the next one (RTU: a quiet line, `rtu-port.ts`). Bounded by a few time-outs; optional.
   */
  settle?(): Promise<void>;
  close(): Promise<void>;
}

export type TransportFactory = (endpoint: ModbusEndpoint) => ModbusTransport;

/** One key per physical connection: devices with the same key share a transport and take turns. */
export function endpointKey(e: ModbusEndpoint): string {
  return e.kind === 'tcp' ? `tcp://${e.host}:${e.port}` : `rtu:${e.path}`;
}

/** Modbus Application Protocol v1.1b3 §7. */
const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export class ModbusExceptionError extends GatewayError {
  constructor(
    readonly exceptionCode: number,
    context: string,
  ) {
    super(
      'MODBUS_EXCEPTION',
      `${context}: exception ${exceptionCode} (${EXCEPTIONS[exceptionCode] ?? 'unknown'})`,
    );
  }
}

/** The GatewayError for anything a transport or modbus-serial rejects with. */
export function toModbusError(error: unknown, context: string): GatewayError {
  if (isGatewayError(error)) return error;
  const e = (error ?? {}) as { modbusCode?: unknown; errno?: unknown; message?: unknown };
  if (typeof e.modbusCode === 'number') return new ModbusExceptionError(e.modbusCode, context);
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (e.errno === 'ETIMEDOUT' || message === 'Timed out') {
    return new GatewayError('DEVICE_TIMEOUT', `${context}: no answer`, { cause: error });
  }
  if (/crc|data length|unexpected data/i.test(message)) {
    return new GatewayError('FRAME_MALFORMED', `${context}: corrupt answer (${message})`, { cause: error });
  }
  return new GatewayError('DEVICE_TIMEOUT', `${context}: not reachable (${message})`, { cause: error });
}

// modbus-serial is CommonJS with `module.exports.default = module.exports`: under NodeNext the default import is
// the module object, whose `default` is the client class at run time and in the typings alike.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

/** The real transport: modbus-serial's client. */
export const modbusSerialTransport: TransportFactory = (endpoint) => new ModbusSerialTransport(endpoint);

class ModbusSerialTransport implements ModbusTransport {
  private client: ModbusRTU | undefined;
  private rtu: RtuPort | undefined;
  private timeoutMs = 1000;
  /** The time-out of the last request when it got no answer: its answer may still come (kept across a reconnect). */
  private unansweredMs: number | undefined;

  constructor(private readonly endpoint: ModbusEndpoint) {}

  get isOpen(): boolean {
    return this.client?.isOpen === true;
  }

  async connect(): Promise<void> {
    await this.close();
    // A fresh client per connection: modbus-serial's port objects are not reusable after a close or failure.
    const e = this.endpoint;
    const rtu =
      e.kind === 'rtu'
        ? new RtuPort(e.path, {
            baudRate: e.baudRate ?? 9600,
            parity: e.parity ?? 'none',
            dataBits: e.dataBits ?? 8,
            stopBits: e.stopBits ?? 1,
          })
        : undefined;
    const client = rtu ? new ModbusRTU(rtu) : new ModbusRTU();
    // Port errors are re-emitted as 'error' events, which would crash the process unhandled; the request in
    // flight fails on its own (timeout or port not open).
    client.on('error', () => undefined);
    client.setTimeout(this.timeoutMs);
    this.client = client;
    this.rtu = rtu;
    try {
      if (e.kind === 'tcp') await client.connectTCP(e.host, { port: e.port });
      else
        await new Promise<void>((resolve, reject) =>
          client.open((error?: Error) => (error ? reject(error) : resolve())),
        );
    } catch (error) {
      // Close this attempt's client only: a newer connect may already have replaced it.
      if (this.client === client) this.client = this.rtu = undefined;
      await new Promise<void>((resolve) => (client.isOpen ? client.close(() => resolve()) : resolve()));
      const where = endpointKey(e);
      if (e.kind === 'rtu') throw serialOpenError(e.path, error);
      throw toModbusError(error, where);
    }
  }

  setID(unitId: number): void {
    this.client?.setID(unitId);
  }

  setTimeout(ms: number): void {
    this.timeoutMs = ms;
    this.client?.setTimeout(ms);
  }

  readInputRegisters(address: number, length: number): Promise<{ data: number[] }> {
    return this.request((c) => c.readInputRegisters(address, length));
  }

  readHoldingRegisters(address: number, length: number): Promise<{ data: number[] }> {
    return this.request((c) => c.readHoldingRegisters(address, length));
  }

  async settle(): Promise<void> {
    if (this.unansweredMs !== undefined) await this.rtu?.settle(this.unansweredMs);
    this.unansweredMs = undefined;
  }

  private async request(read: (c: ModbusRTU) => Promise<{ data: number[] }>): Promise<{ data: number[] }> {
    const client = this.client;
    if (!client) throw this.notConnected();
    this.unansweredMs = this.timeoutMs;
    try {
      const answer = await read(client);
      this.unansweredMs = undefined;
      return answer;
    } catch (error) {
      // An exception or a corrupt answer is an answer; a timeout leaves the request's answer to come.
      if (toModbusError(error, '').code === 'DEVICE_TIMEOUT') this.rtu?.expire();
      else this.unansweredMs = undefined;
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = this.rtu = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      // modbus-serial does not call back when the port was never open; do not wait for it then.
      const timer = setTimeout(resolve, 500);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        if (this.endpoint.kind === 'tcp') client.destroy(done);
        else client.close(done);
      } catch {
        done();
      }
    });
  }

  private notConnected(): GatewayError {
    return new GatewayError('DEVICE_TIMEOUT', `${endpointKey(this.endpoint)}: not connected`);
  }
}
