/**
 * The stage-2 noise protocol (DpNoiseServer), in process, against a real privacy ledger in a temporary directory: a
 * request is spent from the dataset's ledger (bound to the job by an attestation token over the entry) before any noise
 * exists, the noise has the variance the spend paid for, and a request the budget or the job's inputs do not allow gets
 * an error answer and costs nothing.
 */
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import fsPromises = require("node:fs/promises");
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { providerSigner, loadOrCreateLedgerKey } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { type LedgerState, MAX_BUDGET_EPSILON, PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { DP_NOISE_DIR, DpNoiseServer } from "../../src/runtime/executor/dp-noise.js";
import { AUDIENCE, room } from "./fake-platform.js";

const JOB = { jobId: "job-1", jobDigest: `sha256:${"1".repeat(64)}` };
const BUDGET = { epsilon: 1, delta: 1e-9 };

interface Answer {
  noise?: number[];
  sd?: number;
  rho?: number;
  entry?: string;
  seq?: number;
  error?: { code: string; message: string };
}


/**
 * Writes a noise request the way a job does (temporary name, then rename) into `outputDir`'s request directory and
 * waits for its answer: up to 30 s, as a million draws written as JSON took over 4 s on the 2-core machine at load 15.
 */
async function askIn(outputDir: string, id: string, req: unknown): Promise<Answer> {
  const d = join(outputDir, DP_NOISE_DIR);
  await writeFile(join(d, `.${id}.tmp`), typeof req === "string" ? req : JSON.stringify(req));
  await rename(join(d, `.${id}.tmp`), join(d, `request-${id}.json`));
  const response = join(d, `response-${id}.json`);
  for (let i = 0; i < 3000 && !existsSync(response); i++) await new Promise((r) => setTimeout(r, 10));
  return JSON.parse(await readFile(response, "utf8")) as Answer;
}
describe("executor/DpNoiseServer", function () {
  this.timeout(20_000);
  let dir: string;
  let outputDir: string;
  let server: DpNoiseServer;
  let tokens: { audience: string; nonces: readonly string[] }[];
  const stores = new Map<string, DirectoryLedgerStore>();

  async function ledgerState(dataset: string): Promise<LedgerState> {
    const { key } = await loadOrCreateLedgerKey(join(dir, "provider.key"));
    return (await PrivacyLedger.open({ store: stores.get(dataset)!, dataset, signer: providerSigner(key) })).state();
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "dp-noise-"));
    outputDir = join(dir, "output");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(outputDir);
    const { key } = await loadOrCreateLedgerKey(join(dir, "provider.key"));
    for (const dataset of ["claims", "visits"]) {
      stores.set(dataset, new DirectoryLedgerStore(join(dir, `ledger-${dataset}`)));
      await PrivacyLedger.open({ store: stores.get(dataset)!, dataset, budget: BUDGET, signer: providerSigner(key) });
    }
    tokens = [];
    server = await DpNoiseServer.start({
      descriptor: room([]),
      outputDir,
      inputs: [
        { provider: "acme", dataset: "claims" },
        { provider: "beta", dataset: "visits" },
      ],
      job: JOB,
      requestToken: async (audience, nonces) => {
        tokens.push({ audience, nonces });
        return `token-for-${nonces[0]}`;
      },
      ledgerStore: (provider, dataset) => {
        expect(provider.name).to.equal(dataset === "claims" ? "acme" : "beta");
        return stores.get(dataset)!;
      },
    });
  });
  afterEach(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a request as a job does (temporary name, then rename) and waits for its answer. */
  const ask = (id: string, req: unknown): Promise<Answer> => askIn(outputDir, id, req);

  it("GIVEN the server started THEN the request directory exists inside the output directory, writable by the job", () => {
    const st = statSync(join(outputDir, DP_NOISE_DIR));
    expect(st.isDirectory()).to.equal(true);
    expect(st.mode & 0o777).to.equal(0o777);
  });

  it("GIVEN a request by ε THEN the spend is recorded first, bound to the job by a token over the entry, and the noise has the variance paid for", async () => {
    const a = await ask("q1", { provider: "acme", dataset: "claims", count: 4000, sensitivity: 2, epsilon: 0.5 });
    expect(a.error).to.equal(undefined);
    const wanted = cdpRho(0.5, 1e-9);
    // The variance is rounded up: the recorded ρ is at most what was asked, and barely less.
    expect(a.rho).to.be.at.most(wanted).and.above(wanted * 0.999);
    expect(a.sd! ** 2).to.be.at.least((2 * 2) / (2 * wanted)).and.below((2 * 2) / (2 * wanted) * 1.001);
    expect(a.noise).to.have.length(4000);
    expect(a.noise!.every((x) => Number.isInteger(x))).to.equal(true);
    // Empirical variance within 15 % of sd²: at n = 4000 its relative standard error is about 2.3 %, so a correct sampler
    // fails this with a probability far below 1e-9; noise of the wrong scale (e.g. as for Δ = 1, a quarter) fails it.
    const n = a.noise!.length;
    const mean = a.noise!.reduce((s, x) => s + x, 0) / n;
    const variance = a.noise!.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
    expect(variance / a.sd! ** 2).to.be.within(0.85, 1.15);

    const state = await ledgerState("claims");
    const spend = state.entries[1] as unknown as Record<string, unknown>;
    expect(spend).to.include({ kind: "spend", stage: "stage2", mechanism: "gaussian", rho: a.rho, epsilon: 0.5, delta: 1e-9 });
    expect(spend.detail).to.deep.equal({ count: 4000, sensitivity: 2 });
    expect(spend.job).to.deep.equal(JOB);
    expect(state.hashes[1]).to.equal(a.entry);
    expect(a.seq).to.equal(1);
    expect(tokens).to.have.length(1);
    expect(tokens[0]!.audience).to.equal(AUDIENCE);
    expect(tokens[0]!.nonces).to.have.length(1);
    expect(tokens[0]!.nonces[0]).to.match(/^[0-9a-f]{64}$/);
    expect((spend.signature as Record<string, unknown>).alg).to.equal("attestation");
    expect((spend.signature as Record<string, unknown>).token).to.equal(`token-for-${tokens[0]!.nonces[0]}`);
    expect(server.spends).to.deep.equal([{ provider: "acme", dataset: "claims", seq: 1, entry: a.entry, rho: a.rho, count: 4000, sensitivity: 2 }]);
  });

  it("GIVEN a request by ρ THEN ρ is spent as such (no ε/δ recorded) from that dataset's own ledger", async () => {
    const a = await ask("q2", { provider: "beta", dataset: "visits", count: 3, sensitivity: 1, rho: 0.01, epsilon: 99 });
    expect(a.error).to.equal(undefined);
    expect(a.rho).to.be.at.most(0.01).and.above(0.00999);
    expect(a.noise).to.have.length(3);
    const spend = (await ledgerState("visits")).entries[1] as unknown as Record<string, unknown>;
    expect(spend).to.include({ kind: "spend", rho: a.rho });
    expect(spend).not.to.have.any.keys("epsilon", "delta");
    expect((await ledgerState("claims")).entries).to.have.length(1);
  });

  it("GIVEN a δ of its own THEN that δ is used and recorded", async () => {
    const a = await ask("q3", { provider: "acme", dataset: "claims", count: 1, sensitivity: 1, epsilon: 0.5, delta: 1e-6 });
    expect(a.rho).to.be.at.most(cdpRho(0.5, 1e-6)).and.above(cdpRho(0.5, 1e-6) * 0.999);
    expect((await ledgerState("claims")).entries[1]).to.include({ delta: 1e-6 });
  });

  it("GIVEN a request over the remaining budget THEN budget-exceeded, no noise, nothing spent", async () => {
    const a = await ask("big", { provider: "acme", dataset: "claims", count: 1, sensitivity: 1, rho: 10 });
    expect(a.error?.code).to.equal("budget-exceeded");
    expect(a).not.to.have.property("noise");
    expect(server.spends).to.deep.equal([]);
    expect((await ledgerState("claims")).entries).to.have.length(1);
  });

  const BASE = { provider: "acme", dataset: "claims", count: 1, sensitivity: 1, epsilon: 0.1 };
  for (const [what, req, why] of [
    ["a dataset the job does not read", { ...BASE, dataset: "prices" }, "is not an input of this job"],
    ["a provider of another dataset", { ...BASE, provider: "beta" }, "is not an input of this job"],
    ["no provider", { ...BASE, provider: undefined }, "provider and dataset are required"],
    ["a dataset that is not a string", { ...BASE, dataset: 7 }, "provider and dataset are required"],
    ["count 0", { ...BASE, count: 0 }, "count must be an integer"],
    ["count over 1,000,000", { ...BASE, count: 1_000_001 }, "count must be an integer"],
    ["a fractional count", { ...BASE, count: 1.5 }, "count must be an integer"],
    ["sensitivity 0", { ...BASE, sensitivity: 0 }, "sensitivity must be a positive number"],
    ["an infinite sensitivity", { ...BASE, sensitivity: "Infinity" }, "sensitivity must be a positive number"],
    ["a sensitivity given as text", { ...BASE, sensitivity: "1" }, "sensitivity must be a positive number"],
    ["ε 0", { ...BASE, epsilon: 0 }, "epsilon must be > 0"],
    ["ε over the largest budget", { ...BASE, epsilon: 1e6 }, "epsilon must be > 0"],
    ["ε as text", { ...BASE, epsilon: "0.1" }, "epsilon must be > 0"],
    ["no ε and no ρ", { ...BASE, epsilon: undefined }, "epsilon must be > 0"],
    ["δ of 0.001", { ...BASE, delta: 0.001 }, "delta must be > 0 and < 0.001"],
    ["δ 0", { ...BASE, delta: 0 }, "delta must be > 0 and < 0.001"],
    ["δ as text", { ...BASE, delta: "1e-9" }, "delta must be > 0 and < 0.001"],
    ["ρ 0", { ...BASE, rho: 0 }, "rho must be a positive number"],
    ["ρ as text", { ...BASE, rho: "0.1" }, "rho must be a positive number"],
    ["JSON null", null, "a noise request is a JSON object"],
    ["a JSON number", 5, "a noise request is a JSON object"],
  ] as const) {
    it(`GIVEN a request with ${what} THEN invalid-argument saying what is wrong, nothing spent`, async () => {
      const a = await ask("bad", req === null ? "null" : typeof req === "number" ? "5" : JSON.stringify(req).replace('"Infinity"', "1e999"));
      expect(a.error?.code, JSON.stringify(a)).to.equal("invalid-argument");
      // The job reads the message to fix its request; it comes from the request's own check, not a later layer.
      expect(a.error?.message).to.include(why);
      if (req !== null && typeof req === "object") expect(a.error?.message.startsWith("Invalid noise request: "), a.error?.message).to.equal(true);
      expect(server.spends).to.deep.equal([]);
      expect(tokens).to.deep.equal([]);
    });
  }

  it("GIVEN the largest count, ε and δ a request may name THEN accepted (the largest ε then exceeds this budget)", async () => {
    const a = await ask("edge", { ...BASE, count: 1, epsilon: 0.01, delta: 0.000999 });
    expect(a.error).to.equal(undefined);
    expect((await ask("edge1", { ...BASE, epsilon: MAX_BUDGET_EPSILON })).error?.code).to.equal("budget-exceeded");
    const b = await ask("edge2", { provider: "beta", dataset: "visits", count: 1_000_000, sensitivity: 1e-3, rho: 1e-6 });
    expect(b.error, JSON.stringify(b.error)).to.equal(undefined);
    expect(b.noise).to.have.length(1_000_000);
  });

  it("GIVEN a request that is not JSON THEN invalid-argument", async () => {
    const a = await ask("broken", "{not json");
    expect(a.error?.code).to.equal("invalid-argument");
    expect(a.error?.message).to.include("the noise request is not JSON");
  });

  it("GIVEN the same request id written again after its answer THEN it is not served (or spent) twice", async () => {
    await ask("once", BASE);
    const d = join(outputDir, DP_NOISE_DIR);
    await rm(join(d, "response-once.json"));
    await writeFile(join(d, "request-once.json"), JSON.stringify(BASE));
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(join(d, "response-once.json"))).to.equal(false);
    expect(server.spends).to.have.length(1);
  });

  it("GIVEN files that are not requests (other names) THEN they are left unanswered", async () => {
    const d = join(outputDir, DP_NOISE_DIR);
    for (const name of ["request-UPPER.json", "request-.json", "xrequest-a.json", "request-a.json.tmp", `request-${"a".repeat(65)}.json`]) await writeFile(join(d, name), JSON.stringify(BASE));
    await ask("real", BASE);
    expect((await readdir(d)).filter((n) => n.startsWith("response-"))).to.deep.equal(["response-real.json"]);
    expect(server.spends).to.have.length(1);
  });

  it("GIVEN two requests at once THEN both answered, spent in id order", async () => {
    const d = join(outputDir, DP_NOISE_DIR);
    await writeFile(join(d, "request-b.json"), JSON.stringify({ ...BASE, count: 2 }));
    await writeFile(join(d, "request-a.json"), JSON.stringify({ ...BASE, count: 1 }));
    const a = await ask("c", { ...BASE, count: 3 });
    expect(a.seq).to.equal(3);
    expect(server.spends.map((s) => s.count)).to.deep.equal([1, 2, 3]);
  });

  it("GIVEN twenty requests appearing at once (the directory lists them in its own order) THEN each is answered, and spent in id order", async () => {
    // Prepared elsewhere and moved in with one rename (onto the empty request directory): one poll sees them all.
    const d = join(outputDir, DP_NOISE_DIR);
    const staged = join(dir, "staged");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(staged);
    const ids = Array.from({ length: 20 }, (_, i) => `r${String(i + 1).padStart(2, "0")}`);
    // Written in a scrambled order (neither sorted nor reversed).
    for (const i of [7, 19, 2, 13, 0, 11, 5, 17, 9, 3, 15, 1, 18, 6, 12, 4, 16, 10, 14, 8]) {
      await writeFile(join(staged, `request-${ids[i]}.json`), JSON.stringify({ ...BASE, count: i + 1 }));
    }
    await rename(staged, d);
    for (let i = 0; i < 1000 && server.spends.length < 20; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.spends.map((s) => s.count)).to.deep.equal(ids.map((_, i) => i + 1));
    expect(server.spends.map((s) => s.seq)).to.deep.equal(ids.map((_, i) => i + 1));
  });

  it("GIVEN eight requests pending at once, listed out of name order, and budget for three THEN the first three by id are served and the other five refused", async () => {
    // Node does not promise readdir's order (libuv happens to sort it on Unix, so a real listing cannot show this): the
    // OS boundary (fs/promises' readdir, which the server calls through the module object) lists this request
    // directory in reverse name order, as a platform that does not sort may.
    const d = join(outputDir, DP_NOISE_DIR);
    const staged = join(dir, "staged");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(staged);
    const ids = ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"];
    // Each asks 30 % of the budget's ρ (the rounded spend is barely less): three fit, a fourth does not.
    const rho = cdpRho(BUDGET.epsilon, BUDGET.delta) * 0.3;
    // Created in reverse name order, so a listing in creation order is not sorted either.
    for (const id of [...ids].reverse()) await writeFile(join(staged, `request-${id}.json`), JSON.stringify({ ...BASE, epsilon: undefined, rho }));
    const realReaddir = fsPromises.readdir;
    const listed: string[][] = [];
    fsPromises.readdir = (async (path: string, options?: unknown) => {
      const names = (await realReaddir(path, options as undefined)) as string[];
      if (path !== d) return names;
      const reversed = [...names].sort().reverse();
      listed.push(reversed);
      return reversed;
    }) as typeof realReaddir;
    try {
      // Moved in with one rename (onto the empty request directory): one poll sees them all.
      await rename(staged, d);
      for (let i = 0; i < 1000 && !ids.every((id) => existsSync(join(d, `response-${id}.json`))); i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      fsPromises.readdir = realReaddir;
    }
    // The poll that answered saw all eight, in reverse name order.
    expect(listed.some((l) => l.filter((n) => n.startsWith("request-")).length === 8)).to.equal(true);
    const answers = await Promise.all(ids.map(async (id) => JSON.parse(await readFile(join(d, `response-${id}.json`), "utf8")) as Answer));
    expect(answers.map((a) => (a.error ? a.error.code : "noise"))).to.deep.equal(["noise", "noise", "noise", ...Array(5).fill("budget-exceeded")]);
    expect(answers.slice(0, 3).map((a) => a.seq)).to.deep.equal([1, 2, 3]);
    expect(server.spends.map((s) => s.seq)).to.deep.equal([1, 2, 3]);
  });

  for (const umask of [0o077, 0o000]) {
    it(`GIVEN the executor's umask is 0o${umask.toString(8).padStart(3, "0")} THEN the answer is still mode 0o644: readable by the job (another user), writable by none but the executor`, async () => {
      const old = process.umask(umask);
      let a: Answer;
      try {
        a = await ask("umask", BASE);
      } finally {
        process.umask(old);
      }
      expect(a.error).to.equal(undefined);
      expect(statSync(join(outputDir, DP_NOISE_DIR, "response-umask.json")).mode & 0o777).to.equal(0o644);
    });
  }

  it("GIVEN the job removed the request directory THEN serving goes on quietly (no failed poll) and stop() succeeds", async () => {
    // A poll that failed would be a rejected promise nobody awaits (the timer started it).
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await rm(join(outputDir, DP_NOISE_DIR), { recursive: true });
      // Several polls of a directory that is gone.
      await new Promise((r) => setTimeout(r, 150));
      await server.stop();
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).to.deep.equal([]);
    expect(existsSync(join(outputDir, DP_NOISE_DIR))).to.equal(false);
    expect(server.spends).to.deep.equal([]);
  });

  it("GIVEN a ledger store that fails with a plain error THEN the answer is an internal error, and nothing is spent", async () => {
    const { mkdir } = await import("node:fs/promises");
    const otherOutput = join(dir, "output-2");
    await mkdir(otherOutput);
    const failing = await DpNoiseServer.start({
      descriptor: room([]),
      outputDir: otherOutput,
      inputs: [{ provider: "acme", dataset: "claims" }],
      job: JOB,
      requestToken: async () => "unused",
      ledgerStore: () => {
        throw new Error("the disk is gone");
      },
    });
    try {
      const a = await askIn(otherOutput, "x", BASE);
      expect(a.error?.code).to.equal("internal");
      expect(a).not.to.have.property("noise");
      expect(failing.spends).to.deep.equal([]);
    } finally {
      await failing.stop();
    }
  });

  it("GIVEN stop THEN the request directory is gone with its requests and answers (never an output), and nothing more is served", async () => {
    await ask("before-stop", BASE);
    await server.stop();
    expect(existsSync(join(outputDir, DP_NOISE_DIR))).to.equal(false);
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(outputDir, DP_NOISE_DIR));
    await writeFile(join(outputDir, DP_NOISE_DIR, "request-late.json"), JSON.stringify(BASE));
    await new Promise((r) => setTimeout(r, 150));
    expect(existsSync(join(outputDir, DP_NOISE_DIR, "response-late.json"))).to.equal(false);
  });
});
