/**
 * A loopback fake of the Google APIs the runtime uses, speaking the JSON/REST shapes of Google's API docs and of
 * reference/gcp-wire.md: Cloud Storage JSON API (multipart + resumable upload, get, media download, list, delete,
 * rewrite), Compute Engine (instances.insert/get/delete, zoneOperations.wait), Cloud KMS (encrypt/decrypt over REST),
 * and STS token exchange. One HTTP server on 127.0.0.1 serves them all (their paths do not overlap), so
 * `CLEANROOM_GCP_API_ENDPOINT=<fake.url>` points every real client library at it.
 *
 * It records every request (method, path, query, headers, parsed body) so tests can assert on what the client really
 * sent, and it can inject failures (`failNext`). IAM is modelled where the runtime's security depends on it: STS
 * evaluates the condition of the pool provider named by the exchange's audience (each provider's own, with core's CEL
 * engine) and maps the attributes; KMS decrypt is allowed only for an STS token whose principal sets (its pool, its
 * mapped job or image digest) are bound to the key.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { CRC32C } from "@google-cloud/storage";
import { attributePrincipalSet, evaluateAttestationCondition, mapAttributes } from "../../../src/core/attestation.js";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, the form fields of a form body, or undefined. */
  readonly json?: unknown;
  readonly form?: Record<string, string>;
  readonly bytes: number;
}

export interface StoredObject {
  data: Buffer;
  generation: number;
  contentType: string;
  /** The `md5Hash` / `crc32c` the uploader declared in the object metadata (GCS verified them). */
  declared?: { md5Hash?: string; crc32c?: string };
}

export interface FakeInstance {
  name: string;
  zone: string;
  project: string;
  status: string;
  metadata: Record<string, string>;
  labels: Record<string, string>;
  sourceInstanceTemplate: string;
  body: Record<string, unknown>;
}

interface Failure {
  method?: string;
  path: RegExp;
  status: number;
  body: unknown;
  times: number;
  /** Matching requests let through before the failures start. */
  after: number;
}

function crc32cB64(b: Buffer): string {
  const c = new CRC32C();
  c.update(b);
  return c.toString();
}
function crc32cU32(b: Buffer): number {
  const c = new CRC32C();
  c.update(b);
  return c.toBuffer().readUInt32BE(0);
}

