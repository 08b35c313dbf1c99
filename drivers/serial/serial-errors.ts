/**
 * What a technician should do about a serial port that will not open: the operating system's error code turned
 * into a sentence naming the fix.
 */
import { GatewayError } from '../../gateway/errors.ts';

export function serialOpenError(path: string, error: unknown): GatewayError {
  const code = (error as { code?: string } | undefined)?.code;
  const message = (error as Error | undefined)?.message ?? String(error);
  if (code === 'EACCES' || /permission denied/i.test(message)) {
    return new GatewayError(
      'SERIAL_PERMISSION',
      `permission denied on ${path}: add the gateway's user to the "dialout" group ` +
        '(sudo usermod -aG dialout <user>, then log in again or restart the service)',
      { cause: error },
    );
  }
  if (code === 'ENOENT' || /no such file/i.test(message)) {
    return new GatewayError(
      'SERIAL_PORT_FAILED',
      `${path} does not exist: is the cable plugged in? (ls -l /dev/serial/by-id/ lists the adapters; ` +
        'prefer those stable names to /dev/ttyUSB0)',
      { cause: error },
    );
  }
  if (code === 'EBUSY' || /lock|busy/i.test(message)) {
    return new GatewayError(
      'SERIAL_PORT_FAILED',
      `${path} is in use by another program (a serial console, ModemManager, a second gateway?)`,
      { cause: error },
    );
  }
  return new GatewayError('SERIAL_PORT_FAILED', `${path}: ${message}`, { cause: error });
}
