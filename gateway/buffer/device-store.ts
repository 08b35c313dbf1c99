/**
 * Meters as devices, bound for life (issue #14 A; docs/fleet.md "Membership is bound to devices"). Each identity
 * a meter is known by is bound to one meter id and one neighbourhood the moment it is known (its first reading
 * accepted, or the device reporting itself); meter and neighbourhood ids that have carried data are recorded and,
 * once retired, never used again. Only `rehome` (an explicit step on site) releases a meter's bindings.
 */
import type { Statement } from 'better-sqlite3';
import { GatewayError } from '../errors.ts';
import type { Db } from './database.ts';

export interface Binding {
  meterId: string;
  neighbourhood: string;
  kind: 'device' | 'source';
}

export interface MeterIdState {
  neighbourhood: string;
  state: 'bound' | 'retired';
}

/** What the configuration checks read (gateway/devices/binding-rules.ts): pure lookups. */
export interface KnownDevices {
  binding(identity: string): Binding | undefined;
  meter(id: string): MeterIdState | undefined;
  neighbourhood(id: string): 'live' | 'retired' | undefined;
}

export interface Rehome {
  meter: string;
  at: number;
  reason: string;
}

/** The meter a reading or an identity is for. */
export interface MeterRef {
  id: string;
  neighbourhood: string;
}

export class DeviceStore implements KnownDevices {
  private readonly bindingStmt: Statement<
    [string],
    { meter_id: string; neighbourhood: string; kind: string }
  >;
  private readonly deviceOfStmt: Statement<[string], { identity: string }>;
  private readonly bindStmt: Statement<[string, string, string, string, number]>;
  private readonly meterStmt: Statement<[string], { neighbourhood: string; state: string }>;
  private readonly addMeterStmt: Statement<[string, string, number]>;
  private readonly nbStmt: Statement<[string], { state: string }>;
  private readonly addNbStmt: Statement<[string, number]>;
  private readonly retireMeterStmt: Statement<[string, string, number]>;
  private readonly retireNbStmt: Statement<[string, number]>;
  private readonly releaseStmt: Statement<[string]>;
  private readonly rehomeStmt: Statement<[string, number, string]>;
  private readonly rehomesStmt: Statement<[number], { meter_id: string; at: number; reason: string }>;
  private readonly codeUsedStmt: Statement<[string], { meter_id: string }>;
  private readonly useCodeStmt: Statement<[string, string, string | null, number]>;
  private readonly sourceOfStmt: Statement<[string], { identity: string }>;
  private readonly identitiesStmt: Statement<[string], { identity: string }>;
  private readonly commandedStmt: Statement<[string], { added_at: number }>;
  private readonly addCommandedStmt: Statement<[string, number]>;

