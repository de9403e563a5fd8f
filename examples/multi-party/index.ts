/**
 * Multi-party: a hospital and an insurer, each deploying its own trust from its own program, in its own project
 * (`hospital/`, `insurer/`): its Workload Identity pool and attestation condition, its key, its data bucket and the
 * jobs it approved. This program is the consortium's room: it references each provider only by what the provider's
 * stack publishes (a StackReference) and needs no IAM in their projects, so whoever runs it cannot loosen a
 * provider's condition. The joint job reads both providers' data, so it runs only because BOTH approved it; the
 * hospital-only job can never open the insurer's key. Outputs stay in quarantine until a provider releases them.
 *
 * In your own program: `import { DataCleanRoom } from "attested-cleanroom/components";`
 */
import * as pulumi from "@pulumi/pulumi";
import { DataCleanRoom } from "../../src/components/index.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();

// Each provider's stack, deployed by that provider (`pulumi stack output provider` there is what we read here).
const hospital = new pulumi.StackReference(config.require("hospitalStack"));
const insurer = new pulumi.StackReference(config.require("insurerStack"));

const room = new DataCleanRoom("consortium", {
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  zone: `${gcpConfig.require("region")}-b`,
  externalProviders: [
    { name: "hospital", published: hospital.getOutput("provider") },
    { name: "insurer", published: insurer.getOutput("provider") },
  ],
  output: { maxBytes: 10 * 1024 * 1024, requireRelease: true },
  executor: { imageReference: config.require("executorImage") },
  sandbox: {
    authorizedNetworks: [config.require("adminCidr")],
    google: {
      clientId: config.require("googleClientId"),
      clientSecret: config.requireSecret("googleClientSecret"),
      hostedDomains: [config.require("hostedDomain")],
    },
  },
  storage: { retentionDays: 90 },
});

// Each provider's stewards upload their stage-1 artefacts and release outputs; analysts submit and explore.
for (const provider of ["hospital", "insurer"]) {
  room.grantStage1Upload(provider, `group:${provider}-data-stewards@consortium.example`);
  room.grantRelease(`group:${provider}-data-stewards@consortium.example`);
}
room.grantSubmit("group:analysts@consortium.example");
room.grantExplore("group:analysts@consortium.example");

export const descriptor = room.descriptor;
export const condition = room.condition;
