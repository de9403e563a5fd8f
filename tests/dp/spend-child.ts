// A separate process that spends from a ledger (the concurrency test starts several at once): a DP count query of
// ρ = argv[3] on argv[4], recorded in the ledger directory argv[2]. Prints "ok" or the error code.
import { CleanRoomError } from "../../src/core/errors.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { dpQuery } from "../../src/runtime/dp/query.js";
import { readFileSync } from "node:fs";

async function main(): Promise<void> {
  const [ledger, rho, input, schema] = process.argv.slice(2);
  const { key } = await loadOrCreateLedgerKey();
  try {
    await dpQuery({ input, schema: JSON.parse(readFileSync(schema, "utf8")), kind: "count", rho: Number(rho), ledger: { store: new DirectoryLedgerStore(ledger), signer: providerSigner(key) } });
    process.stdout.write("ok\n");
  } catch (err) {
    process.stdout.write(`${err instanceof CleanRoomError ? err.code : String(err)}\n`);
    process.exitCode = 1;
  }
}
void main();
