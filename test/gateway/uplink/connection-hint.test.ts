/**
 * The hint logged with a failed broker connection names the setting to change, for the failures Node and the
 * broker report (the TLS ones are also met for real in test/e2e/tls.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { connectionHint } from '../../../gateway/uplink/connection-hint.ts';

const TLS_URL = 'mqtts://broker.example.net:8883';

describe('connection hints', () => {
  it('names the setting for each kind of failure', () => {
    expect(connectionHint({ code: 'ECONNREFUSED' }, TLS_URL)).toContain('is the broker running');
    expect(connectionHint({ code: 'ENOTFOUND' }, TLS_URL)).toContain('does not resolve');
    expect(connectionHint({ code: 'SELF_SIGNED_CERT_IN_CHAIN' }, TLS_URL)).toContain('upstream.tls.ca');
    expect(connectionHint({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, TLS_URL)).toContain('upstream.tls.ca');
    expect(connectionHint({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, TLS_URL)).toContain('name (or address)');
    expect(connectionHint({ message: 'tlsv13 alert certificate required' }, TLS_URL)).toContain(
      'upstream.tls.cert and upstream.tls.key',
    );
    expect(connectionHint({ code: 5, message: 'Connection refused: Not authorized' }, TLS_URL)).toContain(
      'upstream.username',
    );
  });

  it('suggests mqtts:// only to a plaintext client whose connection was closed unanswered', () => {
    expect(connectionHint({ message: 'closed' }, 'mqtt://127.0.0.1:8883')).toContain('use mqtts://');
    expect(connectionHint({ message: 'closed' }, TLS_URL)).not.toContain('use mqtts://');
  });

  it('calls a close by a broker that answered before a stop or restart, not a TLS mismatch', () => {
    const hint = connectionHint({ code: 'ECONNRESET' }, 'mqtt://127.0.0.1:1883', { answeredBefore: true });
    expect(hint).not.toContain('mqtts://');
    expect(hint).toContain('stopping or restarting');
    expect(connectionHint({ message: 'closed' }, 'mqtt://127.0.0.1:1883', { answeredBefore: true })).toBe(
      hint,
    );
  });
});
