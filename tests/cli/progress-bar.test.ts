/**
 * The transfer progress bar of `cleanroom data provision` (cli/progress-bar.ts), drawn on a fake stream with a fake
 * clock: redrawn in place on a terminal, a plain line per 5 % otherwise, silent when quiet.
 */
import { expect } from "chai";
import { TransferProgress } from "../../src/runtime/cli/progress-bar.js";

const MIB = 1024 * 1024;

function fakeStream(isTTY: boolean): { isTTY: boolean; text: string; write(t: string): boolean } {
  return {
    isTTY,
    text: "",
    write(t: string) {
      this.text += t;
      return true;
    },
  };
}

describe("cli/progress-bar: transfer progress on stderr", () => {
  it("GIVEN no terminal and a known total WHEN 1 MiB steps of 100 MiB THEN one plain line per 5 % (21 lines, 0 % to 100 %), with throughput", () => {
    const s = fakeStream(false);
    let t = 0;
    const bar = new TransferProgress({ stream: s, now: () => t });
    for (let n = 0; n <= 100; n++) {
      t = n * 10; // 1 MiB per 10 ms: 100 MiB/s
      bar.update("encrypt", n * MIB, 100 * MIB);
    }
    bar.done();
    const lines = s.text.trimEnd().split("\n");
    expect(lines).to.have.length(21);
    expect(lines[0]).to.match(/^Encrypting \[-{24}\]\s+0% 0\.0\/100\.0 MiB/);
    expect(lines[10]).to.match(/^Encrypting \[#{12}-{12}\]\s+50% 50\.0\/100\.0 MiB {2}100\.0 MiB\/s$/);
    expect(lines[20]).to.match(/^Encrypting \[#{24}\] 100% 100\.0\/100\.0 MiB {2}100\.0 MiB\/s$/);
    expect(s.text).not.to.contain("\r");
  });

  it("GIVEN no terminal and no total WHEN bytes flow THEN a line every 64 MiB, without percent", () => {
    const s = fakeStream(false);
    const bar = new TransferProgress({ stream: s, now: () => 1000 });
    for (let n = 0; n <= 200; n++) bar.update("upload", n * MIB);
    // The clock stands still: the rate is over the 1 ms floor (bytes per ms), which keeps it finite.
    expect(s.text.trimEnd().split("\n")).to.deep.equal([0, 64, 128, 192].map((m) => `Uploading  ${m.toFixed(1)} MiB  ${(m * 1000).toFixed(1)} MiB/s`));
  });

  it("GIVEN a terminal WHEN updates come faster than 10 per second THEN one line is redrawn in place at most every 100 ms, and a new phase starts a new line", () => {
    const s = fakeStream(true);
    let t = 0;
    const bar = new TransferProgress({ stream: s, now: () => t });
    for (let i = 0; i < 50; i++) {
      t = i * 10;
      bar.update("encrypt", i * MIB, 50 * MIB);
    }
    const redraws = s.text.split("\r").length - 1;
    expect(redraws).to.be.within(5, 6);
    expect(s.text).not.to.contain("\n");
    t = 1000;
    bar.update("upload", 0, 10 * MIB);
    expect(s.text).to.contain("\u001b[K\n\rUploading");
    t = 2000;
    bar.update("upload", 10 * MIB, 10 * MIB);
    bar.done();
    expect(s.text.endsWith("Uploading  [########################] 100% 10.0/10.0 MiB  10.0 MiB/s\u001b[K\n")).to.equal(true);
  });

  it("GIVEN quiet (--json) WHEN updated THEN nothing is written", () => {
    const s = fakeStream(true);
    const bar = new TransferProgress({ stream: s, quiet: true });
    bar.update("encrypt", MIB, 2 * MIB);
    bar.done();
    expect(s.text).to.equal("");
  });
});
