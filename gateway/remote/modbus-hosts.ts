/**
 * A command names Modbus TCP hosts only as IP literals (issue #14, review finding F1). A host name is resolved at
 * every connection, and every live command restarts the drivers: whoever can change what the name resolves to
 * (the operator's DNS, a spoofed answer) could point a meter added by a command at a household's meter after it
 * was bound, or at another device on every reconnect. An IP literal is one endpoint; names are configured on
 * site, in the local file, where the person who writes them also answers for the network they resolve in.
 *
 * Refused: a TCP bus a command adds whose host is not an IPv4 or IPv6 literal, and a meter a command adds on a
 * TCP bus (added or local) whose host is not one.
 */
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { ConfigIssue } from '../config/rules.ts';
import type { Config } from '../config/schema.ts';

const CODE = 'MODBUS_HOST_NOT_LITERAL';
const HINT =
  'a command names Modbus TCP hosts by IP address only; configure host names on site, in the local file';

export function modbusHostIssues(running: Readonly<Config>, next: Readonly<Config>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const buses = next.drivers.modbus?.buses ?? {};
  const named = (name: string) => {
    const bus = buses[name];
    return bus?.transport === 'tcp' && isIP(bus.host) === 0 ? bus.host : undefined;
  };
  for (const name of Object.keys(buses)) {
    const host = named(name);
    if (host === undefined || isDeepStrictEqual(running.drivers.modbus?.buses[name], buses[name])) continue;
    issues.push({ path: `drivers.modbus.buses.${name}.host`, code: CODE, message: `"${host}": ${HINT}` });
  }
  const runningMeters = new Set(running.meters.map((m) => m.id));
  for (const m of next.meters) {
    if (runningMeters.has(m.id) || m.source.driver !== 'modbus') continue;
    const host = named(m.source.bus);
    if (host === undefined) continue;
    issues.push({
      path: `meters.${m.id}.source`,
      code: CODE,
      message: `its bus ${m.source.bus} names host "${host}": ${HINT}`,
    });
  }
  return issues;
}
