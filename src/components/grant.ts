/**
 * The one way members get access (CDK-style grants): bucket roles and key roles together, always with
 * non-authoritative `*IAMMember` resources, so a grant never removes anyone else's access and is easy to review.
 */
import { createHash } from "node:crypto";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { throwIfProblems } from "../core/errors.js";

/** A bucket-level role, optionally limited to an object prefix (an IAM condition on the object name). */
export interface BucketGrant {
  /** Bucket name. */
  readonly bucket: pulumi.Input<string>;
  /** The role, e.g. `roles/storage.objectViewer`. */
  readonly role: string;
  /** Only objects under this prefix (e.g. `acme/`). @default - the whole bucket */
  readonly objectPrefix?: string;
}

/** A key-level role on a Cloud KMS CryptoKey. */
export interface KeyGrant {
  /** CryptoKey id `projects/…/cryptoKeys/…`. */
  readonly key: pulumi.Input<string>;
  /** The role, e.g. `roles/cloudkms.cryptoKeyEncrypter`. */
  readonly role: string;
}

/** What one grant adds. */
export interface GrantSpec {
  /** Bucket-level roles. @default [] */
  readonly buckets?: readonly BucketGrant[];
  /** Key-level roles. @default [] */
  readonly keys?: readonly KeyGrant[];
}

/** What a grant created, so callers can depend on it or export it. */
export interface GrantResult {
  /** One `BucketIAMMember` per bucket role, in the order of the grant spec. */
  readonly bucketMembers: gcp.storage.BucketIAMMember[];
  /** One `CryptoKeyIAMMember` per key role, in the order of the grant spec. */
  readonly keyMembers: gcp.kms.CryptoKeyIAMMember[];
}

const MEMBER_PATTERN = /^(user|group|serviceAccount|domain):[^\s]+$|^principal(Set)?:\/\/[^\s]+$/;

/**
 * Problems of an IAM member string. `allUsers` / `allAuthenticatedUsers` are refused: a grant must never make room
 * data public.
 */
export function memberProblems(member: unknown): string[] {
  if (typeof member !== "string" || !MEMBER_PATTERN.test(member)) {
    return [
      `member must be an IAM member like user:alice@example.com, group:…, serviceAccount:…, domain:… or principalSet://… (got ${JSON.stringify(member)}); allUsers and allAuthenticatedUsers are never allowed`,
    ];
  }
  return [];
}

/** A short, stable id of a member for logical resource names (the member itself may be long or contain `@`). */
export function memberId(member: string): string {
  return createHash("sha256").update(member).digest("hex").slice(0, 10);
}

function roleId(role: string): string {
  return role.replace(/^roles\//, "").replace(/[^A-Za-z0-9]+/g, "-");
}

/**
 * Adds every role of `spec` for `member`, as children of `parent` named `<name>-<purpose>-<role>-<member id>[-i]`.
 *
 * @throws CleanRoomError `invalid-argument` for a malformed or public member
 */
export function addGrants(
  parent: pulumi.Resource,
  name: string,
  purpose: string,
  member: string,
  spec: GrantSpec,
): GrantResult {
  throwIfProblems("invalid-argument", `grant ${purpose}`, memberProblems(member));
  const mid = memberId(member);
  const bucketMembers = (spec.buckets ?? []).map(
    (b, i) =>
      new gcp.storage.BucketIAMMember(
        `${name}-${purpose}-${roleId(b.role)}-${mid}-${i}`,
        {
          bucket: b.bucket,
          role: b.role,
          member,
          ...(b.objectPrefix === undefined
            ? {}
            : {
                // Limits the role to one prefix, so one provider cannot touch another provider's objects.
                condition: {
                  title: `prefix ${b.objectPrefix}`,
                  expression: pulumi.interpolate`resource.name.startsWith("projects/_/buckets/${b.bucket}/objects/${b.objectPrefix}")`,
                },
              }),
        },
        { parent },
      ),
  );
  const keyMembers = (spec.keys ?? []).map(
    (k, i) =>
      new gcp.kms.CryptoKeyIAMMember(`${name}-${purpose}-${roleId(k.role)}-${mid}-${i}`, { cryptoKeyId: k.key, role: k.role, member }, { parent }),
  );
  return { bucketMembers, keyMembers };
}
