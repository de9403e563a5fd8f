// Loaded by mocha before any test file (see .mocharc.json).
// Tests never talk to a cloud: make sure no ambient credentials or projects leak in from the machine.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.GOOGLE_CLOUD_PROJECT;
delete process.env.GCLOUD_PROJECT;
process.env.CLEANROOM_TEST = "1";
