/**
 * A scripted ModbusTransport for the cases a real server cannot produce on demand (a request that never settles,
 * a connection that cannot be opened). `respond` decides each read; requests are recorded.
 */
import type { ModbusTransport } from '../../../drivers/modbus/transport.ts';

export interface FakeRequest {
  unitId: number;
  functionCode: 3 | 4;
  address: number;
  length: number;
}

export class FakeTransport implements ModbusTransport {
  isOpen = false;
  readonly requests: FakeRequest[] = [];
  connects = 0;
  closes = 0;
  private unitId = 0;

  constructor(
    private readonly respond: (req: FakeRequest) => Promise<number[]>,
    private readonly connectResult: () => Promise<void> = () => Promise.resolve(),
  ) {}

  async connect(): Promise<void> {
    this.connects++;
    await this.connectResult();
    this.isOpen = true;
  }

  setID(unitId: number): void {
    this.unitId = unitId;
  }

  setTimeout(): void {}

  readInputRegisters(address: number, length: number): Promise<{ data: number[] }> {
    return this.read(4, address, length);
  }

  readHoldingRegisters(address: number, length: number): Promise<{ data: number[] }> {
    return this.read(3, address, length);
  }

  close(): Promise<void> {
    this.closes++;
    this.isOpen = false;
    return Promise.resolve();
  }

  private async read(functionCode: 3 | 4, address: number, length: number): Promise<{ data: number[] }> {
    const req = { unitId: this.unitId, functionCode, address, length };
    this.requests.push(req);
    return { data: await this.respond(req) };
  }
}
