/**
 * The BigQuery source: the provider's project counts the marginals of a table that already lives in BigQuery. The
 * query (`marginal-sql.ts`) selects only public codes and `COUNT(*)` over grouping sets; no row leaves BigQuery.
 * Noise is added here afterwards, with the exact samplers.
 */
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { Domain } from "./domain.js";
import { headerIndex } from "./domain.js";
import type { MarginalSource, MarginalTables } from "./marginal-source.js";
import { BIGQUERY, countingQuery, tablesFromGroupingRows } from "./marginal-sql.js";

/** Options of the BigQuery source. */
export interface BigquerySourceOptions {
  /** Options for `new BigQuery(…)` (e.g. `apiEndpoint`, `authClient`). @default - Application Default Credentials */
  readonly clientOptions?: Record<string, unknown>;
  /** The job's location (e.g. `EU`). @default - the dataset's */
  readonly location?: string;
}

const TABLE = /^([a-z][a-z0-9-]{4,28}[a-z0-9])\.([A-Za-z0-9_]{1,1024})\.([A-Za-z0-9_-]{1,1024})$/;

/**
 * Counts a BigQuery table's marginals in the provider's project.
 *
 * @param table `<project>.<dataset>.<table>`
 * @example
 * const tables = await bigquerySource("acme-prod.claims.claims_2025").measure(buildDomain(schema));
 */
export function bigquerySource(table: string, options: BigquerySourceOptions = {}): MarginalSource {
  const m = TABLE.exec(table);
  if (!m) throw new CleanRoomError("invalid-argument", `A BigQuery table is <project>.<dataset>.<table> (got ${JSON.stringify(table)})`);
  return {
    kind: "bigquery",
    async measure(domain: Domain): Promise<MarginalTables> {
      const { BigQuery } = require("@google-cloud/bigquery") as typeof import("@google-cloud/bigquery");
      const bq = new BigQuery({ projectId: m[1], ...options.clientOptions });
      try {
        // The table's column names only (metadata, no rows): a schema column the table lacks is refused up front.
        const [meta] = await bq.dataset(m[2]).table(m[3]).getMetadata();
        const fields = ((meta as { schema?: { fields?: { name: string }[] } }).schema?.fields ?? []).map((f) => f.name);
        headerIndex(domain, fields, `BigQuery table ${table}`);
        const [rows] = await bq.query({
          query: countingQuery(domain, BIGQUERY.ident(table), BIGQUERY),
          ...(options.location ? { location: options.location } : {}),
        });
        const d = domain.columns.length;
        return tablesFromGroupingRows(
          domain,
          (rows as Record<string, number | null>[]).map((r) => [...Array.from({ length: d }, (_, i) => r[`c${i}`] ?? null), r.n ?? 0]),
        );
      } catch (err) {
        if (err instanceof CleanRoomError) throw err;
        throw new CleanRoomError("gcp-error", `BigQuery could not count ${table}: ${messageOf(err)}. The caller needs roles/bigquery.jobUser on ${m[1]} and roles/bigquery.dataViewer on the table`, {
          cause: err,
        });
      }
    },
  };
}
