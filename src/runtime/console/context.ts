/** What every route of the console receives: the console's configuration and the request, already authenticated. */
import type { IncomingMessage } from "node:http";
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import type { Session } from "./auth.js";
import type { Reply } from "./http.js";
import type { JobBook } from "./jobs.js";
import type { RequestStore } from "./requests.js";
import type { Upload } from "./upload.js";
import type { Notice, PageContext } from "./views/layout.js";

/** The console's configuration and stores. */
export interface ConsoleApp {
  /** URL path prefix of every page, ending in `/`. */
  readonly base: string;
  /** The room's descriptor, read again on every request (a local approval restarts the room with a new one). */
  descriptor(): CleanRoomDescriptor;
  /** The descriptor's path (what the CLI commands shown on the pages name). */
  readonly roomPath: string;
  /** The data scientist's folder of job sources. */
  readonly workspace?: string;
  /** Private directory for packed jobs, fetched results and uploads. */
  readonly stateDir: string;
  /** The provider this console acts for (may read quarantine, approve, release). */
  readonly provider?: string;
  /** PEM roots results are verified against (default: the library's). */
  readonly trustedRoots?: readonly string[];
  readonly requests: RequestStore;
  readonly jobs: JobBook;
}

/** A session with its one-shot notice. */
export type ConsoleSession = Session & { notice?: Notice };

/** One authenticated request. */
export interface RouteRequest {
  readonly app: ConsoleApp;
  readonly req: IncomingMessage;
  /** The pattern's captured groups. */
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly session: ConsoleSession;
  /** Header, navigation and CSRF token of the page to render. */
  readonly ctx: PageContext;
  /** The POSTed form (urlencoded), its CSRF token and origin already checked. */
  readonly form: URLSearchParams;
  /** Receives a multipart upload into a new private directory (CSRF checked before any file is written). */
  upload(): Promise<Upload>;
  /** Shows a notice on the next page. */
  flash(notice: Notice): void;
}

/** A route: method, path pattern (after the base path), handler. */
export interface Route {
  readonly method: "GET" | "POST";
  readonly pattern: RegExp;
  /** A multipart upload: the handler reads the body itself with `upload()`. */
  readonly upload?: boolean;
  handle(r: RouteRequest): Promise<Reply>;
}
