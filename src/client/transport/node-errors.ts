/**
 * Turning Node's socket, DNS and TLS errors into {@link TransportError}s a
 * person can act on: what failed, at which address, and the likely fix.
 * Shared by the Node TCP/TLS and WebSocket transports.
 */
import { AbortError, TransportError } from "../../protocol/index.js";

/** `host:port` for messages, with brackets around IPv6 literals. */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The URL's host without the brackets of an IPv6 literal (what `net.connect` wants). */
export function bareHost(url: URL): string {
  const host = url.hostname;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** OpenSSL verification codes meaning "the chain does not lead to a CA we trust". */
const untrusted = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

/**
 * Describes an error raised while opening a connection to `address`
 * (`host:port`). `host` is the name that was resolved or verified.
 */
export function connectError(error: unknown, address: string, host: string): TransportError {
  const err = error as NodeJS.ErrnoException;
  const code = typeof err?.code === "string" ? err.code : "";
  const detail = err instanceof Error ? err.message : String(error);
  let message: string;
  switch (code) {
    case "ECONNREFUSED":
      message = `connection refused by ${address} — is a broker running?`;
      break;
    case "ENOTFOUND":
    case "EAI_NONAME":
      message = `cannot resolve host "${host}" (connecting to ${address}) — check the URL`;
      break;
    case "EAI_AGAIN":
      message = `DNS lookup of "${host}" failed for now (EAI_AGAIN, connecting to ${address}) — check the network or try again`;
      break;
    case "ETIMEDOUT":
      message = `connection to ${address} timed out — is the host reachable and the port open (no firewall dropping it)?`;
      break;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      message = `${address} is unreachable (${code}) — check the address and the network`;
      break;
    case "ECONNRESET":
    case "EPIPE":
      message = `connection to ${address} was reset by the peer while connecting (${code}) — is it the right port and protocol (TLS or plain)?`;
      break;
    case "CERT_HAS_EXPIRED":
      message = `TLS: the certificate of ${address} has expired (${code})`;
      break;
    case "CERT_NOT_YET_VALID":
      message = `TLS: the certificate of ${address} is not valid yet (${code}) — check the clocks`;
      break;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      message = `TLS: the certificate of ${address} is not valid for the name "${host}" (${detail}) — connect by a name the certificate lists, or set servername`;
      break;
    default:
      if (untrusted.has(code)) {
        message = `TLS: the certificate of ${address} is not trusted (${code}: ${detail}) — pass its CA in the "ca" option (rejectUnauthorized: false disables verification; for testing only)`;
      } else if (code.startsWith("ERR_SSL_") || code === "EPROTO" || /SSL|TLS/.test(detail)) {
        // OpenSSL's messages carry its error stack ("…:error:0A00010B:SSL routines:ssl3_get_record:
        // wrong version number:file:line:"); the reason is the readable part.
        const reason = (err as { reason?: unknown }).reason;
        const why =
          typeof reason === "string"
            ? reason
            : (/:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+)/.exec(detail)?.[1] ??
              detail.split("\n")[0].trim());
        message = `TLS handshake with ${address} failed (${why}) — is that port serving TLS?`;
      } else {
        message = `cannot connect to ${address}: ${detail}`;
      }
  }
  return new TransportError(message, error);
}

/** Describes an error on an open connection to `address`. */
export function connectionLost(error: Error, address: string): TransportError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === "ECONNRESET" ? "was reset by the peer" : `failed: ${error.message}`;
  return new TransportError(`connection to ${address} ${why}`, error);
}

/** The error a transport rejects with when `signal` aborts opening it. */
export function abortError(signal: AbortSignal, address: string): AbortError {
  return new AbortError(`connecting to ${address} was aborted`, signal.reason);
}