export function googleError(code: number, message: string, status: string, reason?: string, extra: Record<string, unknown> = {}): unknown {
  return { error: { code, message, status, errors: [{ message, domain: "global", reason: reason ?? status.toLowerCase() }], ...extra } };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The fake. */
export class GcpFake {
  readonly requests: RecordedRequest[] = [];
  readonly buckets = new Map<string, Map<string, StoredObject>>();
  readonly instances = new Map<string, FakeInstance>();
  /** keyName → job digests whose federated tokens may decrypt (IAM on the key). */
  readonly kmsApprovals = new Map<string, Set<string>>();
  /** STS access token → the subject token's claims. */
  readonly stsTokens = new Map<string, Record<string, unknown>>();
  /** STS access token → the full name of the pool whose provider issued it. */
  readonly stsPools = new Map<string, string>();
  /**
   * The pool provider's `attributeCondition`. When set, STS evaluates it on the subject token's claims, as Google's STS
   * does (with a CEL engine; here core's evaluator), and refuses the exchange when it does not hold. Used for any
   * audience not in `poolConditions`.
   */
  attributeCondition?: string;
  /**
   * Pool providers by full name (`projects/<n>/locations/global/workloadIdentityPools/<p>/providers/<id>`) → their own
   * `attributeCondition`. An exchange whose audience names one is judged by that provider's condition alone; once any is
   * set, an audience naming no known provider is refused like Google refuses an unknown or deleted one.
   */
  readonly poolConditions = new Map<string, string>();
  /**
   * IAM on keys by member: keyName → the `principalSet://…` members bound to `roles/cloudkms.cryptoKeyDecrypter`. A key
   * listed here admits exactly the tokens whose pool and mapped attributes form one of those members.
   */
  readonly kmsPrincipals = new Map<string, Set<string>>();
  /** Called after an instance is inserted (tests simulate the VM boot here). */
  onInsert?: (vm: FakeInstance) => void;
  /** When set, a finished insert operation carries this error (e.g. QUOTA_EXCEEDED). */
  insertOperationError?: { code: string; message: string; httpStatus: number };
  /**
   * When set, instances.insert is denied (403) for any name without this prefix — the IAM condition `grantSubmit`
   * puts on the consumer's roles/compute.instanceAdmin.v1 (`resource.name.startsWith(".../instances/<prefix>-job-")`).
   */
  instanceNamePrefix?: string;
  /** Storage IAM: bearer tokens that may not read a bucket (objects.get / list / rewrite source). */
  readonly readDenied: { bucket: string; token: string }[] = [];
  /**
   * Storage IAM for workload identities, by bucket: the bucket-level bindings a plan made (`BucketIAMMember`), with
   * their conditions. A bucket listed here admits an STS-federated token only through a binding whose member is one of
   * the token's principal sets, whose role carries the permission, and whose condition holds (`conditionHolds`). Other
   * callers (the tests' own bearer tokens, standing for people) are not judged.
   */
  readonly bucketBindings = new Map<string, Array<{ role: string; member: string; condition?: string }>>();
  /** The next KMS response has this CRC32C field wrong (`plaintextCrc32c`, `ciphertextCrc32c`) or false (`verifiedPlaintextCrc32c`). */
  kmsTamperNext?: "plaintextCrc32c" | "ciphertextCrc32c" | "verifiedPlaintextCrc32c";
  /** How many responses `kmsTamperNext` applies to. */
  kmsTamperTimes = 1;
  private corruptUploads: { name: RegExp; times: number }[] = [];
  private wrongCrcUploads: { name: RegExp; times: number }[] = [];
  private corruptDownloads: { name: RegExp; times: number }[] = [];
  private failures: Failure[] = [];
  private sessions = new Map<
    string,
    { bucket: string; name: string; declared: { md5Hash?: string; crc32c?: string }; ifGenerationMatch?: string; contentType: string; data: Buffer[] }
  >();
  private ops = new Map<string, Record<string, unknown>>();
  private n = 0;
  private server?: Server;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify(googleError(500, String(err), "INTERNAL")));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  /** The next `times` requests matching (after letting `after` of them through) get this error response instead. */
  failNext(path: RegExp, status: number, body: unknown, times = 1, method?: string, after = 0): void {
    this.failures.push({ path, status, body, times, after, ...(method ? { method } : {}) });
  }

  /** Drops every pending injected failure. */
  clearFailures(): void {
    this.failures = [];
    this.corruptUploads = [];
    this.wrongCrcUploads = [];
    this.corruptDownloads = [];
    this.readDenied.length = 0;
    this.kmsTamperNext = undefined;
    this.kmsTamperTimes = 1;
  }

  /** The next `times` uploads of a matching object arrive with one byte flipped (corruption in transit). */
  corruptNextUpload(name: RegExp, times = 1): void {
    this.corruptUploads.push({ name, times });
  }

  /** The next `times` uploads of a matching object are stored intact but answered with a wrong `crc32c`. */
  wrongCrcNextUpload(name: RegExp, times = 1): void {
    this.wrongCrcUploads.push({ name, times });
  }

  /** The next `times` media downloads of a matching object have one byte flipped (headers carry the true hashes). */
  corruptNextDownload(name: RegExp, times = 1): void {
    this.corruptDownloads.push({ name, times });
  }

  private take(list: { name: RegExp; times: number }[], name: string): boolean {
    const hit = list.find((x) => x.times > 0 && x.name.test(name));
    if (hit) hit.times--;
    return hit !== undefined;
  }

  private readAllowed(req: IncomingMessage, bucket: string): boolean {
    const token = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    return !this.readDenied.some((d) => d.bucket === bucket && d.token === token);
  }

  /**
   * Bucket IAM for a federated (workload) token, as GCS decides it: some binding of the bucket must name one of the
   * token's principal sets, with a role that has `permission`, under a condition that holds. For `list` the resource is
   * the bucket itself, so a condition on object names never admits it; only the list-prefix attribute can.
   */
  private workloadAllowed(req: IncomingMessage, bucket: string, permission: StoragePermission, object?: string, listPrefix?: string): boolean {
    const bindings = this.bucketBindings.get(bucket);
    const bearer = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    if (!bindings || !this.stsTokens.has(bearer)) return true;
    const members = new Set([...this.principalsOf(bearer), `principalSet://iam.googleapis.com/${this.stsPools.get(bearer)}/*`]);
    const resourceName = object === undefined ? `projects/_/buckets/${bucket}` : `projects/_/buckets/${bucket}/objects/${object}`;
    return bindings.some(
      (b) => members.has(b.member) && (ROLE_PERMISSIONS[b.role] ?? []).includes(permission) && (b.condition === undefined || conditionHolds(b.condition, resourceName, listPrefix)),
    );
  }

  private workloadDenied(res: ServerResponse, permission: StoragePermission, bucket: string): undefined {
    return this.json(
      res,
      403,
      googleError(403, `caller does not have storage.objects.${permission} access to the Google Cloud Storage ${permission === "list" ? "bucket" : "object"} (bucket ${bucket}).`, "PERMISSION_DENIED", "forbidden"),
    );
  }

  bucket(name: string): Map<string, StoredObject> {
    let b = this.buckets.get(name);
    if (!b) {
      b = new Map();
      this.buckets.set(name, b);
    }
    return b;
  }

  putObject(bucket: string, name: string, data: Buffer, contentType = "application/octet-stream"): void {
    this.bucket(bucket).set(name, { data, generation: ++this.n, contentType });
  }

  getObject(bucket: string, name: string): Buffer | undefined {
    return this.buckets.get(bucket)?.get(name)?.data;
  }

  /** Requests whose path matches. */
  sent(path: RegExp, method?: string): RecordedRequest[] {
    return this.requests.filter((r) => path.test(r.path) && (!method || r.method === method));
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): undefined {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
    res.end(JSON.stringify(body));
  }

  private objectJson(bucket: string, name: string, o: StoredObject): Record<string, unknown> {
    return {
      kind: "storage#object",
      id: `${bucket}/${name}/${o.generation}`,
      name,
      bucket,
      generation: String(o.generation),
      metageneration: "1",
      contentType: o.contentType,
      size: String(o.data.length),
      crc32c: crc32cB64(o.data),
      md5Hash: createHash("md5").update(o.data).digest("base64"),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const body = await readBody(req);
    const query = Object.fromEntries(url.searchParams.entries());
    const ctype = String(req.headers["content-type"] ?? "");
    let json: unknown;
    let form: Record<string, string> | undefined;
    if (ctype.startsWith("application/json") && body.length > 0) {
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        json = undefined;
      }
    } else if (ctype.startsWith("application/x-www-form-urlencoded")) {
      form = Object.fromEntries(new URLSearchParams(body.toString("utf8")).entries());
    }
    const path = url.pathname;
    this.requests.push({ method: req.method ?? "", path, query, headers: { ...req.headers }, ...(json !== undefined ? { json } : {}), ...(form ? { form } : {}), bytes: body.length });

    const f = this.failures.find((x) => x.times > 0 && x.path.test(path) && (!x.method || x.method === req.method));
    if (f && f.after > 0) f.after--;
    else if (f) {
      f.times--;
      return this.json(res, f.status, f.body);
    }
    if (path === "/v1/token" && req.method === "POST") return this.sts(res, form ?? {});
    if (path.startsWith("/upload/")) return this.upload(req, res, path, query, body);
    const sp = path.replace(/^\/storage\/v1/, "");
    if (sp.startsWith("/b/")) return this.storage(req, res, sp, query);
    if (path.startsWith("/compute/v1/")) return this.compute(req, res, path, query, json);
    const kms = /^\/v1\/(projects\/.+\/cryptoKeys\/[^/:]+):(encrypt|decrypt)$/.exec(path);
    if (kms && req.method === "POST") return this.kms(req, res, kms[1]!, kms[2]!, json as Record<string, string>);
    this.json(res, 404, googleError(404, `fake: no route for ${req.method} ${path}`, "NOT_FOUND", "notFound"));
  }

  // ---- STS ---------------------------------------------------------------------------------------------------------
  private sts(res: ServerResponse, form: Record<string, string>): undefined {
    if (form.grant_type !== "urn:ietf:params:oauth:grant-type:token-exchange" || !form.subject_token || !form.audience?.startsWith("//iam.googleapis.com/")) {
      return this.json(res, 400, { error: "invalid_request", error_description: "fake STS: malformed token exchange" });
    }
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(form.subject_token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
    } catch {
      return this.json(res, 400, { error: "invalid_grant", error_description: "The subject token is not a JWT" });
    }
    const providerName = form.audience.slice("//iam.googleapis.com/".length);
    const own = this.poolConditions.get(providerName);
    if (own === undefined && this.poolConditions.size > 0) {
      return this.json(res, 400, { error: "invalid_target", error_description: "The target service indicated by the \"audience\" parameters is invalid." });
    }
    const condition = own ?? this.attributeCondition;
    if (condition !== undefined && !evaluateAttestationCondition(condition, claims).allowed) {
      // Google's exact response (google-auth-library surfaces it as an OAuthError).
      return this.json(res, 400, { error: "unauthorized_client", error_description: "The given credential is rejected by the attribute condition." });
    }
    const token = `sts-${++this.n}`;
    this.stsTokens.set(token, claims);
    this.stsPools.set(token, providerName.replace(/\/providers\/[^/]+$/, ""));
    this.json(res, 200, { access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "Bearer", expires_in: 3600 });
  }

  /** The `principalSet://` members a federated token belongs to: its pool, with each mapped digest attribute. */
  private principalsOf(bearer: string): string[] {
    const claims = this.stsTokens.get(bearer);
    const pool = this.stsPools.get(bearer);
    if (!claims || !pool) return [];
    const attributes = mapAttributes(claims);
    const out: string[] = [];
    for (const name of ["job_digest", "image_digest"]) {
      const value = attributes[`attribute.${name}`];
      if (value === undefined) continue;
      try {
        out.push(attributePrincipalSet(pool, name, value));
      } catch {
        // an attribute value IAM could not name (not a digest): no member
      }
    }
    return out;
  }

  // ---- KMS ---------------------------------------------------------------------------------------------------------
  private masterKey(keyName: string): Buffer {
    return createHash("sha256").update(`fake-kms:${keyName}`).digest();
  }

  private kms(req: IncomingMessage, res: ServerResponse, keyName: string, verb: string, body: Record<string, string>): undefined {
    if (verb === "encrypt") {
      const plaintext = Buffer.from(body.plaintext ?? "", "base64");
      if (body.plaintextCrc32c !== undefined && Number(body.plaintextCrc32c) !== crc32cU32(plaintext)) {
        return this.json(res, 400, googleError(400, "The checksum in field plaintext_crc32c did not match the data in field plaintext.", "INVALID_ARGUMENT"));
      }
      const iv = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", this.masterKey(keyName), iv);
      const ct = Buffer.concat([iv, c.update(plaintext), c.final(), c.getAuthTag()]);
      const tamper = this.kmsTamperNext;
      if (--this.kmsTamperTimes <= 0) this.kmsTamperNext = undefined;
      return this.json(res, 200, {
        name: `${keyName}/cryptoKeyVersions/1`,
        ciphertext: ct.toString("base64"),
        ciphertextCrc32c: String(tamper === "ciphertextCrc32c" ? crc32cU32(ct) ^ 1 : crc32cU32(ct)),
        verifiedPlaintextCrc32c: tamper === "verifiedPlaintextCrc32c" ? false : body.plaintextCrc32c !== undefined,
        protectionLevel: 1,
      });
    }
    const ct = Buffer.from(body.ciphertext ?? "", "base64");
    if (body.ciphertextCrc32c !== undefined && Number(body.ciphertextCrc32c) !== crc32cU32(ct)) {
      return this.json(res, 400, googleError(400, "The checksum in field ciphertext_crc32c did not match the data in field ciphertext.", "INVALID_ARGUMENT"));
    }
    // IAM: roles/cloudkms.cryptoKeyDecrypter is bound to principalSet://…/attribute.job_digest/<digest> per approved job.
    const bearer = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    const claims = this.stsTokens.get(bearer) as { submods?: { container?: { env_override?: Record<string, string> } } } | undefined;
    const digest = claims?.submods?.container?.env_override?.CLEANROOM_JOB_DIGEST;
    const members = this.kmsPrincipals.get(keyName);
    const allowed = members ? this.principalsOf(bearer).some((m) => members.has(m)) : digest !== undefined && this.kmsApprovals.get(keyName)?.has(digest) === true;
    if (!allowed) {
      return this.json(
        res,
        403,
        googleError(403, `Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '${keyName}' (or it may not exist).`, "PERMISSION_DENIED", "forbidden"),
      );
    }
    try {
      const d = createDecipheriv("aes-256-gcm", this.masterKey(keyName), ct.subarray(0, 12));
      d.setAuthTag(ct.subarray(ct.length - 16));
      const pt = Buffer.concat([d.update(ct.subarray(12, ct.length - 16)), d.final()]);
      const tamper = this.kmsTamperNext === "plaintextCrc32c";
      if (tamper && --this.kmsTamperTimes <= 0) this.kmsTamperNext = undefined;
      this.json(res, 200, { plaintext: pt.toString("base64"), plaintextCrc32c: String(tamper ? crc32cU32(pt) ^ 1 : crc32cU32(pt)), usedPrimary: true, protectionLevel: 1 });
    } catch {
      this.json(res, 400, googleError(400, "Decryption failed: the ciphertext is invalid.", "INVALID_ARGUMENT"));
    }
  }

  // ---- Storage -----------------------------------------------------------------------------------------------------
  private precondition(res: ServerResponse, bucket: string, name: string, ifGenerationMatch: string | undefined): boolean {
    if (ifGenerationMatch === "0" && this.buckets.get(bucket)?.has(name)) {
      this.json(res, 412, googleError(412, "At least one of the pre-conditions you specified did not hold.", "FAILED_PRECONDITION", "conditionNotMet"));
      return false;
    }
    return true;
  }

  /**
   * Stores an uploaded object as GCS does: bytes possibly corrupted on the way (test injection), then refused with
   * 400 when the metadata declared an `md5Hash` or `crc32c` that the received bytes do not have.
   */
  private finishUpload(res: ServerResponse, bucket: string, name: string, received: Buffer, contentType: string, declared: { md5Hash?: string; crc32c?: string }): undefined {
    let data = received;
    if (this.take(this.corruptUploads, name) && data.length > 0) {
      data = Buffer.from(data);
      data[data.length >> 1] = (data[data.length >> 1] as number) ^ 0x01;
    }
    const md5 = createHash("md5").update(data).digest("base64");
    if (declared.md5Hash !== undefined && declared.md5Hash !== md5) {
      return this.json(res, 400, googleError(400, `Provided MD5 hash "${declared.md5Hash}" doesn't match calculated MD5 hash "${md5}".`, "INVALID_ARGUMENT", "invalid"));
    }
    if (declared.crc32c !== undefined && declared.crc32c !== crc32cB64(data)) {
      return this.json(res, 400, googleError(400, `Provided CRC32C "${declared.crc32c}" doesn't match calculated CRC32C "${crc32cB64(data)}".`, "INVALID_ARGUMENT", "invalid"));
    }
    this.putObject(bucket, name, data, contentType);
    const stored = this.bucket(bucket).get(name)!;
    stored.declared = { ...(declared.md5Hash ? { md5Hash: declared.md5Hash } : {}), ...(declared.crc32c ? { crc32c: declared.crc32c } : {}) };
    const resource = this.objectJson(bucket, name, stored);
    if (this.take(this.wrongCrcUploads, name)) resource.crc32c = crc32cB64(Buffer.concat([data, Buffer.from("x")]));
    return this.json(res, 200, resource);
  }

  private upload(req: IncomingMessage, res: ServerResponse, path: string, query: Record<string, string>, body: Buffer): undefined {
    const session = /^\/upload\/session\/([a-z0-9]+)$/.exec(path);
    if (session && req.method === "PUT") return this.sessionPut(req, res, session[1]!, body);
    const m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (!m || req.method !== "POST") return this.json(res, 404, googleError(404, "fake: bad upload path", "NOT_FOUND"));
    const bucket = m[1]!;
    if (query.uploadType === "resumable") {
      const meta = (body.length ? JSON.parse(body.toString("utf8")) : {}) as { name?: string; contentType?: string; md5Hash?: string; crc32c?: string };
      const name = query.name ?? meta.name ?? "";
      if (!this.workloadAllowed(req, bucket, "create", name)) return this.workloadDenied(res, "create", bucket);
      if (!this.precondition(res, bucket, name, query.ifGenerationMatch)) return;
      const id = randomBytes(6).toString("hex");
      this.sessions.set(id, {
        bucket,
        name,
        declared: { ...(meta.md5Hash ? { md5Hash: meta.md5Hash } : {}), ...(meta.crc32c ? { crc32c: meta.crc32c } : {}) },
        ...(query.ifGenerationMatch !== undefined ? { ifGenerationMatch: query.ifGenerationMatch } : {}),
        contentType: String(req.headers["x-upload-content-type"] ?? meta.contentType ?? "application/octet-stream"),
        data: [],
      });
      res.writeHead(200, { location: `${this.url}/upload/session/${id}`, "content-length": "0" });
      return void res.end();
    }
    if (query.uploadType === "multipart") {
      const boundary = /boundary=([^;]+)/.exec(String(req.headers["content-type"]))?.[1]?.replace(/"/g, "");
      if (!boundary) return this.json(res, 400, googleError(400, "fake: no multipart boundary", "INVALID_ARGUMENT"));
      const parts = splitMultipart(body, boundary);
      const meta = JSON.parse(parts[0]?.body.toString("utf8") ?? "{}") as { name?: string; contentType?: string; md5Hash?: string; crc32c?: string };
      const name = query.name ?? meta.name ?? "";
      if (!this.workloadAllowed(req, bucket, "create", name)) return this.workloadDenied(res, "create", bucket);
      if (!this.precondition(res, bucket, name, query.ifGenerationMatch)) return;
      const data = parts[1]?.body ?? Buffer.alloc(0);
      return this.finishUpload(res, bucket, name, data, meta.contentType ?? parts[1]?.contentType ?? "application/octet-stream", meta);
    }
    this.json(res, 400, googleError(400, `fake: uploadType ${query.uploadType} unsupported`, "INVALID_ARGUMENT"));
  }

  private sessionPut(req: IncomingMessage, res: ServerResponse, id: string, body: Buffer): undefined {
    const s = this.sessions.get(id);
    if (!s) return this.json(res, 404, googleError(404, "No such upload session", "NOT_FOUND"));
    const range = String(req.headers["content-range"] ?? "");
    const m = /^bytes (\*|(\d+)-(\d+|\*))\/(\d+|\*)$/.exec(range);
    if (!m) return this.json(res, 400, googleError(400, `fake: bad content-range ${range}`, "INVALID_ARGUMENT"));
    const have = s.data.reduce((n, b) => n + b.length, 0);
    if (m[1] === "*") {
      // Status query.
      if (have === 0) {
        res.writeHead(308, { "content-length": "0" });
      } else res.writeHead(308, { range: `bytes=0-${have - 1}`, "content-length": "0" });
      return void res.end();
    }
    s.data.push(body);
    const total = have + body.length;
    const final = m[3] === "*" || (m[4] !== "*" && total === Number(m[4]));
    if (!final) {
      res.writeHead(308, { range: `bytes=0-${total - 1}`, "content-length": "0" });
      return void res.end();
    }
    if (!this.precondition(res, s.bucket, s.name, s.ifGenerationMatch)) return;
    this.sessions.delete(id);
    return this.finishUpload(res, s.bucket, s.name, Buffer.concat(s.data), s.contentType, s.declared);
  }

  private storage(req: IncomingMessage, res: ServerResponse, p: string, query: Record<string, string>): undefined {
    const rewrite = /^\/b\/([^/]+)\/o\/([^/]+)\/(?:rewriteTo|copyTo)\/b\/([^/]+)\/o\/([^/]+)$/.exec(p);
    if (rewrite && req.method === "POST") {
      const [sb, sn, db, dn] = [rewrite[1]!, decodeURIComponent(rewrite[2]!), rewrite[3]!, decodeURIComponent(rewrite[4]!)];
      if (!this.readAllowed(req, sb)) return this.json(res, 403, googleError(403, `caller does not have storage.objects.get access to the Google Cloud Storage object.`, "PERMISSION_DENIED", "forbidden"));
      if (!this.workloadAllowed(req, sb, "get", sn)) return this.workloadDenied(res, "get", sb);
      if (!this.workloadAllowed(req, db, "create", dn)) return this.workloadDenied(res, "create", db);
      const src = this.buckets.get(sb)?.get(sn);
      if (!src) return this.json(res, 404, googleError(404, "No such object", "NOT_FOUND", "notFound"));
      if (!this.precondition(res, db, dn, query.ifGenerationMatch)) return;
      this.putObject(db, dn, Buffer.from(src.data), src.contentType);
      const resource = this.objectJson(db, dn, this.bucket(db).get(dn)!);
      if (p.includes("/copyTo/")) return this.json(res, 200, resource);
      return this.json(res, 200, { kind: "storage#rewriteResponse", totalBytesRewritten: String(src.data.length), objectSize: String(src.data.length), done: true, resource });
    }
    const list = /^\/b\/([^/]+)\/o$/.exec(p);
    if (list && req.method === "GET") {
      if (!this.readAllowed(req, list[1]!)) return this.json(res, 403, googleError(403, `caller does not have storage.objects.list access to the Google Cloud Storage bucket.`, "PERMISSION_DENIED", "forbidden"));
      const prefix = query.prefix ?? "";
      if (!this.workloadAllowed(req, list[1]!, "list", undefined, prefix)) return this.workloadDenied(res, "list", list[1]!);
      const items = [...(this.buckets.get(list[1]!) ?? new Map<string, StoredObject>()).entries()]
        .filter(([n]) => n.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([n, o]) => this.objectJson(list[1]!, n, o));
      return this.json(res, 200, { kind: "storage#objects", items });
    }
    const obj = /^\/b\/([^/]+)\/o\/(.+)$/.exec(p);
    if (obj) {
      const bucket = obj[1]!;
      const name = decodeURIComponent(obj[2]!);
      if (req.method === "GET" && !this.readAllowed(req, bucket)) {
        return this.json(res, 403, googleError(403, `caller does not have storage.objects.get access to the Google Cloud Storage object.`, "PERMISSION_DENIED", "forbidden"));
      }
      const permission: StoragePermission = req.method === "DELETE" ? "delete" : "get";
      if (!this.workloadAllowed(req, bucket, permission, name)) return this.workloadDenied(res, permission, bucket);
      const o = this.buckets.get(bucket)?.get(name);
      if (!o) return this.json(res, 404, googleError(404, `No such object: ${bucket}/${name}`, "NOT_FOUND", "notFound"));
      if (req.method === "DELETE") {
        this.buckets.get(bucket)?.delete(name);
        res.writeHead(204);
        return void res.end();
      }
      if (query.alt === "media") {
        res.writeHead(200, {
          "content-type": o.contentType,
          "content-length": String(o.data.length),
          "x-goog-hash": `crc32c=${crc32cB64(o.data)},md5=${createHash("md5").update(o.data).digest("base64")}`,
          "x-goog-stored-content-encoding": "identity",
          "x-goog-generation": String(o.generation),
        });
        let bytes = o.data;
        if (this.take(this.corruptDownloads, name) && bytes.length > 0) {
          bytes = Buffer.from(bytes);
          bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0x01;
        }
        return void res.end(bytes);
      }
      return this.json(res, 200, this.objectJson(bucket, name, o));
    }
    this.json(res, 404, googleError(404, `fake: no storage route ${p}`, "NOT_FOUND"));
  }

  // ---- Compute -----------------------------------------------------------------------------------------------------
  private operation(project: string, zone: string, target: string, kind: string, error?: { code: string; message: string; httpStatus: number }): Record<string, unknown> {
    const name = `operation-${++this.n}`;
    const op: Record<string, unknown> = {
      kind: "compute#operation",
      name,
      operationType: kind,
      targetLink: target,
      zone: `https://www.googleapis.com/compute/v1/projects/${project}/zones/${zone}`,
      status: "RUNNING",
    };
    this.ops.set(name, {
      ...op,
      status: "DONE",
      ...(error ? { error: { errors: [{ code: error.code, message: error.message }] }, httpErrorStatusCode: error.httpStatus, httpErrorMessage: "FORBIDDEN" } : {}),
    });
    return op;
  }

  private compute(req: IncomingMessage, res: ServerResponse, path: string, query: Record<string, string>, json: unknown): undefined {
    const wait = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations\/([^/]+)(\/wait)?$/.exec(path);
    if (wait) {
      const op = this.ops.get(wait[3]!);
      if (!op) return this.json(res, 404, googleError(404, `The resource 'operations/${wait[3]}' was not found`, "NOT_FOUND", "notFound"));
      return this.json(res, 200, op);
    }
    const ins = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances(?:\/([^/]+))?$/.exec(path);
    if (!ins) return this.json(res, 404, googleError(404, `fake: no compute route ${path}`, "NOT_FOUND"));
    const [project, zone, name] = [ins[1]!, ins[2]!, ins[3]];
    if (req.method === "POST" && !name) {
      const body = (json ?? {}) as { name?: string; metadata?: { items?: { key: string; value: string }[] }; labels?: Record<string, string> };
      const target = `https://www.googleapis.com/compute/v1/projects/${project}/zones/${zone}/instances/${body.name}`;
      if (this.instanceNamePrefix !== undefined && !(body.name ?? "").startsWith(this.instanceNamePrefix)) {
        return this.json(
          res,
          403,
          googleError(403, `Required 'compute.instances.create' permission for 'projects/${project}/zones/${zone}/instances/${body.name}'`, "PERMISSION_DENIED", "forbidden"),
        );
      }
      if (this.insertOperationError) return this.json(res, 200, this.operation(project, zone, target, "insert", this.insertOperationError));
      if (this.instances.has(body.name ?? "")) {
        return this.json(res, 409, googleError(409, `The resource '${target}' already exists`, "ALREADY_EXISTS", "alreadyExists"));
      }
      const vm: FakeInstance = {
        name: body.name ?? "",
        zone,
        project,
        status: "PROVISIONING",
        metadata: Object.fromEntries((body.metadata?.items ?? []).map((i) => [i.key, i.value])),
        labels: body.labels ?? {},
        sourceInstanceTemplate: query.sourceInstanceTemplate ?? "",
        body: (json ?? {}) as Record<string, unknown>,
      };
      this.instances.set(vm.name, vm);
      const op = this.operation(project, zone, target, "insert");
      setImmediate(() => this.onInsert?.(vm));
      return this.json(res, 200, op);
    }
    const vm = name ? this.instances.get(name) : undefined;
    if (!vm) {
      return this.json(res, 404, googleError(404, `The resource 'projects/${project}/zones/${zone}/instances/${name}' was not found`, "NOT_FOUND", "notFound"));
    }
    if (req.method === "GET") return this.json(res, 200, { kind: "compute#instance", name: vm.name, status: vm.status, labels: vm.labels });
    if (req.method === "DELETE") {
      this.instances.delete(vm.name);
      return this.json(res, 200, this.operation(project, zone, `projects/${project}/zones/${zone}/instances/${vm.name}`, "delete"));
    }
    this.json(res, 405, googleError(405, "fake: method not allowed", "INVALID_ARGUMENT"));
  }
}

/** The object permissions the fake's bucket IAM distinguishes. */
type StoragePermission = "get" | "list" | "create" | "delete";

/** What the predefined storage roles grant, of those permissions (objectCreator has neither get nor delete). */
const ROLE_PERMISSIONS: Readonly<Record<string, readonly StoragePermission[]>> = {
  "roles/storage.objectViewer": ["get", "list"],
  "roles/storage.objectCreator": ["create"],
  "roles/storage.objectUser": ["get", "list", "create", "delete"],
  "roles/storage.objectAdmin": ["get", "list", "create", "delete"],
  "roles/storage.admin": ["get", "list", "create", "delete"],
};

/**
 * Evaluates a storage IAM condition made of `||`-joined clauses of the two forms the components write:
 * `resource.name.startsWith("…")` and `api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("…")`.
 * Any other clause fails closed (the fake cannot judge it, so it admits nothing through it).
 */
export function conditionHolds(expression: string, resourceName: string, listPrefix?: string): boolean {
  return expression.split("||").some((raw) => {
    const clause = raw.trim();
    const name = /^resource\.name\.startsWith\((["'])([^"']*)\1\)$/.exec(clause);
    if (name) return resourceName.startsWith(name[2]!);
    const list = /^api\.getAttribute\((["'])storage\.googleapis\.com\/objectListPrefix\1,\s*(["'])\2\)\.startsWith\((["'])([^"']*)\3\)$/.exec(clause);
    if (list) return listPrefix?.startsWith(list[4]!) === true;
    return false;
  });
}

function splitMultipart(body: Buffer, boundary: string): { contentType?: string; body: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { contentType?: string; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after delimiter, drop CRLF before next
    const sep = part.indexOf("\r\n\r\n");
    const head = part.subarray(0, sep).toString("utf8");
    const ct = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1];
    parts.push({ ...(ct ? { contentType: ct } : {}), body: part.subarray(sep + 4) });
    pos = next;
  }
  return parts;
}
