/**
 * A device identity of the device store (source-keys.ts, meter-series.ts) as a household or an installer reads
 * it: the code sheet and the household's tool name the device a code is for, so that the household can compare it
 * with the serial printed on its meter (issue #14: enrolment codes are bound to the device).
 */
export function deviceLabel(identity: string): string {
  const [kind, ...rest] = identity.split(':');
  const tail = rest.join(':');
  switch (kind) {
    case 'meter-serial':
      return `meter serial ${tail}`;
    case 'serial':
      return `the meter on serial port ${tail} (it has not reported its serial yet)`;
    case 'modbus': {
      const [endpoint, unit] = splitLast(tail.replace(/^(tcp|rtu):/, ''));
      return `Modbus meter at ${endpoint}, unit ${unit}`;
    }
    case 'mqtt': {
      const [url, topic] = splitLast(tail);
      return `MQTT meter on topic ${topic} of ${url}`;
    }
    case 'key':
      return `sealed meter with key sha256:${tail.slice(0, 16)}…`;
    case 'replay': {
      const [, household] = splitLast(tail);
      return `replayed household ${household}`;
    }
    default:
      return identity;
  }
}

/** "a#b#c" → ["a#b", "c"]: the part after the last '#', which source keys use for the unit, topic or household. */
function splitLast(text: string): [string, string] {
  const at = text.lastIndexOf('#');
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}
