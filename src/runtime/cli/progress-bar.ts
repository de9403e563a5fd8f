/**
 * A transfer progress bar for long uploads (`cleanroom data provision`): bytes done, percent when the total is known,
 * and throughput, on stderr so that stdout stays the command's result.
 *
 * On a terminal one line is redrawn in place (at most ten times a second); otherwise (a log, CI) a plain line is
 * printed at every 5 % step, or every 64 MiB when the total is unknown, so logs stay short. `--json` runs are quiet.
 */

/** What a transfer is doing: encrypting the plaintext, or uploading the ciphertext (GCP). */
export type TransferPhase = "encrypt" | "upload";

/** Where and how the bar draws. */
export interface ProgressBarOptions {
  /** The stream drawn on. @default process.stderr */
  readonly stream?: { readonly isTTY?: boolean; write(text: string): unknown };
  /** Print nothing (`--json`). @default false */
  readonly quiet?: boolean;
  /** Milliseconds since some origin (tests pass a fake clock). @default - performance.now() */
  readonly now?: () => number;
}

const MIB = 1024 * 1024;
const LABELS: Record<TransferPhase, string> = { encrypt: "Encrypting", upload: "Uploading" };
const WIDTH = 24;

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

/**
 * Progress of the phases of one provisioning, one bar per phase.
 *
 * @example
 * const bar = new TransferProgress({ quiet: json });
 * await client.provision(p, d, path, { onBytes: (phase, n, total) => bar.update(phase, n, total ?? size) });
 * bar.done();
 */
export class TransferProgress {
  private readonly stream: { readonly isTTY?: boolean; write(text: string): unknown };
  private readonly tty: boolean;
  private readonly now: () => number;
  private phase: TransferPhase | undefined;
  private started = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastStep = -1;
  private bytes = 0;
  private total: number | undefined;
  private drawn = false;

  constructor(private readonly options: ProgressBarOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Reports `bytes` done of `total` (when known) in `phase`. A new phase ends the previous one's line.
   */
  update(phase: TransferPhase, bytes: number, total?: number): void {
    if (this.options.quiet) return;
    if (phase !== this.phase) {
      this.finishLine();
      this.phase = phase;
      this.started = this.now();
      this.lastDraw = Number.NEGATIVE_INFINITY;
      this.lastStep = -1;
    }
    this.bytes = bytes;
    this.total = total !== undefined && total > 0 ? total : undefined;
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw < 100 && !(this.total !== undefined && bytes >= this.total)) return;
      this.lastDraw = t;
      this.stream.write(`\r${this.line(t)}\u001b[K`);
      this.drawn = true;
      return;
    }
    const step = this.total !== undefined ? Math.floor((bytes / this.total) * 20) : Math.floor(bytes / (64 * MIB));
    if (step === this.lastStep) return;
    this.lastStep = step;
    this.stream.write(`${this.line(t)}\n`);
  }

  /** Ends the current line (call once the transfer is over, before printing the result). */
  done(): void {
    if (this.options.quiet) return;
    this.finishLine();
    this.phase = undefined;
  }

  private finishLine(): void {
    if (this.tty && this.drawn && this.phase !== undefined) {
      this.stream.write(`\r${this.line(this.now())}\u001b[K\n`);
    }
    this.drawn = false;
  }

  /** e.g. `Encrypting [############------------]  50% 256.0/512.0 MiB  85.3 MiB/s`. */
  line(t: number): string {
    const label = LABELS[this.phase ?? "encrypt"].padEnd(10);
    const seconds = Math.max((t - this.started) / 1000, 1e-3);
    const rate = `${mib(this.bytes / seconds)} MiB/s`;
    if (this.total === undefined) return `${label} ${mib(this.bytes)} MiB  ${rate}`;
    const frac = Math.min(this.bytes / this.total, 1);
    const filled = Math.round(frac * WIDTH);
    return `${label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${mib(this.bytes)}/${mib(this.total)} MiB  ${rate}`;
  }
}
