import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { classifyGcpError, gcpError, inspectGcpError, parseEndpointOverride, vmNameFor, vmNamePrefix } from "../../src/runtime/platforms/gcp/index.js";
import { gcpDescriptor } from "../core/fixtures.js";

describe("gcp/endpoints and errors", () => {
  it("GIVEN a loopback URL THEN it is accepted as a test endpoint", () => {
    expect(parseEndpointOverride("http://127.0.0.1:8080")).to.deep.equal({ baseUrl: "http://127.0.0.1:8080", host: "127.0.0.1", port: 8080, protocol: "http" });
  });

  for (const bad of ["http://evil.example:8080", "https://storage.googleapis.com:443", "http://127.0.0.1", "http://127.0.0.1:8080/prefix", "ftp://127.0.0.1:21"]) {
    it(`GIVEN ${bad} THEN the override is refused (credentials must not go to another host)`, () => {
      expect(() => parseEndpointOverride(bad)).to.throw(CleanRoomError, /loopback|URL/);
    });
  }

  it("GIVEN a GaxiosError-shaped 403 whose message is the JSON body THEN it is classified as permission and names the role", () => {
    const err = Object.assign(new Error(JSON.stringify({ error: { code: 403, message: "Permission denied on resource", status: "PERMISSION_DENIED" } })), { code: 403 });
    expect(classifyGcpError(inspectGcpError(err))).to.equal("permission");
    const e = gcpError(err, { action: "decrypt", role: "roles/cloudkms.cryptoKeyDecrypter on k" });
    expect(e.code).to.equal("denied");
    expect(e.message).to.match(/Permission denied on resource.*roles\/cloudkms\.cryptoKeyDecrypter on k/s);
  });

  it("GIVEN a 401 THEN the fix is to log in with application-default credentials", () => {
    const e = gcpError(Object.assign(new Error("Request had invalid authentication credentials."), { code: 401 }), { action: "list" });
    expect(e.code).to.equal("gcp-unauthenticated");
    expect(e.message).to.match(/gcloud auth application-default login/);
  });
});

describe("gcp/job VM names", () => {
  const room = (template: string, name = "demo") => {
    const d = gcpDescriptor();
    return { ...d, name, gcp: { ...d.gcp!, instanceTemplate: template } };
  };

  it("GIVEN the component's template name <prefix>-job-<suffix> THEN VMs are named <prefix>-job-<id> (what grantSubmit's IAM condition allows)", () => {
    const d = room("projects/p/global/instanceTemplates/acme-room-job-20261201061500123400000001", "other-name");
    expect(vmNamePrefix(d)).to.equal("acme-room-job-");
    expect(vmNameFor(d, "job-mf3k2l9a-1a2b3c4d")).to.equal("acme-room-job-mf3k2l9a-1a2b3c4d");
  });

  it("GIVEN a template named otherwise THEN the prefix falls back to <descriptor.name>-job-", () => {
    expect(vmNameFor(room("projects/p/global/instanceTemplates/custom", "demo"), "job-a-b")).to.equal("demo-job-a-b");
  });

  it("GIVEN a prefix too long for a 63-character name THEN invalid-descriptor instead of a truncated (colliding) name", () => {
    const d = room(`projects/p/global/instanceTemplates/${"a".repeat(45)}-job-1`);
    expect(() => vmNameFor(d, "job-mf3k2l9a-1a2b3c4d")).to.throw(CleanRoomError, /shorter namePrefix/);
  });
});
