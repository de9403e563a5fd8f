/**
 * The executor's Google credential: Workload Identity Federation with the Confidential Space attestation token.
 *
 * The launcher keeps a fresh default token (audience STS) in a file; STS exchanges it for a federated access token
 * only if the room's pool provider condition accepts the claims (image digest, production image, service account…),
 * and each provider's KMS key only lets in the principal set of approved job digests. No service-account key exists.
 */
import type { GcpEndpointOverride } from "./endpoints.js";

/** Google's STS token endpoint. */
export const STS_TOKEN_URL = "https://sts.googleapis.com/v1/token";

/**
 * Builds the `external_account` credential configuration for the room's pool provider.
 *
 * @param poolProviderName `projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`
 * @param tokenFile the launcher's attestation token file
 */
export function externalAccountConfig(poolProviderName: string, tokenFile: string, override?: GcpEndpointOverride): Record<string, unknown> {
  return {
    type: "external_account",
    audience: `//iam.googleapis.com/${poolProviderName}`,
    subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    token_url: override ? `${override.baseUrl}/v1/token` : STS_TOKEN_URL,
    credential_source: { file: tokenFile },
  };
}
