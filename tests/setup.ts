// Loaded by mocha before any test file (see .mocharc.json).
// Tests never talk to a cloud: make sure no ambient credentials or projects leak in from the machine.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.GOOGLE_CLOUD_PROJECT;
delete process.env.GCLOUD_PROJECT;
process.env.CLEANROOM_TEST = "1";

// The provider's DP ledger key goes to a temporary directory of this run, never the user's ~/.config.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
process.env.CLEANROOM_LEDGER_KEY = join(mkdtempSync(join(tmpdir(), "acr-test-ledger-key-")), "ledger-key.pem");
