/**
 * The workspace page's stage-1 table on a local room: after `cleanroom data provision`, each dataset's artefact with
 * the ε its ledger has spent and has left, the same figures `cleanroom dp ledger show --json` gives; and the public ε
 * summary (`privacy.json`) written beside the artefact.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { cdpEps } from "../../src/runtime/dp/accounting.js";
import type { Stage1PrivacySummary } from "../../src/runtime/provision/stage1.js";
import { type RunningConsole, startConsole } from "../../src/runtime/console/server.js";
import { cliInProcess } from "../cli-harness.js";
import { raw, signIn } from "./http.js";
import { type ConsoleRoom, QUICKSTART, startRoom } from "./room.js";

interface ShownLedger {
  spent: string;
  left: string;
}

/** The ε spent and ε left cells of a dataset's row of the workspace page. */
async function shown(c: RunningConsole, dataset: string): Promise<ShownLedger & { row: string }> {
  const s = await signIn(c);
  const page = await raw({ port: c.port! }, "GET", "/workspace", { host: s.host, cookie: s.cookie });
  expect(page.status).to.equal(200);
  const row = new RegExp(`<tr data-dataset="${dataset}">([\\s\\S]*?)</tr>`).exec(page.body)?.[1] ?? "";
  const spent = /<td data-epsilon="spent">([^<]*)<\/td>/.exec(row)?.[1] ?? "";
  const left = /<td data-epsilon="left">([0-9.]*)/.exec(row)?.[1] ?? "";
  return { row, spent, left };
}

/** What `cleanroom dp ledger show --json` says, rounded as the page rounds. */
async function ledgerShow(ledger: string): Promise<ShownLedger> {
  const r = await cliInProcess(["dp", "ledger", "show", ledger, "--json"]);
  expect(r.code, r.stderr).to.equal(0);
  const l = JSON.parse(r.stdout) as { spent: { epsilon: number }; remainingRho: number; budget: { delta: number } };
  return { spent: l.spent.epsilon.toFixed(3), left: (l.remainingRho > 0 ? cdpEps(l.remainingRho, l.budget.delta) : 0).toFixed(3) };
}

describe("console: the stage-1 table shows what the privacy ledger has spent and left (local room)", function () {
  this.timeout(180_000);
  let room: ConsoleRoom;
  let ds: RunningConsole;
  let ledger: string;
  const csv = join(QUICKSTART, "data", "insurance.csv");

  before(async () => {
    room = await startRoom("console-stage1", { provision: false });
    ledger = join(room.dir, "buckets", "providers", "insurer", ".dp-ledger", "claims");
    ds = await startConsole({ room: room.descriptorPath, workspace: room.workspace, stateDir: join(room.work, "ds") });
  });
  after(async () => {
    await ds?.close();
    await room?.down();
  });

  it("GIVEN a dataset not provisioned yet WHEN the workspace page opens THEN it shows no artefact and no ε figures", async () => {
    const s = await shown(ds, "insurer/claims");
    expect(s.row).to.include("not produced yet");
    expect(s.spent).to.equal("");
    expect(s.row).to.match(/<td>—<\/td><td>—<\/td>/);
  });

  it("GIVEN `cleanroom data provision` WHEN the workspace page opens THEN the artefact is listed with the ε spent and left that `dp ledger show --json` gives", async () => {
    const r = await cliInProcess(["data", "provision", "--room", room.descriptorPath, "--provider", "insurer", "--dataset", "claims", "--csv", csv]);
    expect(r.code, r.stderr).to.equal(0);
    const s = await shown(ds, "insurer/claims");
    expect(s.row).to.include('href="/stage1/insurer/claims/synthetic.csv"');
    const show = await ledgerShow(ledger);
    expect({ spent: s.spent, left: s.left }).to.deep.equal(show);
    expect(show.spent).to.equal("1.000");
  });

  it("GIVEN the release WHEN provisioned THEN privacy.json beside the artefact publishes the release's ε and the ledger's figures, and the console serves it", async () => {
    const summary = JSON.parse(await readFile(join(room.dir, "buckets", "stage1", "insurer", "claims", "privacy.json"), "utf8")) as Stage1PrivacySummary;
    const show = await ledgerShow(ledger);
    expect(summary).to.include({ format: "cleanroom-stage1-privacy/1", provider: "insurer", dataset: "claims", method: "mst" });
    expect(summary.artefact.name).to.equal("synthetic.csv");
    expect(summary.release).to.include({ epsilon: 1, delta: 1e-9, ledgerEntry: 1 });
    expect({ spent: summary.ledger.spentEpsilon.toFixed(3), left: summary.ledger.leftEpsilon.toFixed(3) }).to.deep.equal(show);
    expect(summary.ledger).to.include({ budgetEpsilon: 1, spends: 1, entries: 3 });
    const r = await cliInProcess(["dp", "ledger", "show", ledger, "--json"]);
    expect(summary.ledger.head).to.equal((JSON.parse(r.stdout) as { head: string }).head);
    // The data scientist's console serves it (only stage-1 names are served).
    const s = await signIn(ds);
    const got = await raw({ port: ds.port! }, "GET", "/stage1/insurer/claims/privacy.json", { host: s.host, cookie: s.cookie });
    expect(got.status).to.equal(200);
    expect(JSON.parse(got.body)).to.deep.equal(summary);
  });

  it("GIVEN a later spend (a DP query after a budget change) WHEN the page opens THEN it shows the ledger as it now is, not the published snapshot", async () => {
    const r = await cliInProcess([
      "dp", "query", "count", "--input", csv, "--schema", join(QUICKSTART, "insurance.schema.json"), "--epsilon", "0.5",
      "--ledger", ledger, "--budget-epsilon", "3", "--force-budget-change",
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const s = await shown(ds, "insurer/claims");
    const show = await ledgerShow(ledger);
    expect({ spent: s.spent, left: s.left }).to.deep.equal(show);
    expect(Number(show.left)).to.be.greaterThan(0.5);
    expect(s.row).to.not.include("as published");
  });
});
