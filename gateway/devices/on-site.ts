/**
 * The gateway's on-site steps on the device store, outside the daemon: `--check` of the bindings and
 * `rehome <meter> --reason "…"` (issue #14 A). Both open the buffer the gateway uses (its configuration names it);
 * a re-home is logged at warn and recorded with its time and reason, and the health message reports it.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { DataDirLock } from '../buffer/data-dir-lock.ts';
import { openDatabase } from '../buffer/database.ts';
import { DeviceStore } from '../buffer/device-store.ts';
import { removeEnrolmentCodes } from '../customer/enrolment-codes.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { ConfigIssue } from '../config/rules.ts';
import { assertBindings, bindingIssues } from './binding-rules.ts';
import { realpathOrSelf } from './source-keys.ts';

function bufferFile(config: Readonly<Config>): string {
  return path.join(config.gateway.dataDir, config.buffer.file);
}

function withStore<T>(config: Readonly<Config>, fn: (store: DeviceStore) => T): T {
  const db = openDatabase(bufferFile(config), { synchronous: config.buffer.synchronous });
  try {
    return fn(new DeviceStore(db));
  } finally {
    db.close();
  }
}

/** The state of a meter id in this gateway's buffer (undefined: never bound, or no buffer yet). */
export function meterIdState(config: Readonly<Config>, meterId: string): 'bound' | 'retired' | undefined {
  if (!existsSync(bufferFile(config))) return undefined;
  return withStore(config, (store) => store.meter(meterId)?.state);
}

/**
 * The doctor's view: the configuration against the bindings, read on a read-only connection (the doctor runs
 * beside a running gateway); nothing when there is no buffer, or one from before device binding.
 */
export function bindingIssuesReadOnly(config: Readonly<Config>): ConfigIssue[] {
  return withStoreReadOnly(config, [], (store) => bindingIssues(config, store, realpathOrSelf));
}

/**
 * The device a meter id is bound to now (scripts/keygen enrolment-code, beside a running gateway), read on a
 * read-only connection; undefined when the meter has not been read yet (or there is no buffer).
 */
export function boundIdentityReadOnly(config: Readonly<Config>, meterId: string): string | undefined {
  return withStoreReadOnly(config, undefined, (store) => store.identityOf(meterId));
}

/** `fn` on a read-only view of the device store; `none` when there is no buffer, or one from before binding. */
function withStoreReadOnly<T>(config: Readonly<Config>, none: T, fn: (store: DeviceStore) => T): T {
  const file = bufferFile(config);
  if (!existsSync(file)) return none;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare<[], { n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE name = 'device_bindings'")
      .get();
    if (!tables?.n) return none;
    return fn(new DeviceStore(db));
  } finally {
    db.close();
  }
}

/** `--check`: the configuration against what this gateway's buffer has bound (nothing bound without a buffer). */
export function checkBindings(config: Readonly<Config>): void {
  if (!existsSync(bufferFile(config))) return;
  withStore(config, (store) => assertBindings(config, store, realpathOrSelf));
}

/** Releases a meter's bindings and retires its id; returns how many bindings were released. */
export function rehomeMeter(
  config: Readonly<Config>,
  meterId: string,
  reason: string,
  now: number,
  log: Logger,
): number {
  if (reason.trim().length < 3) {
    throw new GatewayError('CONFIG_INVALID', 'a re-home needs --reason "…" saying why (it is recorded)');
  }
  // Not beside a running gateway, which would not see the change (issue #20: one gateway per data directory).
  const lock = DataDirLock.acquire(config.gateway.dataDir);
  try {
    return withStore(config, (store) => rehome(store));
  } finally {
    lock.release();
  }

  function rehome(store: DeviceStore): number {
    const state = store.meter(meterId);
    if (!state)
      throw new GatewayError('CONFIG_INVALID', `meter ${meterId} has never been bound on this gateway`);
    const identities = store.identities(meterId);
    const released = store.rehome(meterId, reason, now);
    // Its unused codes are void with its id and its device: a code never follows the device to another id (nor
    // another device to this one); the household of the re-homed device enrols with a new code for the new id.
    if (config.keys.enrolmentCodes) removeEnrolmentCodes(config.keys.enrolmentCodes, [meterId], identities);
    log.warn(
      { meter: meterId, neighbourhood: state.neighbourhood, released, reason },
      'meter re-homed on site: its device and source bindings are released and its id is retired',
    );
    return released;
  }
}
