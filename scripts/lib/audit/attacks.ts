/**
 * The membership attacks of issue #14 "Why" 1, as configurations an operator could send (docs/fleet.md
 * "Membership is bound to devices"). Each is built from the gateway's running file and a target meter, so that a
 * correct gateway refuses it; `scripts/audit` sends them as dry runs. Pure: YAML documents in, documents out.
 */
import { randomBytes } from 'node:crypto';

export interface RawMeter {
  id: string;
  neighbourhood: string;
  account: string;
  source: Record<string, unknown> & { driver: string };
}

export type RawConfig = {
  meters: RawMeter[];
  neighbourhoods: { id: string }[];
  drivers?: Record<string, Record<string, unknown> | undefined>;
} & Record<string, unknown>;

export interface Attack {
  name: string;
  /** What the operator would get if the gateway applied it. */
  what: string;
  /** The configuration to send, or undefined when the attack does not apply to this gateway and meter. */
  build(config: RawConfig, target: RawMeter): RawConfig | undefined;
}

/** Ids no gateway has seen: the refusal is then for the device, not for a reused id. */
const fresh = (what: string) => `audit-${what}-${randomBytes(3).toString('hex')}`;

/** Four meters whose readings the operator knows (replayed households of its choosing), where replay exists. */
function knownMeters(config: RawConfig, neighbourhood: string): RawMeter[] {
  if (!config.drivers?.replay) return [];
  return [1, 2, 3, 4].map((i) => ({
    id: fresh(`known${i}`),
    neighbourhood,
    account: fresh('acc'),
    source: { driver: 'replay', household: fresh('household') },
  }));
}

/** A new neighbourhood holding a new id on the target's source, and known meters. */
function padded(config: RawConfig, target: RawMeter, source = target.source): RawConfig {
  const nb = fresh('nb');
  const c = structuredClone(config);
  c.neighbourhoods.push({ id: nb });
  c.meters.push(
    { id: fresh('victim'), neighbourhood: nb, account: fresh('acc'), source },
    ...knownMeters(c, nb),
  );
  return c;
}

export const ATTACKS: readonly Attack[] = [
  {
    name: 'padding',
    what: 'the target out of its neighbourhood, its source under a new id among known meters: its readings by subtraction',
    build: (config, target) => {
      const c = padded(config, target);
      c.meters = c.meters.filter((m) => m.id !== target.id);
      return c;
    },
  },
  {
    name: 'twin',
    what: "a second id on the target's source, in a new neighbourhood of known meters",
    build: (config, target) => padded(config, target),
  },
  {
    name: 'alias',
    what: "a second port or bus name for the target's device, under a new id",
    build: (config, target) => {
      const s = target.source;
      const kind = s.driver === 'serial' ? 'serial' : s.driver === 'modbus' ? 'modbus' : undefined;
      if (!kind) return undefined;
      const c = structuredClone(config);
      const alias = fresh('alias').replace(/-/g, '_');
      if (kind === 'serial') {
        const ports = c.drivers!.serial as Record<string, unknown>;
        ports[alias] = structuredClone(ports[s.port as string]);
        return padded(c, target, { ...s, port: alias });
      }
      const buses = (c.drivers!.modbus as { buses: Record<string, unknown> }).buses;
      buses[alias] = structuredClone(buses[s.bus as string]);
      return padded(c, target, { ...s, bus: alias });
    },
  },
  {
    name: 'isolate',
    what: "the target's neighbours removed, leaving it with whatever meters the operator adds",
    build: (config, target) => {
      const c = structuredClone(config);
      const before = c.meters.length;
      c.meters = c.meters.filter((m) => m.neighbourhood !== target.neighbourhood || m.id === target.id);
      return c.meters.length === before ? undefined : c;
    },
  },
  {
    name: 'move',
    what: 'the target moved into a new neighbourhood of known meters',
    build: (config, target) => {
      const c = structuredClone(config);
      const nb = fresh('nb');
      c.neighbourhoods.push({ id: nb });
      c.meters.find((m) => m.id === target.id)!.neighbourhood = nb;
      c.meters.push(...knownMeters(c, nb));
      return c;
    },
  },
];