  constructor(private readonly db: Db) {
    this.bindingStmt = db.prepare(
      'SELECT meter_id, neighbourhood, kind FROM device_bindings WHERE identity = ?',
    );
    this.deviceOfStmt = db.prepare(
      "SELECT identity FROM device_bindings WHERE meter_id = ? AND kind = 'device'",
    );
    this.bindStmt = db.prepare(
      'INSERT OR IGNORE INTO device_bindings (identity, kind, meter_id, neighbourhood, bound_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.meterStmt = db.prepare('SELECT neighbourhood, state FROM meter_ids WHERE meter_id = ?');
    this.addMeterStmt = db.prepare(
      "INSERT OR IGNORE INTO meter_ids (meter_id, neighbourhood, state, since) VALUES (?, ?, 'bound', ?)",
    );
    this.nbStmt = db.prepare('SELECT state FROM neighbourhood_ids WHERE neighbourhood = ?');
    this.addNbStmt = db.prepare(
      "INSERT OR IGNORE INTO neighbourhood_ids (neighbourhood, state, since) VALUES (?, 'live', ?)",
    );
    this.retireMeterStmt = db.prepare(
      "INSERT INTO meter_ids (meter_id, neighbourhood, state, since) VALUES (?, ?, 'retired', ?) " +
        "ON CONFLICT (meter_id) DO UPDATE SET state = 'retired', since = excluded.since",
    );
    this.retireNbStmt = db.prepare(
      "INSERT INTO neighbourhood_ids (neighbourhood, state, since) VALUES (?, 'retired', ?) " +
        "ON CONFLICT (neighbourhood) DO UPDATE SET state = 'retired', since = excluded.since",
    );
    this.releaseStmt = db.prepare('DELETE FROM device_bindings WHERE meter_id = ?');
    this.rehomeStmt = db.prepare('INSERT INTO rehomes (meter_id, at, reason) VALUES (?, ?, ?)');
    this.codeUsedStmt = db.prepare('SELECT meter_id FROM used_enrolment_codes WHERE code_key = ?');
    this.useCodeStmt = db.prepare(
      'INSERT OR IGNORE INTO used_enrolment_codes (code_key, meter_id, identity, used_at) VALUES (?, ?, ?, ?)',
    );
    this.sourceOfStmt = db.prepare(
      "SELECT identity FROM device_bindings WHERE meter_id = ? AND kind = 'source' ORDER BY identity LIMIT 1",
    );
    this.identitiesStmt = db.prepare(
      'SELECT identity FROM device_bindings WHERE meter_id = ? ORDER BY identity',
    );
    this.commandedStmt = db.prepare('SELECT added_at FROM commanded_meters WHERE meter_id = ?');
    this.addCommandedStmt = db.prepare(
      'INSERT OR IGNORE INTO commanded_meters (meter_id, added_at) VALUES (?, ?)',
    );
    this.rehomesStmt = db.prepare(
      'SELECT meter_id, at, reason FROM rehomes WHERE at >= ? ORDER BY at DESC, rowid DESC',
    );
  }

  binding(identity: string): Binding | undefined {
    const row = this.bindingStmt.get(identity);
    return (
      row && { meterId: row.meter_id, neighbourhood: row.neighbourhood, kind: row.kind as Binding['kind'] }
    );
  }

  meter(id: string): MeterIdState | undefined {
    const row = this.meterStmt.get(id);
    return row && { neighbourhood: row.neighbourhood, state: row.state as MeterIdState['state'] };
  }

  neighbourhood(id: string): 'live' | 'retired' | undefined {
    return this.nbStmt.get(id)?.state as 'live' | 'retired' | undefined;
  }

  /** The device identity a meter reported, if any. */
  deviceOf(meterId: string): string | undefined {
    return this.deviceOfStmt.get(meterId)?.identity;
  }

  /**
   * Binds a meter's id, its neighbourhood and its source keys (at its first reading accepted under a
   * configuration); throws, binding nothing, if any of them is bound elsewhere or retired.
   */
  bindSources(meter: MeterRef, keys: readonly string[], now: number): void {
    this.db.transaction(() => {
      this.checkMeter(meter);
      for (const key of keys) this.checkIdentity(meter, key);
      this.addMeterStmt.run(meter.id, meter.neighbourhood, now);
      this.addNbStmt.run(meter.neighbourhood, now);
      for (const key of keys) this.bindStmt.run(key, 'source', meter.id, meter.neighbourhood, now);
    })();
  }

  /**
   * Binds the identity a device reports itself (DSMR equipment id, SML server id, …) to its meter; throws if the
   * identity is bound to another meter, or the meter to another device (a different device answers on its source).
   */
  identify(meter: MeterRef, identity: string, now: number): void {
    this.db.transaction(() => {
      this.checkMeter(meter);
      this.checkIdentity(meter, identity);
      const known = this.deviceOf(meter.id);
      if (known !== undefined && known !== identity) {
        throw new GatewayError(
          'DEVICE_CHANGED',
          `meter ${meter.id}: a different device answers on its source; if the meter was replaced, re-home it ` +
            `on site (scripts/gateway --config FILE rehome ${meter.id} --reason "…") and give it a new id`,
        );
      }
      this.addMeterStmt.run(meter.id, meter.neighbourhood, now);
      this.addNbStmt.run(meter.neighbourhood, now);
      this.bindStmt.run(identity, 'device', meter.id, meter.neighbourhood, now);
    })();
  }

  /** Records meter ids a remote command added (kept for life, like the ids themselves). */
  recordCommanded(meterIds: readonly string[], now: number): void {
    this.db.transaction(() => {
      for (const id of meterIds) this.addCommandedStmt.run(id, now);
    })();
  }

  /** True for a meter id a remote command added. */
  commanded(meterId: string): boolean {
    return this.commandedStmt.get(meterId) !== undefined;
  }

  /** Retires meter and neighbourhood ids (removed remotely): never used again. Ids never seen are recorded too. */
  retire(meters: readonly MeterRef[], neighbourhoods: readonly string[], now: number): void {
    this.db.transaction(() => {
      for (const m of meters) this.retireMeterStmt.run(m.id, m.neighbourhood, now);
      for (const n of neighbourhoods) this.retireNbStmt.run(n, now);
    })();
  }

  /**
   * The on-site re-home: releases every binding of the meter and retires its id (its device or source may then be
   * configured under a new id). Returns how many bindings were released.
   */
  rehome(meterId: string, reason: string, now: number): number {
    return this.db.transaction(() => {
      const released = this.releaseStmt.run(meterId).changes;
      this.retireMeterStmt.run(meterId, this.meter(meterId)?.neighbourhood ?? '', now);
      this.rehomeStmt.run(meterId, now, reason);
      return released;
    })();
  }

  /** The re-homes since `since`, newest first. */
  rehomes(since: number): Rehome[] {
    return this.rehomesStmt.all(since).map((r) => ({ meter: r.meter_id, at: r.at, reason: r.reason }));
  }

  /** True once an enrolment code (by its public key) has enrolled a household: it never enrols again. */
  codeUsed(codeKey: string): boolean {
    return this.codeUsedStmt.get(codeKey) !== undefined;
  }

  /**
   * Records a code's use durably, with the meter and the device it was bound to then: a code issued unbound is
   * pinned there to the meter's device at its use.
   */
  markCodeUsed(codeKey: string, meterId: string, now: number): void {
    this.useCodeStmt.run(codeKey, meterId, this.identityOf(meterId) ?? null, now);
  }

  /**
   * The device a meter id is bound to, as one identity: the one the device reports itself, else where it is
   * read (its first source key); undefined before its first reading.
   */
  identityOf(meterId: string): string | undefined {
    return this.deviceOf(meterId) ?? this.sourceOfStmt.get(meterId)?.identity;
  }

  /** Every identity bound to a meter id (its device and its sources). */
  identities(meterId: string): string[] {
    return this.identitiesStmt.all(meterId).map((r) => r.identity);
  }

  /** The meter id an identity is bound to, if any. */
  boundMeter(identity: string): string | undefined {
    return this.binding(identity)?.meterId;
  }

  /** True for a meter id removed or re-homed. */
  retired(meterId: string): boolean {
    return this.meter(meterId)?.state === 'retired';
  }

  private checkMeter(meter: MeterRef): void {
    const known = this.meter(meter.id);
    if (known?.state === 'retired') {
      throw new GatewayError('METER_ID_RETIRED', `meter id ${meter.id} is retired: it is never used again`);
    }
    if (known && known.neighbourhood !== meter.neighbourhood) {
      throw new GatewayError(
        'METER_MOVED',
        `meter ${meter.id} is bound to neighbourhood ${known.neighbourhood}, not ${meter.neighbourhood}`,
      );
    }
    if (this.neighbourhood(meter.neighbourhood) === 'retired') {
      throw new GatewayError(
        'NEIGHBOURHOOD_ID_RETIRED',
        `neighbourhood id ${meter.neighbourhood} is retired: it is never used again`,
      );
    }
  }

  private checkIdentity(meter: MeterRef, identity: string): void {
    const bound = this.binding(identity);
    if (bound && bound.meterId !== meter.id) {
      throw new GatewayError(
        'DEVICE_BOUND_ELSEWHERE',
        `meter ${meter.id}: its device is bound to meter ${bound.meterId} (${describeIdentity(identity)})`,
      );
    }
  }
}

/** An identity for a message: its kind and where, never more than the configuration already says. */
function describeIdentity(identity: string): string {
  return identity.startsWith('key:') ? 'its public key' : identity.split('#')[0]!;
}
