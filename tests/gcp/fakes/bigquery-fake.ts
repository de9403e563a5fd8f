/**
 * A loopback fake of the BigQuery REST API (v2) for the stage-1 counting queries: `tables.get` (metadata only) and
 * `jobs.query` (`POST /bigquery/v2/projects/<p>/queries`, what `@google-cloud/bigquery`'s `query()` sends).
 *
 * It CHECKS every query before running it: the only accepted shape is public codes (`CASE … END AS c<i>` over the
 * table's schema columns, each branch an integer) and `COUNT(*)` over `GROUP BY GROUPING SETS` of one or two codes.
 * Anything else — `SELECT *`, a raw column, a THEN that returns a value, another table — is refused with 400, so a
 * test passes only if the client really sent nothing but a counting query. Accepted queries run on an embedded
 * DuckDB copy of the table (the fake's storage), translated from GoogleSQL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { withDuckdb } from "../../../src/runtime/dp/marginal-duckdb.js";

const KEYWORDS = new Set(
  "SELECT FROM AS CASE WHEN THEN ELSE END OR IS NULL CAST SAFE_CAST TRIM FLOAT64 STRING INT64 LEAST GREATEST FLOOR IS_NAN COUNT GROUP BY GROUPING SETS n".split(" "),
);

/** Every reason `sql` is not a counting query over `table`'s `columns`; empty when it is. */
export function countingQueryProblems(sql: string, table: string, columns: readonly string[]): string[] {
  const out: string[] = [];
  const m = /^SELECT (c\d+(?:, c\d+)*), COUNT\(\*\) AS n FROM \(SELECT (.+) FROM `([^`]+)`\) GROUP BY GROUPING SETS \((.+)\)$/s.exec(sql);
  if (!m) return ["not of the form SELECT c0.., COUNT(*) AS n FROM (SELECT <codes> FROM `table`) GROUP BY GROUPING SETS (..)"];
  const [, outer, inner, from, sets] = m as unknown as [string, string, string, string, string];
  if (from !== table) out.push(`reads ${from}, not ${table}`);
  const codes = outer.split(", ");
  if (codes.some((c, i) => c !== `c${i}`)) out.push("the outer select list must be c0, c1, … only");
  const noStrings = inner.replace(/'(?:\\.|[^'\\])*'/g, "''");
  for (const ident of noStrings.match(/`[^`]*`/g) ?? []) {
    if (!columns.includes(ident.slice(1, -1))) out.push(`references ${ident}, which is not a column of the public schema`);
  }
  for (const word of noStrings.replace(/`[^`]*`/g, " ").match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) {
    if (!KEYWORDS.has(word) && !/^c\d+$/.test(word)) out.push(`unexpected word ${word}`);
  }
  // Each branch yields a code: an integer literal, or the binning arithmetic (CAST(LEAST(<bins-1>, FLOOR(…)) AS INT64)).
  for (const branch of noStrings.match(/\b(?:THEN|ELSE)\s+[^\s]+/g) ?? []) {
    if (!/^(?:THEN|ELSE)\s+(?:\d+|CAST\(LEAST\(\d+,)/.test(branch)) out.push(`a branch returns something other than a code: ${branch}`);
  }
  const items = noStrings.split(/ AS c\d+(?:, |$)/).filter((x) => x !== "");
  if (items.length !== codes.length || !items.every((x) => x.startsWith("CASE ") && x.endsWith(" END"))) out.push("every selected item must be CASE … END AS c<i>");
  if (!/^\((c\d+(, c\d+)?)\)(, \((c\d+(, c\d+)?)\))*$/.test(sets)) out.push("grouping sets must hold one or two codes each");
  if (/SELECT\s+\*|\.\*|,\s*\*/.test(inner)) out.push("no SELECT * (raw rows)");
  return out;
}

/** GoogleSQL of an accepted counting query → DuckDB SQL over the fake's table `tbl`. */
function toDuckdb(sql: string, table: string): string {
  return sql
    .replace(`\`${table}\``, "tbl")
    .replace(/'((?:\\.|[^'\\])*)'/g, (_, body: string) => `'${body.replace(/\\(.)/g, "$1").replace(/'/g, "''")}'`)
    .replace(/`([^`]*)`/g, (_, n: string) => `"${n.replace(/"/g, '""')}"`)
    .replace(/SAFE_CAST\(/g, "TRY_CAST(")
    .replace(/ AS FLOAT64\)/g, " AS DOUBLE)")
    .replace(/ AS STRING\)/g, " AS VARCHAR)")
    .replace(/ AS INT64\)/g, " AS BIGINT)")
    .replace(/IS_NAN\(/g, "isnan(")
    .replace(/TRIM\(/g, "trim(");
}

/** Options of the fake. */
export interface BigqueryFakeOptions {
  /** Tables whose metadata has no `schema` (as BigQuery returns for a table created without columns). @default [] */
  readonly withoutSchema?: readonly string[];
}

/** The fake. `tables` maps `<project>.<dataset>.<table>` to a CSV file holding its rows (loaded typed, as `bq load` would). */
export class BigqueryFake {
  readonly queries: string[] = [];
  /** The `location` field of each accepted query request (undefined when the client sent none). */
  readonly locations: (string | undefined)[] = [];
  readonly refused: { sql: string; problems: string[] }[] = [];
  readonly requests: { method: string; path: string }[] = [];
  private server?: Server;
  url = "";
  constructor(
    private readonly tables: Record<string, string>,
    private readonly options: BigqueryFakeOptions = {},
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.json(res, 500, { error: { code: 500, message: String(err), status: "INTERNAL" } }));
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
    res.end(JSON.stringify(body));
  }

  private async columnsOf(path: string): Promise<string[]> {
    return withDuckdb({}, async (run) => (await run(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv('${path}', header = true))`)).map((r) => String(r[0])));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    this.requests.push({ method: req.method ?? "", path: url.pathname });
    const meta = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(url.pathname);
    if (meta && req.method === "GET") {
      const name = `${meta[1]}.${meta[2]}.${meta[3]}`;
      const path = this.tables[name];
      if (!path) return this.json(res, 404, { error: { code: 404, message: `Not found: Table ${name}`, status: "NOT_FOUND" } });
      if (this.options.withoutSchema?.includes(name)) return this.json(res, 200, { kind: "bigquery#table", id: name });
      const fields = (await this.columnsOf(path)).map((n) => ({ name: n, type: "STRING" }));
      return this.json(res, 200, { kind: "bigquery#table", id: name, schema: { fields } });
    }
    const q = /^\/bigquery\/v2\/projects\/([^/]+)\/queries$/.exec(url.pathname);
    if (q && req.method === "POST") {
      const request = JSON.parse(body) as { query?: string; location?: string };
      const sql = String(request.query ?? "");
      const table = /FROM `([^`]+)`/.exec(sql)?.[1] ?? "";
      const path = this.tables[table];
      const problems = path ? countingQueryProblems(sql, table, await this.columnsOf(path)) : [`unknown table ${table}`];
      if (problems.length > 0) {
        this.refused.push({ sql, problems });
        return this.json(res, 400, { error: { code: 400, message: `fake BigQuery refused a query that is not a counting query: ${problems.join("; ")}`, status: "INVALID_ARGUMENT" } });
      }
      this.queries.push(sql);
      this.locations.push(request.location);
      const rows = await withDuckdb({}, async (run) => {
        await run(`CREATE TABLE tbl AS SELECT * FROM read_csv('${path}', header = true)`);
        return run(toDuckdb(sql, table));
      });
      const width = (rows[0]?.length ?? 1) - 1;
      const fields = [...Array.from({ length: width }, (_, i) => ({ name: `c${i}`, type: "INTEGER" })), { name: "n", type: "INTEGER" }];
      return this.json(res, 200, {
        kind: "bigquery#queryResponse",
        jobComplete: true,
        queryId: `q${this.queries.length}`,
        totalRows: String(rows.length),
        schema: { fields },
        rows: rows.map((r) => ({ f: r.map((v) => ({ v: v === null ? null : String(v) })) })),
      });
    }
    this.json(res, 404, { error: { code: 404, message: `fake: no route ${req.method} ${url.pathname}`, status: "NOT_FOUND" } });
  }
}
