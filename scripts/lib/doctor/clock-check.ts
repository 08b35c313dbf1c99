/**
 * The system clock: a Pi without a real-time clock boots in the past until NTP sets it, and then TLS refuses
 * every certificate and no interval ever closes (docs/raspberry-pi.md §6).
 */
import { spawnSync } from 'node:child_process';
import { EARLIEST_PLAUSIBLE } from '../../../gateway/time/steady-clock.ts';
import { fail, ok, warn, type Finding } from './finding.ts';

/** A clock before the gateway's earliest plausible time has not been set (its data clock stands still). */
export const EARLIEST_YEAR = new Date(EARLIEST_PLAUSIBLE).getUTCFullYear();

/** yes / no from systemd-timesyncd (or chrony through timedated), or why it could not be asked. */
export type NtpState = { synchronised: boolean } | { unknown: string };

export function ntpStateFromTimedatectl(): NtpState {
  const r = spawnSync('timedatectl', ['show', '--property=NTPSynchronized', '--value'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (r.error) return { unknown: `timedatectl: ${r.error.message}` };
  const answer = r.stdout.trim();
  if (r.status === 0 && (answer === 'yes' || answer === 'no')) return { synchronised: answer === 'yes' };
  const said = (r.stderr || r.stdout).replace(/\s+/g, ' ').trim();
  return { unknown: `timedatectl: ${said || `exit ${r.status}`}` };
}

export function checkClock(now: number, ntp: NtpState): Finding {
  const time = new Date(now).toISOString();
  if (new Date(now).getUTCFullYear() < EARLIEST_YEAR) {
    return fail(
      'clock',
      `the system clock reads ${time}: it has not been set`,
      'get network time working: timedatectl status; systemctl status systemd-timesyncd; NTP= in ' +
        '/etc/systemd/timesyncd.conf if public NTP servers are not reachable',
    );
  }
  if ('unknown' in ntp) {
    return warn(
      'clock',
      `${time}; whether NTP keeps it right is unknown (${ntp.unknown})`,
      'check network time with timedatectl status (or chronyc tracking)',
    );
  }
  if (!ntp.synchronised) {
    return warn(
      'clock',
      `${time}, not synchronised by NTP`,
      'timedatectl status; sudo systemctl restart systemd-timesyncd; check that the NTP servers are reachable',
    );
  }
  return ok('clock', `${time}, synchronised by NTP`);
}
