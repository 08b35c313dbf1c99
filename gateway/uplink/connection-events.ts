/**
 * What the upstream connection's failures say in the log: each failure once with the hint that names the setting
 * to change (connection-hint.ts), the failures of one outage rate-limited (every reconnect of a stopped broker
 * fails the same way: once, then a count every ten minutes), and "closed before answering" (whose hint is about
 * TLS: a plaintext client at a TLS-only port gets no error, only a close) only for attempts that failed without
 * an error; a normal broker stop logged that TLS hint before issue #20.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from '../observe/log.ts';
import type { LogThrottle } from '../observe/log-throttle.ts';
import type { Metrics } from '../observe/metrics.ts';
import { connectionHint } from './connection-hint.ts';

/** Throttle keys of connection errors, forgotten at each connection (an outage is one episode). */
const CONNECTION_ERROR = 'connection-error:';

export function watchConnection(
  client: MqttClient,
  url: string,
  throttle: LogThrottle,
  metrics: Metrics,
  log: Logger,
  onClose: () => void,
): void {
  // Attempts closed before the broker answered, in a row.
  let unanswered = 0;
  // The current attempt failed with an error, already logged with its hint (a stopped broker: ECONNREFUSED).
  let errored = false;
  let answered = false;
  // The broker has spoken MQTT on this URL: a later close is a broker stopping, not a TLS mismatch (issue #20).
  let answeredBefore = false;
  client.on('connect', () => {
    unanswered = 0;
    errored = false;
    answered = answeredBefore = true;
    throttle.forget(CONNECTION_ERROR);
  });
  client.on('close', () => {
    onClose();
    if (answered || errored) {
      answered = errored = false;
      return;
    }
    unanswered++;
    if (unanswered === 1 || unanswered % 30 === 0) {
      log.warn(
        { url, attempts: unanswered, hint: connectionHint({ message: 'closed' }, url, { answeredBefore }) },
        'upstream broker closed the connection before answering',
      );
    }
  });
  client.on('offline', () => log.warn('upstream broker unreachable; batches stay buffered'));
  client.on('error', (err) => {
    errored = true;
    metrics.inc('uplink.errors');
    const code = (err as { code?: unknown }).code;
    throttle.hit(`${CONNECTION_ERROR}${String(code)}`, (repeats) =>
      log.warn(
        { err: err.message, code, hint: connectionHint(err, url, { answeredBefore }), repeats },
        'upstream connection error',
      ),
    );
  });
}
