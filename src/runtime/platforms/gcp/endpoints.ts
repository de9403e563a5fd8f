/**
 * Where the Google APIs are, and how each client library is configured to reach them.
 *
 * In production every client uses Google's default endpoints and the caller's Application Default Credentials.
 * Tests point every API at one loopback fake server with `CLEANROOM_GCP_API_ENDPOINT=http://127.0.0.1:<port>`
 * (see docs/gcp-runtime.md). That override is refused for anything but a loopback address — credentials and data must never
 * be sent to an arbitrary host because of an environment variable — and it prints a loud warning every time it is used.
 * It cannot reach a Confidential Space workload: the launcher only passes the variables of the image's
 * `allow_env_override` label, and this one is not among them.
 */
import { CleanRoomError } from "../../../core/errors.js";

/** Environment variable that points every Google API at a loopback fake (tests only). */
export const GCP_API_ENDPOINT_ENV = "CLEANROOM_GCP_API_ENDPOINT";

/** A parsed endpoint override. */
export interface GcpEndpointOverride {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly baseUrl: string;
  readonly host: string;
  readonly port: number;
  readonly protocol: "http" | "https";
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);
let warned = false;

/**
 * Parses an endpoint override.
 *
 * @throws CleanRoomError `invalid-argument` unless it is an http(s) URL of a loopback host with an explicit port
 */
export function parseEndpointOverride(value: string): GcpEndpointOverride {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CleanRoomError("invalid-argument", `${GCP_API_ENDPOINT_ENV} must be a URL like http://127.0.0.1:8080 (got ${JSON.stringify(value)})`);
  }
  const protocol = url.protocol.replace(/:$/, "");
  // A redirect to a non-loopback host would hand the caller's credentials and data to whoever runs it.
  if ((protocol !== "http" && protocol !== "https") || !LOOPBACK.has(url.hostname) || url.port === "" || url.pathname !== "/") {
    throw new CleanRoomError(
      "invalid-argument",
      `${GCP_API_ENDPOINT_ENV} may only point at a loopback test server, e.g. http://127.0.0.1:8080 (got ${JSON.stringify(value)}); unset it to use Google Cloud`,
    );
  }
  return { baseUrl: `${protocol}://${url.host}`, host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port), protocol };
}

/**
 * The endpoint override from the environment, or `undefined` in production. Prints a loud warning once per process
 * when an override is active.
 */
export function endpointOverrideFromEnv(env: NodeJS.ProcessEnv = process.env): GcpEndpointOverride | undefined {
  const v = env[GCP_API_ENDPOINT_ENV];
  if (v === undefined || v === "") return undefined;
  const o = parseEndpointOverride(v);
  if (!warned) {
    process.stderr.write(
      `\n!!! WARNING: ${GCP_API_ENDPOINT_ENV}=${o.baseUrl} — every Google API call goes to this TEST server, not to Google Cloud.\n` +
        "!!! Nothing you do now touches a real clean room. Unset it for real use.\n\n",
    );
    warned = true;
  }
  return o;
}
