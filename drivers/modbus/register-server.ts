/**
 * The meter emulator's Modbus side: serves the registers of one or more unit ids, each from a register map and a
 * values provider, over Modbus TCP (modbus-serial's ServerTCP) or RTU on a serial path (ServerSerial). It answers
 * like a meter: registers between the first and last mapped address are served (unmapped ones read 0), anything
 * else is exception 02; a read longer than the map's maxReadWords is exception 03 (as the SDM630 does past 80);
 * a provider that throws gives exception 04. A unit id nobody serves gets no answer, like an absent RTU device, or
 * exception 0B (what a TCP gateway sends) with unknownUnit 'exception'. A unit given a `serial` serves it in the
 * map's serial-number registers (identity.ts); without one, those registers are exception 02, as on a meter whose
 * firmware has none.
 */
import { ServerSerial, ServerTCP, type FCallbackVal, type IServiceVector } from 'modbus-serial';
import { encodeValue, type ValuesProvider } from './encode.ts';
import { encodeIdentity } from './identity.ts';
import type { RegisterMap } from './register-map.ts';

export interface ServedUnit {
  unitId: number;
  map: RegisterMap;
  values: ValuesProvider;
  /** The serial it reports in the map's identity registers, asked at each read (a test swaps the meter). */
  serial?: () => string | undefined;
}

export type ServerEndpoint =
  /** `port` must be a real port: modbus-serial's ServerTCP takes 0 to mean 502. */
  | { kind: 'tcp'; host?: string; port: number }
  | { kind: 'rtu'; path: string; baudRate?: number; parity?: 'none' | 'even' | 'odd' };

export interface RegisterServerOptions {
  endpoint: ServerEndpoint;
  units: readonly ServedUnit[];
  /** How a request to a unit id that is not served is answered; default 'silent'. */
  unknownUnit?: 'silent' | 'exception';
}

/** What modbus-serial's server turns into an exception response (it reads `modbusErrorCode`). */
export class ModbusServerException extends Error {
  constructor(readonly modbusErrorCode: number) {
    super(`Modbus exception ${modbusErrorCode}`);
  }
}

/** Registers [address, address + length) of a unit for a read with `functionCode`; throws ModbusServerException. */
export function readUnitRegisters(
  unit: ServedUnit,
  functionCode: 3 | 4,
  address: number,
  length: number,
): number[] {
  const { map } = unit;
  if (length < 1 || length > map.maxReadWords) throw new ModbusServerException(3);
  const id = map.identity;
  if (
    id &&
    functionCode === id.functionCode &&
    address >= id.address &&
    address + length <= id.address + id.words
  ) {
    const serial = unit.serial?.();
    if (serial === undefined) throw new ModbusServerException(2);
    let words: number[];
    try {
      words = encodeIdentity(id, serial);
    } catch {
      throw new ModbusServerException(4);
    }
    return words.slice(address - id.address, address - id.address + length);
  }
  const first = map.registers[0]!.address;
  const end = Math.max(...map.registers.map((r) => r.address + r.words));
  if (functionCode !== map.functionCode || address < first || address + length > end) {
    throw new ModbusServerException(2);
  }
  const words = new Array<number>(length).fill(0);
  for (const reg of map.registers) {
    if (reg.address + reg.words <= address || reg.address >= address + length) continue;
    let encoded: number[];
    try {
      const value = unit.values(reg.obis);
      if (value === undefined) continue;
      encoded = encodeValue(reg, value);
    } catch {
      throw new ModbusServerException(4);
    }
    encoded.forEach((w, i) => {
      const at = reg.address + i - address;
      if (at >= 0 && at < length) words[at] = w;
    });
  }
  return words;
}

export class RegisterServer {
  /** Requests received per unit id (answered or not). */
  readonly requests = new Map<number, number>();
  private server: ServerTCP | ServerSerial | undefined;

  constructor(private readonly opts: RegisterServerOptions) {}

  async start(): Promise<void> {
    const units = new Map(this.opts.units.map((u) => [u.unitId, u]));
    // Callback-style handlers (arity 3 and 4): modbus-serial then waits for the callback, so not calling it is how
    // a unit stays silent.
    const handler =
      (fc: 3 | 4) =>
      (address: number, length: number, unitId: number, cb: FCallbackVal<number[]>): void => {
        this.requests.set(unitId, (this.requests.get(unitId) ?? 0) + 1);
        const unit = units.get(unitId);
        if (!unit) {
          if (this.opts.unknownUnit === 'exception') cb(new ModbusServerException(11), []);
          return;
        }
        try {
          cb(null, readUnitRegisters(unit, fc, address, length));
        } catch (error) {
          cb(error instanceof Error ? error : new ModbusServerException(4), []);
        }
      };
    const single =
      (fc: 3 | 4) =>
      (address: number, unitId: number, cb: FCallbackVal<number>): void =>
        handler(fc)(address, 1, unitId, (err, words) => cb(err, words[0] ?? 0));
    const vector: IServiceVector = {
      getInputRegister: single(4),
      getHoldingRegister: single(3),
      getMultipleInputRegisters: handler(4),
      getMultipleHoldingRegisters: handler(3),
    };
    const e = this.opts.endpoint;
    await new Promise<void>((resolve, reject) => {
      if (e.kind === 'tcp') {
        const server = new ServerTCP(vector, { host: e.host ?? '127.0.0.1', port: e.port, unitID: 255 });
        this.server = server;
        server.on('initialized', () => resolve());
        server.on('serverError', (err) => reject(err ?? new Error('server error')));
      } else {
        const server = new ServerSerial(vector, {
          path: e.path,
          baudRate: e.baudRate ?? 9600,
          parity: e.parity ?? 'none',
          unitID: 255,
          openCallback: (err) => (err ? reject(err) : undefined),
        });
        this.server = server;
        server.on('initialized', () => resolve());
      }
      // A response that cannot be written (client gone) is emitted as 'error': not fatal for an emulator.
      this.server.on('error', () => undefined);
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
