// Loaded by mocha before any test file, in every mocha process (see .mocharc.json).
import { installMonitor } from "./monitor.js";

// Tests never talk to a cloud: make sure no ambient credentials or projects leak in from the machine.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.GOOGLE_CLOUD_PROJECT;
delete process.env.GCLOUD_PROJECT;
process.env.CLEANROOM_TEST = "1";

// What runs now and where the time goes, for scripts/test-run.ts.
installMonitor();
