/**
 * `ResultStore`: the room's buckets — job bundles, quarantine (outputs as the executor wrote them), results (outputs a
 * provider released) and stage-1 (DP exploration data) — CMEK-encrypted with a room key.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { throwIfProblems } from "../core/errors.js";
import { COMPONENT_DEFAULTS, DISCLOSURE_MODE_LABEL, ROLES } from "./defaults.js";
import { type GrantResult, type GrantSpec, addGrants } from "./grant.js";
import { createCmekKey, secureBucketArgs } from "./kms.js";
import { bucketName } from "./naming.js";
import type { StorageOptions } from "./options.js";
import { locationProblems, namingProblems, storageProblems } from "./validate.js";

/** Arguments of a `ResultStore`. */
export interface ResultStoreArgs {
  /** Project of the buckets and the room key (may be another resource's output). */
  readonly project: pulumi.Input<string>;
  /** Region of the buckets and the key (CMEK keys must be in the bucket's location). */
  readonly region: string;
  /** Prefix of the bucket and key ring names. @default - the resource name */
  readonly namePrefix?: string;
  /**
   * Members that stand for attested executor runs (e.g. the `attribute.image_digest` principalSet): they read
   * job bundles and write the quarantine bucket. Nobody else can write outputs.
   * @default []
   */
  readonly workloadMembers?: pulumi.Input<string>[];
  /** Retention, locking and destroy behaviour. @default - 30-day unlocked retention on quarantine and results, no force destroy */
  readonly storage?: StorageOptions;
  /** Protect the room key against deletion. @default true */
  readonly protectKey?: boolean;
  /** The room's disclosure mode, labelled on the quarantine bucket (`cleanroom-disclosure`). @default - no label */
  readonly disclosureMode?: string;
  /** Resources the key ring and buckets wait for (e.g. the room's enabled APIs). @default [] */
  readonly dependsOn?: pulumi.Resource[];
}

interface Internals {
  readonly jobs: gcp.storage.Bucket;
  readonly quarantine: gcp.storage.Bucket;
  readonly results: gcp.storage.Bucket;
  readonly stage1: gcp.storage.Bucket;
  readonly key: gcp.kms.CryptoKey;
}
const INTERNALS = new WeakMap<ResultStore, Internals>();

/**
 * The room's four buckets. Every bucket has uniform bucket-level access, enforced public access prevention,
 * versioning and the room's CMEK key; quarantine and results also have a retention policy so receipts and outputs
 * cannot be deleted or rewritten during the retention period.
 *
 * Who may do what: attested executor runs (`workloadMembers`) read `jobs` and write `quarantine`; everything else
 * goes through `grant*` methods of `DataCleanRoom` and `DataProvider`.
 */
export class ResultStore extends pulumi.ComponentResource {
  /** `gs://` URI of the job bundles bucket. */
  readonly jobsUri: pulumi.Output<string>;
  /** `gs://` URI of the quarantine bucket. */
  readonly quarantineUri: pulumi.Output<string>;
  /** `gs://` URI of the released results bucket. */
  readonly resultsUri: pulumi.Output<string>;
  /** `gs://` URI of the stage-1 (exploration) bucket. */
  readonly stage1Uri: pulumi.Output<string>;
  /** Resource name of the room key (`projects/…/cryptoKeys/…`). */
  readonly keyName: pulumi.Output<string>;

  constructor(name: string, args: ResultStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `ResultStore "${name}" arguments`, [
      ...locationProblems(args?.project, args?.region, undefined),
      ...namingProblems(args?.namePrefix ?? name, undefined, args?.namePrefix === undefined),
      ...storageProblems(args?.storage),
    ]);
    super("cleanroom:index:ResultStore", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const { key, storageAgentBinding } = createCmekKey(this, name, {
      project: args.project,
      location: args.region,
      keyRingName: `${prefix}-room`,
      keyName: "storage",
      ...(args.protectKey === undefined ? {} : { protect: args.protectKey }),
      ...(args.dependsOn === undefined ? {} : { dependsOn: args.dependsOn }),
    });
    const retentionDays = args.storage?.retentionDays ?? COMPONENT_DEFAULTS.retentionDays;
    const bucket = (role: string, retained: boolean, labels?: Record<string, string>) =>
      new gcp.storage.Bucket(
        `${name}-${role}`,
        secureBucketArgs({
          project: args.project,
          location: args.region,
          name: pulumi.output(args.project).apply((p) => bucketName(prefix, role, p)),
          role,
          kmsKeyName: key.id,
          forceDestroy: args.storage?.forceDestroy,
          // Receipts and outputs are the audit trail: nobody may delete or rewrite them during retention.
          ...(retained ? { retentionDays, lockRetention: args.storage?.lockRetention } : {}),
          ...(labels ? { labels } : {}),
        }),
        { parent: this, dependsOn: [storageAgentBinding] },
      );
    const jobs = bucket("jobs", false);
    const quarantine = bucket("quarantine", true, args.disclosureMode === undefined ? undefined : { [DISCLOSURE_MODE_LABEL]: args.disclosureMode });
    const results = bucket("results", true);
    const stage1 = bucket("stage1", false);
    (args.workloadMembers ?? []).forEach((member, i) => {
      new gcp.storage.BucketIAMMember(`${name}-workload-read-jobs-${i}`, { bucket: jobs.name, role: ROLES.objectViewer, member }, { parent: this });
      new gcp.storage.BucketIAMMember(
        `${name}-workload-write-quarantine-${i}`,
        { bucket: quarantine.name, role: ROLES.objectCreator, member },
        { parent: this },
      );
    });
    INTERNALS.set(this, { jobs, quarantine, results, stage1, key });
    this.jobsUri = pulumi.interpolate`gs://${jobs.name}`;
    this.quarantineUri = pulumi.interpolate`gs://${quarantine.name}`;
    this.resultsUri = pulumi.interpolate`gs://${results.name}`;
    this.stage1Uri = pulumi.interpolate`gs://${stage1.name}`;
    this.keyName = key.id;
    this.registerOutputs({
      jobsUri: this.jobsUri,
      quarantineUri: this.quarantineUri,
      resultsUri: this.resultsUri,
      stage1Uri: this.stage1Uri,
      keyName: this.keyName,
    });
  }

  /** The job bundles bucket. */
  get jobsBucket(): gcp.storage.Bucket {
    return INTERNALS.get(this)!.jobs;
  }
  /** The quarantine bucket (executor writes, providers review). */
  get quarantineBucket(): gcp.storage.Bucket {
    return INTERNALS.get(this)!.quarantine;
  }
  /** The released results bucket (consumers read). */
  get resultsBucket(): gcp.storage.Bucket {
    return INTERNALS.get(this)!.results;
  }
  /** The stage-1 bucket (providers write DP artefacts, the sandbox reads). */
  get stage1Bucket(): gcp.storage.Bucket {
    return INTERNALS.get(this)!.stage1;
  }
  /** The room key that encrypts every bucket. */
  get key(): gcp.kms.CryptoKey {
    return INTERNALS.get(this)!.key;
  }

  /**
   * Adds bucket roles for `member` (as children of this store). CMEK needs no key role for readers and writers:
   * the Cloud Storage service agent uses the key on their behalf.
   */
  grant(name: string, purpose: string, member: string, spec: GrantSpec): GrantResult {
    return addGrants(this, name, purpose, member, spec);
  }
}
