/**
 * Every serial device of the configuration (drivers.serial ports, Modbus RTU buses): it exists, is a character
 * device, and this user may read and write it, which for a USB adapter means being in group dialout.
 */
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import type { Config } from '../../../gateway/config/schema.ts';
import { codeOf, fail, messageOf, ok, warn, type Finding } from './finding.ts';

export interface SerialUser {
  name: string;
  uid: number;
  /** The process's groups (ids). */
  groups: number[];
}

export function checkSerialPorts(config: Readonly<Config>, user: SerialUser): Finding[] {
  const devices: { field: string; path: string }[] = [];
  for (const [name, port] of Object.entries(config.drivers.serial ?? {})) {
    devices.push({ field: `drivers.serial.${name}`, path: port.path });
  }
  for (const [name, bus] of Object.entries(config.drivers.modbus?.buses ?? {})) {
    if (bus.transport === 'rtu') devices.push({ field: `drivers.modbus.buses.${name}`, path: bus.path });
  }
  const findings = devices.map((d) => checkDevice(d.field, d.path, user));
  const dialout = groupId('dialout');
  if (devices.length > 0 && user.uid !== 0 && dialout !== undefined && !user.groups.includes(dialout)) {
    findings.push(
      warn(
        'serial',
        `${user.name} is not in group dialout, which owns USB serial adapters (/dev/ttyUSB*, /dev/ttyACM*)`,
        `sudo usermod -aG dialout ${user.name}, then restart the service (and log in again for a shell)`,
      ),
    );
  }
  return findings;
}

function checkDevice(field: string, device: string, user: SerialUser): Finding {
  let mode: number;
  let gid: number;
  try {
    ({ mode, gid } = statSync(device));
  } catch (error) {
    if (codeOf(error) === 'ENOENT') {
      return fail(
        'serial',
        `${field}: ${device} does not exist`,
        'plug the cable in and check `ls -l /dev/serial/by-id/`; for a udev name such as /dev/meterspace-p1 ' +
          'check that /etc/udev/rules.d/99-meterspace-serial.rules matches the adapter ' +
          '(udevadm info --attribute-walk --name=/dev/ttyUSB0)',
      );
    }
    return fail('serial', `${field}: ${device}: ${messageOf(error)}`, 'check the device path');
  }
  const target = realpathSync(device);
  const shown = target === device ? device : `${device} -> ${target}`;
  if ((mode & constants.S_IFMT) !== constants.S_IFCHR) {
    return fail('serial', `${field}: ${shown} is not a character device`, 'point it at the serial device');
  }
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch {
    const group = groupName(gid) ?? String(gid);
    const perms = `group ${group}, mode ${(mode & 0o777).toString(8)}`;
    const groupMayUse = (mode & 0o060) === 0o060 && gid !== 0;
    const fix =
      groupMayUse && !user.groups.includes(gid)
        ? `sudo usermod -aG ${group} ${user.name}, then restart the service (and log in again for a shell)`
        : 'give the device group dialout and mode 0660 with a udev rule ' +
          '(/etc/udev/rules.d/99-meterspace-serial.rules)';
    return fail('serial', `${field}: ${user.name} may not read and write ${shown} (${perms})`, fix);
  }
  const group = groupName(gid) ?? String(gid);
  return ok('serial', `${field}: ${shown} is readable and writable by ${user.name} (group ${group})`);
}

/** The name of a group id from /etc/group (Node has no getgrgid). */
function groupName(gid: number): string | undefined {
  return groups().find((g) => g.id === gid)?.name;
}

function groupId(name: string): number | undefined {
  return groups().find((g) => g.name === name)?.id;
}

function groups(): { name: string; id: number }[] {
  try {
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .filter((f) => f.length >= 3 && f[0])
      .map((f) => ({ name: f[0]!, id: Number(f[2]) }));
  } catch {
    return []; // no /etc/group: ids are shown instead of names
  }
}
