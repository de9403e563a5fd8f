/**
 * The browser of the console tests: Debian's chromium driven by playwright-core. A missing chromium is a failure
 * that names the install command, never a skip.
 */
import { existsSync } from "node:fs";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

/** Where Debian installs chromium (override with CLEANROOM_CHROMIUM). */
export const CHROMIUM = process.env.CLEANROOM_CHROMIUM ?? "/usr/bin/chromium";

/** Where the test run writes its screenshots (gitignored). */
export const SCREENSHOT_DIR = join(__dirname, "..", "..", "test-output", "console");

/** The viewports every page must work at. */
export const WIDE = { width: 1280, height: 800 } as const;
export const NARROW = { width: 375, height: 740 } as const;

/** Launches headless chromium with the flags this machine's closed network needs. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set CLEANROOM_CHROMIUM to its path`);
  }
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
