/**
 * Binds each meter to its device at intake (issue #14 A): its source keys at its first reading under a
 * configuration, and the identity its driver reports (DriverContext.identify) whenever it changes. A meter whose
 * source or identity is bound to another meter, or whose bound device changed, is refused with the store's code
 * until the configuration changes (or the meter is re-homed on site); each refusal is logged once per meter and
 * counted for every reading it stops.
 *
 * A Modbus meter added by a command (not in the start configuration, never seen by the store) is held until it
 * has reported its serial (DEVICE_UNVERIFIABLE until then): a meter whose serial cannot be read is only an
 * endpoint, and an endpoint has many spellings, so it could be a bound household's meter under a second id.
 * The store records which meters a command added, so the hold outlasts a restart.
 *
 * A meter with a bound device must present it on every connection (DriverContext.unidentified): when a driver
 * reports that a connection's device did not say who it is (a Modbus serial register that answers an exception or
 * zeros), the meter's readings are refused (DEVICE_UNCONFIRMED) until the device reports its bound identity again.
 * Otherwise one faked serial would be enough for an endpoint to be trusted for life: whatever answers later on that
 * endpoint (a household's old-firmware meter behind a re-pointed host) would be read as the meter.
 */
import type { Config, MeterConfig } from '../config/schema.ts';
import type { DeviceStore } from '../buffer/device-store.ts';
import { errorCode, GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { isStorageFailure } from '../observe/storage-status.ts';
import type { Clock } from '../time/clock.ts';
import { sourceKeys, type RealPath } from './source-keys.ts';

export class MeterGuard {
  private config: Readonly<Config>;
  private meters = new Map<string, MeterConfig>();
  /** Meters whose source keys are bound under the current configuration. */
  private admitted = new Set<string>();
  /** The identity each meter last reported and the store took, so the store is asked once per change. */
  private identities = new Map<string, string>();
  /** Meters refused, with the error every reading of theirs is refused with. */
  private refused = new Map<string, Error>();
  /** The refusals already logged (the intake does not log them again). */
  private readonly logged = new WeakSet<Error>();
  /** The meters of the configuration the gateway started with: the others were added by a command. */
  private readonly started: ReadonlySet<string>;
  /** Modbus meters added by a command, read once they have reported their serial; the refusal until then. */
  private awaitingSerial = new Map<string, Error | undefined>();
  /** Meters with a bound device whose connection did not confirm it; the refusal until it does. */
  private unconfirmed = new Map<string, Error | undefined>();

  constructor(
    config: Readonly<Config>,
    private readonly store: DeviceStore,
    private readonly realpath: RealPath,
    private readonly wall: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.config = config;
    this.started = new Set(config.meters.map((m) => m.id));
    this.reset(config);
  }

  /** A new configuration: every meter is checked again at its next reading. */
  reset(config: Readonly<Config>): void {
    this.config = config;
    this.meters = new Map(config.meters.map((m) => [m.id, m]));
    this.admitted.clear();
    this.identities.clear();
    this.refused.clear();
    // Kept across a new configuration: a device that has not confirmed itself is not trusted by a command's edit.
    for (const id of this.unconfirmed.keys()) if (!this.meters.has(id)) this.unconfirmed.delete(id);
    this.awaitingSerial = new Map(
      config.meters
        .filter(
          (m) => m.source.driver === 'modbus' && this.addedByCommand(m.id) && !this.store.deviceOf(m.id),
        )
        .map((m) => [m.id, undefined]),
    );
  }

  /**
   * Added by a command: recorded as such in the store (so a restart keeps the hold), or, before the command's
   * record is written, not in the configuration the gateway started with and never seen.
   */
  private addedByCommand(meterId: string): boolean {
    return this.store.commanded(meterId) || (!this.started.has(meterId) && !this.store.meter(meterId));
  }

  /** Throws the meter's refusal, if any; binds its sources at its first reading. Called by the intake. */
  admit(meter: MeterConfig): void {
    const refusal = this.refused.get(meter.id);
    if (refusal) throw refusal;
    if (this.awaitingSerial.has(meter.id)) throw this.unverified(meter.id);
    if (this.unconfirmed.has(meter.id)) throw this.unconfirmedError(meter.id);
    if (this.admitted.has(meter.id)) return;
    try {
      this.store.bindSources(meter, sourceKeys(this.config, meter, this.realpath), this.wall.now());
      this.admitted.add(meter.id);
    } catch (error) {
      // The checks run before the writes: a full or read-only disk means the meter passed them. Its reading goes
      // on (held in memory like every other while the disk is full) and the binding is written at a later one.
      if (isStorageFailure(error)) return;
      throw this.refuse(meter.id, error);
    }
  }

  /** The identity a driver read from the device itself (DSMR equipment id, SML server id, …). Never throws. */
  readonly identify = (meterId: string, identity: string): boolean => {
    const meter = this.meters.get(meterId);
    if (!meter) return true;
    if (this.identities.get(meterId) === identity) return true;
    try {
      this.store.identify(meter, identity, this.wall.now());
      this.identities.set(meterId, identity);
      this.awaitingSerial.delete(meterId);
      this.unconfirmed.delete(meterId);
      // A device that answers right again (a swapped-back meter) is read again.
      if (this.refused.get(meterId) && errorCode(this.refused.get(meterId)) === 'DEVICE_CHANGED') {
        this.refused.delete(meterId);
      }
      return true;
    } catch (error) {
      this.identities.delete(meterId);
      // Checked, not written (disk full or read-only): written when the device next reports it. The checks
      // passed, so a bound device has confirmed itself.
      if (isStorageFailure(error)) {
        this.unconfirmed.delete(meterId);
        return true;
      }
      this.refuse(meterId, error);
      return false;
    }
  };

  /**
   * A driver reads the meter on a connection whose device did not report its identity (unreadable or blank). A
   * meter with a bound device is refused from now until that device reports it again (counted and logged once per
   * episode): true, and the driver keeps its frames out of its series. One without a bound device (never had a
   * serial, old firmware) is read as before: false. Never throws.
   */
  readonly unidentified = (meterId: string): boolean => {
    if (!this.meters.has(meterId)) return false;
    if (this.unconfirmed.has(meterId)) return true;
    let bound = true; // a store that cannot be asked: refuse rather than read an unknown device
    try {
      bound = this.store.deviceOf(meterId) !== undefined;
    } catch {
      // counted as bound
    }
    if (!bound) return false;
    // The same identity reported later must reach the store again (the early return in identify).
    this.identities.delete(meterId);
    this.unconfirmed.set(meterId, undefined);
    this.unconfirmedError(meterId);
    return true;
  };

  /** True for a refusal this guard has logged already. */
  isLogged(error: unknown): boolean {
    return error instanceof Error && this.logged.has(error);
  }

  /** The refusal of a meter added by a command that has not reported its serial yet: counted and logged once. */
  private unverified(meterId: string): Error {
    return this.hold(
      this.awaitingSerial,
      meterId,
      'DEVICE_UNVERIFIABLE',
      `meter ${meterId} was added by a command: its readings are taken once it has reported its serial`,
      'meter held: serial not read yet',
    );
  }

  /** The refusal of a bound meter whose connection did not confirm its device: counted and logged once. */
  private unconfirmedError(meterId: string): Error {
    return this.hold(
      this.unconfirmed,
      meterId,
      'DEVICE_UNCONFIRMED',
      `meter ${meterId} has a bound device, but the device on its connection did not report its serial: ` +
        'its readings are taken again once it reports the bound one',
      'meter held: its device did not confirm its serial',
    );
  }

  /** One refusal per hold episode: created, counted and logged once. */
  private hold(
    holds: Map<string, Error | undefined>,
    meterId: string,
    code: 'DEVICE_UNVERIFIABLE' | 'DEVICE_UNCONFIRMED',
    message: string,
    what: string,
  ): Error {
    const known = holds.get(meterId);
    if (known) return known;
    const err = new GatewayError(code, message);
    holds.set(meterId, err);
    this.metrics.inc(`devices.refused.${code}`);
    this.log.warn({ meter: meterId, code, reason: err.message }, what);
    this.logged.add(err);
    return err;
  }

  private refuse(meterId: string, error: unknown): Error {
    const err = error instanceof Error ? error : new Error(String(error));
    const before = this.refused.get(meterId);
    this.refused.set(meterId, err);
    if (before && errorCode(before) === errorCode(err)) {
      this.logged.add(err);
      return err;
    }
    const code = errorCode(err);
    this.metrics.inc(`devices.refused.${code}`);
    this.log.warn(
      { meter: meterId, code, reason: err.message },
      'meter refused: its device is bound elsewhere',
    );
    this.logged.add(err);
    return err;
  }
}
