import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Rows from "../rows.js"
import { forUpdate } from "./runs.js"

const decodeLink = Rows.decodeFirst(Rows.ActionLinkRow, "gatehouse_action_links")

/**
 * The statements on action links. A token is never stored: every statement takes its SHA-256.
 *
 * @internal
 */
export const makeActionLinkStore = (sql: SqlClient.SqlClient) => {
  const insert = (link: Rows.ActionLinkRow): Effect.Effect<void, SqlError> =>
    sql`INSERT INTO gatehouse_action_links (token_hash, run_id, node_id, reviewer, roles, verdict, request_hash,
        expires_at, created_at)
      VALUES (${link.tokenHash}, ${link.runId}, ${link.nodeId}, ${link.reviewer}, ${JSON.stringify(link.roles)},
        ${link.verdict}, ${link.requestHash}, ${link.expiresAt}, ${link.createdAt})`.pipe(Effect.asVoid)

  /** The link, with its row locked on PostgreSQL when `lock` (inside the redeeming transaction). */
  const get = (
    tokenHash: string,
    options: { readonly lock?: boolean } = {}
  ): Effect.Effect<Option.Option<Rows.ActionLinkRow>, SqlError> =>
    sql`SELECT * FROM gatehouse_action_links WHERE token_hash = ${tokenHash} ${options.lock ? forUpdate(sql) : sql``}`
      .pipe(Effect.flatMap(decodeLink))

  /** Marks the link used; false when it already was (another redemption won). */
  const markUsed = (tokenHash: string, now: number): Effect.Effect<boolean, SqlError> =>
    sql`UPDATE gatehouse_action_links SET used_at = ${now} WHERE token_hash = ${tokenHash} AND used_at IS NULL
      RETURNING token_hash`.pipe(Effect.map((rows) => rows.length === 1))

  return { insert, get, markUsed } as const
}
