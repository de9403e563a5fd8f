/** The room console: a web page per role, served by the same library calls as the CLI (`cleanroom console`). */
export { type ConsoleOptions, type RunningConsole, startConsole } from "./server.js";
export { RESULT_CHECKS, type ReportCheck, type VerificationReport, verificationReport } from "./checks.js";
export { approveLocally, pulumiApprovalCommand } from "./approve.js";
