/**
 * The executor image's launch policy must match what the runtime sends: the Confidential Space launcher refuses to
 * start (and powers the VM off) when a `tee-env-*` name is not in `allow_env_override`.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { ALLOW_ENV_OVERRIDE_LABEL, EXECUTOR_ENV_OVERRIDES, LOG_REDIRECT_LABEL, LOG_REDIRECT_POLICY } from "../../src/core/executor-env.js";
import { EXECUTOR_ENV_OVERRIDES as RUNTIME_OVERRIDES } from "../../src/runtime/executor/env.js";
import { TEE_ENV_PREFIX, jobInstanceResource } from "../../src/runtime/platforms/gcp/compute.js";
import { dockerfileLabel } from "./fakes/confidential-space.js";
import { DOCKERFILE } from "./room-fixtures.js";

const text = readFileSync(DOCKERFILE, "utf8");

describe("gcp/executor Dockerfile", () => {
  it("GIVEN the Dockerfile THEN allow_env_override is exactly EXECUTOR_ENV_OVERRIDES joined by commas", () => {
    expect(dockerfileLabel(DOCKERFILE, ALLOW_ENV_OVERRIDE_LABEL)).to.equal(EXECUTOR_ENV_OVERRIDES.join(","));
    expect(RUNTIME_OVERRIDES).to.deep.equal(EXECUTOR_ENV_OVERRIDES);
  });

  it("GIVEN the VM metadata the runtime builds THEN every tee-env-* name is allowed by the label, and all are used", () => {
    const env = Object.fromEntries(EXECUTOR_ENV_OVERRIDES.map((k) => [k, "x"]));
    const r = jobInstanceResource({
      project: "p",
      zone: "z",
      instanceTemplate: "t",
      name: "cr-job",
      imageReference: `europe-docker.pkg.dev/p/r/executor@sha256:${"a".repeat(64)}`,
      env,
      labels: {},
      requestId: "00000000-0000-4000-8000-000000000000",
    });
    const names = (r.metadata?.items ?? []).map((i) => String(i.key)).filter((k) => k.startsWith(TEE_ENV_PREFIX)).map((k) => k.slice(TEE_ENV_PREFIX.length));
    const allowed = (dockerfileLabel(DOCKERFILE, ALLOW_ENV_OVERRIDE_LABEL) ?? "").split(",");
    expect(names.sort()).to.deep.equal([...allowed].sort());
  });

  it("GIVEN the Dockerfile THEN logs leave only debug VMs and the command cannot be overridden", () => {
    expect(dockerfileLabel(DOCKERFILE, LOG_REDIRECT_LABEL)).to.equal(LOG_REDIRECT_POLICY);
    expect(dockerfileLabel(DOCKERFILE, "tee.launch_policy.allow_cmd_override")).to.equal("false");
  });

  it("GIVEN the Dockerfile THEN every base image is pinned by digest and the image runs as a non-root user", () => {
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(froms.length).to.be.greaterThan(0);
    for (const f of froms) expect(f, f).to.match(/@sha256:[0-9a-f]{64}$/);
    const user = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!).at(-1);
    expect(user).to.match(/^[1-9]\d*(:[1-9]\d*)?$/);
  });

  it("GIVEN the Dockerfile THEN the data-science stack is installed at build time and no index is reachable at run time", () => {
    for (const lib of ["pandas==", "scikit-learn==", "xgboost=="]) expect(text).to.include(lib);
    expect(text).to.match(/PIP_NO_INDEX=1/);
    expect(text).to.match(/ENTRYPOINT \["\/usr\/local\/bin\/node", "\/opt\/cleanroom\/dist\/src\/runtime\/executor\/main\.js"\]/);
  });
});
