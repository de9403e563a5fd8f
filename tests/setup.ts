// Loaded by mocha before any test file, in every mocha process (see .mocharc.json).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installMonitor } from "./monitor.js";

// Tests never talk to a cloud: make sure no ambient credentials or projects leak in from the machine.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.GOOGLE_CLOUD_PROJECT;
delete process.env.GCLOUD_PROJECT;
process.env.CLEANROOM_TEST = "1";

// The provider's DP ledger key goes to a temporary directory of this run, never the user's ~/.config.
process.env.CLEANROOM_LEDGER_KEY = join(mkdtempSync(join(tmpdir(), "acr-test-ledger-key-")), "ledger-key.pem");

// What runs now and where the time goes, for scripts/test-run.ts.
installMonitor();
