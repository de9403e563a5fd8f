/**
 * Every policy of the clean-room guardrails pack. Importing this module never starts a policy server: only the
 * pack's `index.ts` constructs the `PolicyPack`.
 */
import type { Policies } from "@pulumi/policy";
import { attestationConditionStrict } from "./attestationCondition.js";
import { confidentialSpaceVmHardened } from "./confidentialSpaceVm.js";
import { dataBucketWorkloadScoped } from "./dataBucketIam.js";
import { disclosureNotOff } from "./disclosure.js";
import { gkeSandboxHardened } from "./gke.js";
import { kmsDecrypterScoped, kmsKeyRotation } from "./kms.js";
import { projectIamLeastPrivilege } from "./projectIam.js";
import { providerKeysAttestationGated } from "./providerKeys.js";
import { serviceAccountImpersonationScoped } from "./serviceAccountIam.js";
import { storageBucketHardened, storageBucketIamNotPublic } from "./storage.js";

export { attestationConditionStrict } from "./attestationCondition.js";
export { confidentialSpaceVmHardened } from "./confidentialSpaceVm.js";
export { dataBucketWorkloadScoped } from "./dataBucketIam.js";
export { disclosureNotOff } from "./disclosure.js";
export { gkeSandboxHardened } from "./gke.js";
export { kmsDecrypterScoped, kmsKeyRotation } from "./kms.js";
export { projectIamLeastPrivilege } from "./projectIam.js";
export { providerKeysAttestationGated } from "./providerKeys.js";
export { serviceAccountImpersonationScoped } from "./serviceAccountIam.js";
export { storageBucketHardened, storageBucketIamNotPublic } from "./storage.js";

/** The pack's name, as `pulumi preview --policy-pack` reports it. */
export const PACK_NAME = "cleanroom-guardrails";

/** All policies, in rule order. */
export const allPolicies: Policies = [
  confidentialSpaceVmHardened,
  attestationConditionStrict,
  kmsKeyRotation,
  kmsDecrypterScoped,
  storageBucketHardened,
  storageBucketIamNotPublic,
  projectIamLeastPrivilege,
  gkeSandboxHardened,
  providerKeysAttestationGated,
  dataBucketWorkloadScoped,
  serviceAccountImpersonationScoped,
  disclosureNotOff,
];
