/**
 * Applying a new configuration to the running gateway without a restart (remote configuration, issue #6): the
 * meters and how they are read, k, the upload schedule, the log levels and the households' retention. The
 * drivers are stopped (what they had read is committed), the intake, aggregator and customer service take the
 * new settings, and the drivers of the new configuration are started; if one cannot start, the previous
 * settings and drivers are restored and the error is passed on. Buffered data is never touched: the buffer,
 * the encryption engine and the upstream connection stay as they are.
 */
import { existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { Config, MeterConfig } from '../config/schema.ts';
import type { PackingLayout } from '../encrypt/packing.ts';
import { errorCode, GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import { checkBrokers } from './broker-check.ts';
import type { ConfigTarget } from './operator-service.ts';
import type { DeviceView } from './privacy-floor.ts';

/** What the gateway lets a new configuration change. */
export interface LiveParts {
  /** The layout of the running gateway, and the one a configuration would have. */
  layout: PackingLayout;
  layoutOf(config: Readonly<Config>): PackingLayout;
  /** Hands the new settings to the intake, the aggregator and the customer service. */
  settle(config: Readonly<Config>): void;
  stopDrivers(): Promise<void>;
  /** Builds and starts the drivers of `config`; if one fails, stops those started and throws. */
  startDrivers(config: Readonly<Config>): Promise<void>;
  /** The upload schedule and the log levels (the default and per component), when they change. */
  reschedule(cron: string): void;
  setLogLevel(levels: Pick<Config['gateway'], 'logLevel' | 'logLevels'>): void;
  /** What the gateway has bound (its device store), for the membership rules. */
  devices?: DeviceView;
  /** Retires meter and neighbourhood ids in the device store. */
  retire?(meters: readonly MeterConfig[], neighbourhoods: readonly string[]): void;
  /** Records the meter ids a command added in the device store. */
  commanded?(meters: readonly MeterConfig[]): void;
}

export class LiveConfig implements ConfigTarget {
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private current: Readonly<Config>,
    private readonly parts: LiveParts,
    private readonly log: Logger,
  ) {}

  running(): Readonly<Config> {
    return this.current;
  }

  /** One change at a time: a remote command and a SIGHUP reload each start from what the other left. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.turn.then(work);
    this.turn = run.catch(() => undefined);
    return run;
  }

  devices(): DeviceView | undefined {
    return this.parts.devices;
  }

  /**
   * The meters a command adds, recorded as added by a command before its file is written (so a crash between the
   * write and the apply cannot start them as local meters; recording more than is applied only adds a hold).
   */
  recordAdded(running: Readonly<Config>, next: Readonly<Config>): void {
    const before = new Set(running.meters.map((m) => m.id));
    this.parts.commanded?.(next.meters.filter((m) => !before.has(m.id)));
  }

  /** The meters and neighbourhoods `next` no longer has are retired (issue #14: ids are never reused). */
  retireRemoved(running: Readonly<Config>, next: Readonly<Config>): void {
    const meters = new Set(next.meters.map((m) => m.id));
    const nbs = new Set(next.neighbourhoods.map((n) => n.id));
    this.parts.retire?.(
      running.meters.filter((m) => !meters.has(m.id)),
      running.neighbourhoods.filter((n) => !nbs.has(n.id)).map((n) => n.id),
    );
  }

  /**
   * What must hold before a new configuration is written: brokers it changes accept the gateway and, for a change
   * applied live, its new serial devices exist and its packing layout is the running one.
   */
  async preflight(next: Readonly<Config>, live: boolean): Promise<void> {
    // Sizes the layout and the noise of the new configuration: one the gateway could not start with (a budget it
    // cannot honour, a release field that does not fit the key) is refused now, not written for the next start.
    this.parts.layoutOf(next);
    if (live) {
      this.checkLayout(next);
      checkNewPorts(this.current, next);
    }
    await checkBrokers(this.current, next);
  }

  async apply(next: Readonly<Config>): Promise<void> {
    const previous = this.current;
    await this.parts.stopDrivers();
    this.parts.settle(next);
    try {
      await this.parts.startDrivers(next);
    } catch (error) {
      this.log.error({ code: errorCode(error) }, 'new drivers failed to start: restoring the previous ones');
      this.parts.settle(previous);
      try {
        await this.parts.startDrivers(previous);
      } catch (again) {
        this.log.error({ code: errorCode(again) }, 'the previous drivers failed to start again');
        throw new GatewayError(
          'DRIVER_FAILED',
          `${(error as Error).message}; and the previous drivers did not start again either ` +
            `([${errorCode(again)}] ${(again as Error).message}): no meter is read until the gateway restarts`,
          { cause: error },
        );
      }
      throw error;
    }
    this.current = next;
    if (next.upstream.schedule !== previous.upstream.schedule) this.parts.reschedule(next.upstream.schedule);
    const levels = (c: Readonly<Config>) => [c.gateway.logLevel, c.gateway.logLevels];
    if (!isDeepStrictEqual(levels(next), levels(previous))) this.parts.setLogLevel(next.gateway);
  }

  /** Buffered ciphertexts are packed in the running layout: a configuration that changes it cannot go live. */
  private checkLayout(next: Readonly<Config>): void {
    const now = this.parts.layout;
    const then = this.parts.layoutOf(next);
    if (then.slotBits !== now.slotBits || then.slots.join() !== now.slots.join()) {
      throw new GatewayError(
        'PACKING_OVERFLOW',
        `the new configuration needs ${then.slotBits}-bit slots (now ${now.slotBits}): more meters on one ` +
          'billing account than the running layout allows; raise encryption.maxMetersPerNeighbourhood locally ' +
          'and restart once the buffer is empty',
      );
    }
  }
}

/** Serial devices the new configuration names and the running one does not must exist now. */
function checkNewPorts(running: Readonly<Config>, next: Readonly<Config>): void {
  const before = new Set(serialPaths(running));
  for (const p of serialPaths(next)) {
    if (!before.has(p) && !existsSync(p)) {
      throw new GatewayError('SERIAL_PORT_FAILED', `serial port ${p} does not exist on this gateway`);
    }
  }
}

function serialPaths(c: Readonly<Config>): string[] {
  const serial = Object.values(c.drivers.serial ?? {}).map((p) => p.path);
  const buses = Object.values(c.drivers.modbus?.buses ?? {}).flatMap((b) =>
    b.transport === 'rtu' ? [b.path] : [],
  );
  return [...serial, ...buses];
}
