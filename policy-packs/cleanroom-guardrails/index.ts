// The pack entry point: `pulumi preview --policy-pack policy-packs/cleanroom-guardrails`.
// Constructing a PolicyPack starts the analyzer's gRPC server, so nothing else may import this file.
// Every policy defaults to "mandatory"; override one with `--policy-pack-config <file.json>`, e.g.
// { "kms-key-rotation": "advisory", "storage-bucket-hardened": { "enforcementLevel": "mandatory", "dataLabelValues": ["data"] } }.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, allPolicies } from "./policies/index.js";

new PolicyPack(PACK_NAME, {
  policies: allPolicies,
  enforcementLevel: "mandatory",
  description: "Guardrails for attested data clean rooms on Google Cloud Confidential Space.",
  displayName: "Attested Clean Room guardrails",
  provider: "gcp",
  tags: ["confidential-computing", "clean-room", "kms", "iam"],
});
