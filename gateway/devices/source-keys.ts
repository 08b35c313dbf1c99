/**
 * Where a meter's readings come from, as keys the device store binds for life (issue #14 A): two names that lead
 * to one device give one key, so a meter cannot be read twice under two ids, nor its source handed to another id.
 *
 * - serial: the configured path AND its real path (`/dev/serial/by-id/…` and `/dev/ttyUSB0` are one device);
 * - Modbus: the endpoint the bus leads to (tcp host:port, or the RTU device and its real path), never the bus
 *   name, plus the unit id;
 * - MQTT: the broker URL and the topic; a sealed meter also by its public key (the key is the device);
 * - replay: the CSV's absolute path and the household.
 *
 * Pure given `realpath` (injected: the gateway passes fs.realpathSync, tests a table).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import type { Config, MeterConfig } from '../config/schema.ts';

/** Resolves a device path to the file it leads to (symlinks followed); returns the path itself if it cannot. */
export type RealPath = (p: string) => string;

/** The source keys of one meter under `config` (empty when its port/bus/broker is not configured). */
export function sourceKeys(config: Readonly<Config>, meter: MeterConfig, realpath: RealPath): string[] {
  const s = meter.source;
  switch (s.driver) {
    case 'replay':
      return config.drivers.replay ? [replayIdentity(config.drivers.replay.file, s.household)] : [];
    case 'serial': {
      const port = config.drivers.serial?.[s.port];
      return port ? devicePaths('serial', port.path, realpath) : [];
    }
    case 'modbus': {
      const bus = config.drivers.modbus?.buses[s.bus];
      if (!bus) return [];
      const endpoints =
        bus.transport === 'tcp'
          ? [`modbus:tcp:${bus.host.toLowerCase()}:${bus.port}`]
          : devicePaths('modbus:rtu', bus.path, realpath);
      return endpoints.map((e) => `${e}#${s.unit}`);
    }
    case 'mqtt': {
      const url = config.drivers.mqtt?.url;
      if (url === undefined) return [];
      const keys = [`mqtt:${url}#${s.topic}`];
      if (s.format === 'sealed' && s.publicKey !== undefined) {
        const fp = keyFingerprint(s.publicKey);
        if (fp) keys.push(fp);
      }
      return keys;
    }
  }
}

/** A replay meter's identity: the household of one CSV (the same one the driver reports). */
export function replayIdentity(file: string, household: string): string {
  return `replay:${file}#${household}`;
}

/** A sealed meter's identity: its Ed25519 public key, as the SHA-256 of its SPKI DER (undefined if unreadable). */
export function keyFingerprint(pemFile: string): string | undefined {
  try {
    const der = createPublicKey(readFileSync(pemFile)).export({ type: 'spki', format: 'der' });
    return `key:${createHash('sha256').update(der).digest('hex')}`;
  } catch {
    // The gateway refuses an unreadable key when it starts the driver; here it only has no key to bind.
    return undefined;
  }
}

function devicePaths(kind: string, configured: string, realpath: RealPath): string[] {
  const real = realpath(configured);
  return [...new Set([`${kind}:${configured}`, `${kind}:${real}`])];
}

/** The gateway's RealPath: symlinks followed; a path that does not exist (yet) stands for itself. */
export const realpathOrSelf: RealPath = (p) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};
