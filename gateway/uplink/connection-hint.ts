/**
 * What a technician should do about a failed broker connection, from the error Node or the broker gave: the
 * raw messages ("self-signed certificate in certificate chain", "read ECONNRESET") do not say which setting to
 * change. Used in the log line of every connection failure and by `gateway --doctor`.
 */

/** TLS verification failures (Node's codes) meaning: not signed by a CA this gateway trusts. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/**
 * `answeredBefore`: the broker at `url` has accepted a connection from this process before. It speaks what the URL
 * says, so a connection it resets or closes now is a broker stopping or restarting, not a TLS mismatch.
 */
export function connectionHint(
  error: { code?: unknown; message?: unknown },
  url: string,
  seen: { answeredBefore?: boolean } = {},
): string {
  const code = typeof error.code === 'string' || typeof error.code === 'number' ? String(error.code) : '';
  const message = typeof error.message === 'string' ? error.message : '';
  const plain = /^(mqtt|ws):/.test(url);
  if (code === 'ECONNREFUSED')
    return `nothing accepts connections at ${url}: is the broker running, on that port?`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the broker's host name in ${url} does not resolve`;
  if (UNTRUSTED.has(code)) {
    return "the broker's certificate is not signed by a CA this gateway trusts: set upstream.tls.ca to the CA that signed it";
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the broker's certificate does not name the host of ${url}: connect by the name (or address) on the certificate`;
  }
  if (code === 'CERT_HAS_EXPIRED')
    return "the broker's certificate has expired (or this gateway's clock is wrong)";
  if (/certificate required|alert number 116|handshake failure/i.test(message)) {
    return 'the broker asks for a client certificate: set upstream.tls.cert and upstream.tls.key';
  }
  if (/not authori[sz]ed|bad user ?name or password/i.test(message) || code === '5' || code === '4') {
    return 'the broker refuses these credentials: check upstream.username and upstream.passwordFile';
  }
  const closed = code === 'ECONNRESET' || code === 'EPIPE' || /closed|ECONNRESET/i.test(message);
  if (closed && seen.answeredBefore) {
    return 'the broker closed the connection: it answered here before, so it is stopping or restarting; the gateway reconnects by itself';
  }
  if (plain && closed) {
    return `the broker closed the connection before answering: if it only speaks TLS, use mqtts:// (or wss://) instead of ${url.split(':')[0]}://`;
  }
  return 'see the error; gateway --doctor checks the broker connection step by step (docs/raspberry-pi.md §11)';
}
