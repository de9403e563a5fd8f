/**
 * `WorkloadImage`: the executor image, built and pushed to an Artifact Registry repository with immutable tags, or an
 * existing image pinned by digest. Its digest is what the attestation condition pins.
 */
import * as docker from "@pulumi/docker";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { throwIfProblems } from "../core/errors.js";
import { DIGEST_PATTERN } from "../core/patterns.js";
import * as path from "node:path";
import { contextTag } from "./build-context.js";
import { COMPONENT_DEFAULTS } from "./defaults.js";
import { digestOfReference, parseArtifactRegistryRef, registryHost } from "./naming.js";
import type { ExecutorImageOptions } from "./options.js";
import { executorImageProblems, locationProblems, namingProblems } from "./validate.js";

/** Arguments of a `WorkloadImage`. */
export interface WorkloadImageArgs {
  /** Project of the Artifact Registry repository (may be another resource's output). */
  readonly project: pulumi.Input<string>;
  /** Region of the repository. */
  readonly region: string;
  /** Prefix of the repository name. @default - the resource name */
  readonly namePrefix?: string;
  /** Build context and Dockerfile, or an existing `repository@sha256:` reference. */
  readonly executor: ExecutorImageOptions;
}

interface Internals {
  readonly repository?: gcp.artifactregistry.Repository;
  readonly image?: docker.Image;
}
const INTERNALS = new WeakMap<WorkloadImage, Internals>();

/**
 * The executor image. When built here, the Dockerfile must carry the Confidential Space launch-policy labels
 * (`tee.launch_policy.allow_env_override` listing exactly `EXECUTOR_ENV_OVERRIDES`, `log_redirect=debugonly`,
 * no command/capability overrides); the component checks them before building.
 */
export class WorkloadImage extends pulumi.ComponentResource {
  /** `sha256:<64 hex>` manifest digest of the image. */
  readonly digest: pulumi.Output<string>;
  /** `repository@sha256:…` reference, used as `tee-image-reference` (a tag could be moved; a digest cannot). */
  readonly imageReference: pulumi.Output<string>;
  /** Artifact Registry repository id `projects/<p>/locations/<l>/repositories/<r>` (empty for external registries). */
  readonly repositoryId: pulumi.Output<string>;

  constructor(name: string, args: WorkloadImageArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `WorkloadImage "${name}" arguments`, [
      ...locationProblems(args?.project, args?.region, undefined),
      ...namingProblems(args?.namePrefix ?? name, undefined, args?.namePrefix === undefined),
      ...executorImageProblems(args?.executor),
    ]);
    super("cleanroom:index:WorkloadImage", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const e = args.executor;

    if (e.imageReference !== undefined) {
      // A pinned reference, possibly another resource's output: checked once known.
      const ref = pulumi.output(e.imageReference).apply((r) => {
        if (typeof r !== "string" || digestOfReference(r) === undefined) {
          throw new pulumi.ResourceError(`executor.imageReference must be pinned by digest: <registry>/<path>@sha256:<64 lowercase hex> (got ${JSON.stringify(r)}); tags move`, this);
        }
        return r;
      });
      INTERNALS.set(this, {});
      this.digest = ref.apply((r) => digestOfReference(r)!);
      this.imageReference = ref;
      this.repositoryId = ref.apply((r) => {
        const ar = parseArtifactRegistryRef(r);
        return ar ? `projects/${ar.project}/locations/${ar.location}/repositories/${ar.repository}` : "";
      });
    } else {
      const repository = new gcp.artifactregistry.Repository(
        `${name}-repo`,
        {
          project: args.project,
          location: args.region,
          repositoryId: `${prefix}-executor`,
          format: "DOCKER",
          description: "Attested clean room executor images",
          // A pushed tag can never be re-pointed at different code.
          dockerConfig: { immutableTags: true },
        },
        { parent: this },
      );
      // Tags are immutable in the repository: by default the tag is the build context's content hash, so a changed
      // executor gets a new tag (and a new digest in every condition) instead of a failed push.
      const tag = e.tag ?? contextTag(e.context!, e.dockerfile ?? path.join(e.context!, "Dockerfile"));
      const imageName = pulumi.interpolate`${registryHost(args.region)}/${args.project}/${repository.repositoryId}/executor:${tag}`;
      const image = new docker.Image(
        `${name}-image`,
        {
          imageName,
          build: {
            context: e.context!,
            ...(e.dockerfile === undefined ? {} : { dockerfile: e.dockerfile }),
            platform: e.platform ?? COMPONENT_DEFAULTS.platform,
          },
        },
        { parent: this },
      );
      INTERNALS.set(this, { repository, image });
      this.imageReference = image.repoDigest.apply((ref) => {
        if (digestOfReference(ref) === undefined) {
          throw new pulumi.ResourceError(`the pushed image has no repository digest (got ${JSON.stringify(ref)}); is the push enabled?`, this);
        }
        return ref;
      });
      this.digest = this.imageReference.apply((ref) => {
        const d = digestOfReference(ref)!;
        if (!DIGEST_PATTERN.test(d)) throw new pulumi.ResourceError(`bad image digest ${d}`, this);
        return d;
      });
      this.repositoryId = repository.id;
    }
    this.registerOutputs({ digest: this.digest, imageReference: this.imageReference, repositoryId: this.repositoryId });
  }

  /** The repository this component created, when it built the image. */
  get repository(): gcp.artifactregistry.Repository | undefined {
    return INTERNALS.get(this)!.repository;
  }
  /** The Docker image resource, when built here. */
  get image(): docker.Image | undefined {
    return INTERNALS.get(this)!.image;
  }
}
