/**
 * The inbox's pages, as functions from what the engine answered to HTML. Every value goes through `html`,
 * which escapes it. The few scripts and styles are static assets (`assets.ts`), so the pages run under a
 * Content-Security-Policy without inline code.
 */
import type { ActionLinks, Approvals, Audit, Run, Waiting } from "@gatehouse/engine"
import type { Field } from "./forms.js"
import { renderFields } from "./forms.js"
import { type Fragment, type Html, html } from "./html.js"

export interface Viewer {
  readonly id: string
  readonly roles: ReadonlyArray<string>
  readonly csrf: string
}

const iso = (millis: number): string => new Date(millis).toISOString().replace("T", " ").slice(0, 16) + " UTC"

const units: ReadonlyArray<readonly [string, number]> = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000]
]

export const relative = (millis: number, now: number): string => {
  const delta = millis - now
  const abs = Math.abs(delta)
  if (abs < 60_000) return delta >= 0 ? "in less than a minute" : "just now"
  for (const [unit, size] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size)
      const text = `${n} ${unit}${n === 1 ? "" : "s"}`
      return delta >= 0 ? `in ${text}` : `${text} ago`
    }
  }
  return iso(millis)
}

/** A time as "in 6 days" with the absolute time beside it. */
const when = (millis: number, now: number): Html =>
  html`<time datetime="${new Date(millis).toISOString()}">${relative(millis, now)}</time> <small>(${iso(millis)})</small>`

const pretty = (value: unknown): string => JSON.stringify(value, null, 2) ?? "null"

export const approvalPath = (runId: string, nodeId: string): string =>
  `/inbox/${encodeURIComponent(runId)}/${encodeURIComponent(nodeId)}`

export const runPath = (runId: string): string => `/inbox/runs/${encodeURIComponent(runId)}`

export const layout = (options: {
  readonly title: string
  readonly viewer?: Viewer | undefined
  readonly body: Fragment
  readonly live?: boolean
}): Html =>
  html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Gatehouse</title>
<link rel="stylesheet" href="/inbox/assets/inbox.css">
${options.live ? html`<script src="/inbox/assets/inbox.js" defer></script>` : undefined}
</head>
<body>
<header>
<a class="brand" href="/inbox">Gatehouse inbox</a>
${
    options.viewer === undefined ? undefined : html`<nav aria-label="Inbox views">
<a href="/inbox">Pending</a> <a href="/inbox?status=mine">Decided by me</a> <a href="/inbox?status=all">All I can see</a>
</nav>
<form method="post" action="/inbox/sign-out" class="sign-out">
<span>Signed in as <strong>${options.viewer.id}</strong></span>
<input type="hidden" name="_csrf" value="${options.viewer.csrf}">
<button type="submit">Sign out</button>
</form>`
  }
</header>
<main>
${options.body}
</main>
</body>
</html>`

export const message = (options: {
  readonly title: string
  readonly text: string
  readonly viewer?: Viewer | undefined
  readonly back?: { readonly href: string; readonly label: string } | undefined
}): Html =>
  layout({
    title: options.title,
    viewer: options.viewer,
    body: html`<h1>${options.title}</h1>
<p role="alert">${options.text}</p>
${options.back === undefined ? undefined : html`<p><a href="${options.back.href}">${options.back.label}</a></p>`}`
  })

export const signIn = (options: { readonly csrf: string; readonly error?: string | undefined }): Html =>
  layout({
    title: "Sign in",
    body: html`<h1>Sign in</h1>
<p>Paste an API token, or a bearer token from your identity provider.</p>
${options.error === undefined ? undefined : html`<p role="alert" class="error">${options.error}</p>`}
<form method="post" action="/inbox/sign-in">
<input type="hidden" name="_csrf" value="${options.csrf}">
<p class="field"><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required></p>
<button type="submit">Sign in</button>
</form>`
  })

export type StatusFilter = "pending" | "mine" | "all"

export interface InboxRow {
  readonly approval: Approvals.ApprovalRecord
  readonly wait: Waiting.ApprovalWait | undefined
  readonly canApprove: boolean
  readonly canDeny: boolean
}

const quorumText = (wait: Waiting.ApprovalWait | undefined, approval: Approvals.ApprovalRecord): string => {
  const have = wait?.approvals.have ?? 0
  const need = wait?.approvals.need ?? approval.reviewers.quorum
  return `${have} of ${need} approval${need === 1 ? "" : "s"}`
}

const statusLabel = (status: string): string => status === "waiting-approval" ? "waiting" : status

export const inboxList = (options: {
  readonly rows: ReadonlyArray<InboxRow>
  readonly now: number
  readonly nextPage: string | undefined
}): Html =>
  options.rows.length === 0
    ? html`<p class="empty">Nothing here.</p>`
    : html`<table>
<caption>Approvals</caption>
<thead><tr><th scope="col">Select</th><th scope="col">Title</th><th scope="col">Workflow</th><th scope="col">Run</th>
<th scope="col">Waiting since</th><th scope="col">Deadline</th><th scope="col">Quorum</th><th scope="col">Revision</th>
<th scope="col">Status</th></tr></thead>
<tbody>
${
      options.rows.map(({ approval, canApprove, canDeny, wait }) =>
        html`<tr data-run="${approval.runId}" data-node="${approval.nodeId}">
<td>${
          approval.status === "waiting-approval" && (canApprove || canDeny)
            ? html`<input type="checkbox" name="item" form="bulk" aria-label="Select ${approval.title} (${approval.runId})"
 value="${encodeURIComponent(approval.runId)}/${encodeURIComponent(approval.nodeId)}/${approval.requestHash}">`
            : undefined
        }</td>
<td><a href="${approvalPath(approval.runId, approval.baseId)}">${approval.title}</a></td>
<td>${approval.workflow}</td>
<td><a href="${runPath(approval.runId)}">${approval.runId}</a></td>
<td>${when(approval.requestedAt, options.now)}</td>
<td>${approval.deadline === undefined ? "none" : when(approval.deadline, options.now)}</td>
<td>${quorumText(wait, approval)}</td>
<td>${approval.revision}</td>
<td>${statusLabel(approval.status)}</td>
</tr>`
      )
    }
</tbody>
</table>
${options.nextPage === undefined ? undefined : html`<p><a href="${options.nextPage}" rel="next">Next page</a></p>`}`

export const inbox = (options: {
  readonly viewer: Viewer
  readonly status: StatusFilter
  readonly workflow: string | undefined
  readonly workflows: ReadonlyArray<string>
  readonly list: Html
  readonly liveUrl: string
  readonly notice?: string | undefined
}): Html => {
  const heading = options.status === "pending"
    ? "Waiting for you"
    : options.status === "mine"
    ? "Decided by me"
    : "All I can see"
  return layout({
    title: heading,
    viewer: options.viewer,
    live: true,
    body: html`<h1>${heading}</h1>
${options.notice === undefined ? undefined : html`<p role="status" class="notice">${options.notice}</p>`}
<form method="get" action="/inbox" class="filters">
<p class="field"><label for="filter-status">Status</label>
<select id="filter-status" name="status">
<option value="pending"${options.status === "pending" ? html` selected` : undefined}>Pending</option>
<option value="mine"${options.status === "mine" ? html` selected` : undefined}>Decided by me</option>
<option value="all"${options.status === "all" ? html` selected` : undefined}>All I can see</option>
</select></p>
<p class="field"><label for="filter-workflow">Workflow</label>
<input id="filter-workflow" name="workflow" list="workflows" value="${options.workflow ?? ""}">
<datalist id="workflows">${options.workflows.map((name) => html`<option value="${name}">`)}</datalist></p>
<button type="submit">Filter</button>
</form>
<p id="live-status" role="status" aria-live="polite" class="live"></p>
<div id="inbox-list" data-live="${options.liveUrl}">
${options.list}
</div>
${
      options.status === "pending"
        ? html`<form id="bulk" method="post" action="/inbox/bulk" class="bulk">
<h2>Decide the selected approvals</h2>
<p>Each selected approval is decided separately (and audited separately); all must be of the same kind.</p>
<input type="hidden" name="_csrf" value="${options.viewer.csrf}">
<p class="field"><label for="bulk-note">Note</label>
<textarea id="bulk-note" name="note" rows="2"></textarea></p>
<button type="submit" name="verdict" value="approve">Approve</button>
<button type="submit" name="verdict" value="deny">Deny</button>
</form>`
        : undefined
    }`
  })
}

const metadataTable = (metadata: unknown): Html => {
  if (metadata === undefined) return html`<p>None.</p>`
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    return html`<pre>${pretty(metadata)}</pre>`
  }
  return html`<table class="metadata"><caption>Metadata</caption><tbody>${
    Object.entries(metadata).map(([key, value]) =>
      html`<tr><th scope="row">${key}</th><td>${
        typeof value === "string" ? value : html`<code>${JSON.stringify(value)}</code>`
      }</td></tr>`
    )
  }</tbody></table>`
}

/** Every leaf of a JSON value by its path (`a.b[0]`), for a readable diff of two revisions. */
const leaves = (value: unknown, path = "", out = new Map<string, string>()): Map<string, string> => {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value)
      ? value.map((item, i) => [`${path}[${i}]`, item] as const)
      : Object.entries(value).map(([key, item]) => [path === "" ? key : `${path}.${key}`, item] as const)
    if (entries.length === 0) out.set(path === "" ? "(value)" : path, JSON.stringify(value))
    for (const [key, item] of entries) leaves(item, key, out)
  } else {
    out.set(path === "" ? "(value)" : path, JSON.stringify(value) ?? "undefined")
  }
  return out
}

const diff = (before: unknown, after: unknown): Html => {
  const a = leaves(before)
  const b = leaves(after)
  const keys = [...new Set([...a.keys(), ...b.keys()])].filter((key) => a.get(key) !== b.get(key))
  if (keys.length === 0) return html`<p>Nothing changed in the reviewed output.</p>`
  return html`<table class="diff"><caption>Changes since revision before</caption>
<thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">Now</th></tr></thead>
<tbody>${
    keys.map((key) =>
      html`<tr><th scope="row">${key}</th><td><del>${a.get(key) ?? "(absent)"}</del></td><td><ins>${
        b.get(key) ?? "(absent)"
      }</ins></td></tr>`
    )
  }</tbody></table>`
}

const atDeadlineText = (approval: Approvals.ApprovalRecord): string => {
  if (approval.atDeadline === "escalate" && approval.escalateTo !== undefined) {
    const to = [...approval.escalateTo.users, ...approval.escalateTo.roles.map((role) => `role ${role}`)]
    return `it escalates to ${to.join(", ")}`
  }
  return approval.onTimeout === "fail" ? "the run fails" : "it counts as denied"
}

const whyWaiting = (wait: Waiting.ApprovalWait, now: number): Html => {
  const signers = [
    ...wait.mayStillSign.users,
    ...wait.mayStillSign.roles.map((role) => `anyone with the role ${role}`)
  ]
  const more = Math.max(0, wait.approvals.need - wait.approvals.have)
  return html`<section aria-labelledby="why-heading">
<h2 id="why-heading">Why it is waiting</h2>
<ul>
<li>Requested by ${wait.requestedBy}.</li>
<li>${wait.approvals.have} of ${wait.approvals.need} approval${wait.approvals.need === 1 ? "" : "s"}: ${
    more === 0 ? "enough approvals" : `${more} more approval${more === 1 ? "" : "s"} needed`
  }; ${wait.denials.have} of ${wait.denials.need} denial${wait.denials.need === 1 ? "" : "s"}.</li>
<li>Who may still sign: ${signers.length === 0 ? "anyone" : signers.join(", ")}.</li>
${wait.excluded.length > 0 ? html`<li>May not approve (started the run): ${wait.excluded.join(", ")}.</li>` : undefined}
${wait.escalations > 0 ? html`<li>Escalated ${wait.escalations} time${wait.escalations === 1 ? "" : "s"}.</li>` : undefined}
<li>${
    wait.deadline === undefined
      ? "No deadline."
      : html`Deadline ${when(wait.deadline, now)}: ${
        wait.atDeadline === "escalate"
          ? `next escalation to ${[...(wait.escalateTo?.users ?? []), ...(wait.escalateTo?.roles ?? []).map((r) => `role ${r}`)].join(", ")}`
          : wait.atDeadline === "fail"
          ? "the run fails"
          : "it counts as denied"
      }.`
  }</li>
</ul>
</section>`
}

const votesTable = (votes: ReadonlyArray<Approvals.Vote>, now: number): Html =>
  votes.length === 0
    ? html`<p>No votes yet.</p>`
    : html`<table><caption>Votes</caption>
<thead><tr><th scope="col">Reviewer</th><th scope="col">Vote</th><th scope="col">Note</th><th scope="col">When</th></tr></thead>
<tbody>${
      votes.map((vote) =>
        html`<tr><td>${vote.voter}</td><td>${vote.verdict}</td><td>${vote.note ?? ""}</td><td>${
          when(vote.createdAt, now)
        }</td></tr>`
      )
    }</tbody></table>`

const timeline = (inspection: Run.Inspection, now: number): Html =>
  html`<table><caption>Nodes</caption>
<thead><tr><th scope="col">Node</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Started</th>
<th scope="col">Completed</th></tr></thead>
<tbody>${
    inspection.nodes.map((node) =>
      html`<tr><td>${node.nodeId}</td><td>${node.kind}</td><td>${node.status}</td><td>${when(node.startedAt, now)}</td><td>${
        node.completedAt === undefined ? "" : when(node.completedAt, now)
      }</td></tr>`
    )
  }</tbody></table>
<table><caption>Events</caption>
<thead><tr><th scope="col">Event</th><th scope="col">Node</th><th scope="col">By</th><th scope="col">When</th></tr></thead>
<tbody>${
    inspection.events.map((event) =>
      html`<tr><td>${event.type}</td><td>${event.nodeId ?? ""}</td><td>${event.actor ?? ""}</td><td>${
        when(event.createdAt, now)
      }</td></tr>`
    )
  }</tbody></table>`

const verdictLabel = { approve: "Approve", deny: "Deny", "request-changes": "Request changes" } as const

const decisionText = (approval: Approvals.ApprovalRecord): Html | undefined => {
  const decision = approval.decision as
    | { readonly outcome?: string; readonly decidedBy?: string; readonly note?: string; readonly payload?: unknown }
    | undefined
  if (decision === undefined) return undefined
  return html`<section aria-labelledby="decision-heading" class="decision">
<h2 id="decision-heading">Decision</h2>
<p><strong>${decision.outcome ?? approval.status}</strong> by ${decision.decidedBy ?? "the engine"}${
    approval.decidedAt === undefined ? undefined : html` at ${iso(approval.decidedAt)}`
  }.</p>
${decision.note === undefined ? undefined : html`<p>Note: ${decision.note}</p>`}
${decision.payload === undefined ? undefined : html`<pre>${pretty(decision.payload)}</pre>`}
</section>`
}

/** The request as a reviewer reads it: shared by the approval page and an action link's confirm page. */
const requestBody = (options: {
  readonly approval: Approvals.ApprovalRecord
  readonly previous: Approvals.ApprovalRecord | undefined
  readonly now: number
}): Html => {
  const { approval, now } = options
  return html`<p class="summary">${approval.summary ?? ""}</p>
<dl class="facts">
<dt>Workflow</dt><dd>${approval.workflow}</dd>
<dt>Run</dt><dd><a href="${runPath(approval.runId)}">${approval.runId}</a></dd>
<dt>Status</dt><dd>${statusLabel(approval.status)}</dd>
<dt>Revision</dt><dd>${approval.revision}</dd>
<dt>Requested</dt><dd>${when(approval.requestedAt, now)}</dd>
<dt>Deadline</dt><dd>${
    approval.deadline === undefined ? "none" : html`${when(approval.deadline, now)}; then ${atDeadlineText(approval)}`
  }</dd>
<dt>Reviewers</dt><dd>${
    [...approval.reviewers.users, ...approval.reviewers.roles.map((role) => `role ${role}`)].join(", ") || "anyone"
  } (quorum ${approval.reviewers.quorum})</dd>
<dt>Request hash</dt><dd><code class="hash">${approval.requestHash}</code></dd>
</dl>
<h2>Metadata</h2>
${metadataTable(approval.metadata)}
<h2>Reviewed output</h2>
${approval.reviewed === undefined ? html`<p>None.</p>` : html`<pre class="reviewed">${pretty(approval.reviewed)}</pre>`}
${
    options.previous === undefined
      ? undefined
      : html`<h2>What changed since revision ${options.previous.revision}</h2>
${
        (options.previous.decision as { note?: string } | undefined)?.note === undefined
          ? undefined
          : html`<p>Requested changes: ${(options.previous.decision as { note: string }).note}</p>`
      }
${diff(options.previous.reviewed, approval.reviewed)}`
  }`
}

export const approvalPage = (options: {
  readonly viewer: Viewer
  readonly approval: Approvals.ApprovalRecord
  readonly previous: Approvals.ApprovalRecord | undefined
  readonly allowed: Approvals.AllowedActions
  readonly wait: Waiting.ApprovalWait | undefined
  readonly inspection: Run.Inspection | undefined
  readonly fields: ReadonlyArray<Field>
  readonly values?: Readonly<Record<string, string>>
  readonly note?: string | undefined
  readonly banner?: { readonly kind: "stale" | "error" | "done"; readonly text: string } | undefined
  readonly now: number
}): Html => {
  const { allowed, approval, now } = options
  const verdicts = (["approve", "deny", "request-changes"] as const)
  const usable = verdicts.filter((verdict) => allowed[verdict].allowed)
  return layout({
    title: approval.title,
    viewer: options.viewer,
    body: html`${
      options.banner === undefined
        ? undefined
        : html`<p role="alert" class="banner ${options.banner.kind}">${options.banner.text}</p>`
    }
<h1>${approval.title}</h1>
${requestBody({ approval, previous: options.previous, now })}
<h2>Votes</h2>
${votesTable(approval.votes ?? [], now)}
${decisionText(approval)}
${options.wait === undefined ? undefined : whyWaiting(options.wait, now)}
${
      usable.length === 0 && approval.status !== "waiting-approval"
        ? undefined
        : html`<section aria-labelledby="decide-heading">
<h2 id="decide-heading">Your decision</h2>
${
          usable.length === 0 ? html`<p>You cannot decide this approval.</p>` : html`<form method="post" action="${
            approvalPath(approval.runId, approval.baseId)
          }" class="decide">
<input type="hidden" name="_csrf" value="${options.viewer.csrf}">
<input type="hidden" name="requestHash" value="${approval.requestHash}">
<p class="field"><label for="note">Note</label>
<textarea id="note" name="note" rows="3">${options.note ?? ""}</textarea></p>
${
            options.fields.length === 0 || !allowed.approve.allowed
              ? undefined
              : html`<fieldset><legend>With an approval</legend>${renderFields(options.fields, options.values)}</fieldset>`
          }
<p class="buttons">${
            usable.map((verdict) =>
              html`<button type="submit" name="verdict" value="${verdict}"${
                verdict === "approve" ? undefined : html` formnovalidate`
              }>${verdictLabel[verdict]}</button> `
            )
          }</p>
</form>`
        }
${
          verdicts.filter((verdict) => !allowed[verdict].allowed).length === 0
            ? undefined
            : html`<ul class="unavailable" aria-label="Unavailable actions">${
              verdicts.map((verdict) => {
                const action = allowed[verdict]
                return action.allowed
                  ? undefined
                  : html`<li>${verdictLabel[verdict]}: not available (${action.reason})</li>`
              })
            }</ul>`
        }
</section>`
    }
${
      options.inspection === undefined
        ? undefined
        : html`<section aria-labelledby="timeline-heading"><h2 id="timeline-heading">Timeline of the run</h2>
${timeline(options.inspection, now)}</section>`
    }`
  })
}

export const linkConfirm = (options: {
  readonly link: ActionLinks.ActionLink
  readonly token: string
  readonly csrf: string
  readonly fields: ReadonlyArray<Field>
  readonly error?: string | undefined
  readonly now: number
}): Html => {
  const { link, now } = options
  const label = verdictLabel[link.verdict]
  return layout({
    title: `${label}: ${link.approval.title}`,
    body: html`<h1>${label}: ${link.approval.title}</h1>
<p class="notice">You are about to <strong>${link.verdict}</strong> this request as <strong>${link.reviewer.id}</strong>.
Nothing is decided until you confirm. This link works once and expires ${when(link.expiresAt, now)}.</p>
${options.error === undefined ? undefined : html`<p role="alert" class="error">${options.error}</p>`}
${requestBody({ approval: link.approval, previous: undefined, now })}
<form method="post" action="/inbox/links/${options.token}" class="decide">
<input type="hidden" name="_csrf" value="${options.csrf}">
<p class="field"><label for="note">Note</label>
<textarea id="note" name="note" rows="3"></textarea></p>
${
      link.verdict === "approve" && options.fields.length > 0
        ? html`<fieldset><legend>With the approval</legend>${renderFields(options.fields)}</fieldset>`
        : undefined
    }
<p class="buttons"><button type="submit">${label}</button></p>
</form>`
  })
}

export const runPage = (options: {
  readonly viewer: Viewer
  readonly inspection: Run.Inspection
  readonly audit: ReadonlyArray<Audit.Entry>
  readonly verification: Audit.Verification
  readonly now: number
}): Html => {
  const { inspection, now } = options
  return layout({
    title: `Run ${inspection.run.runId}`,
    viewer: options.viewer,
    body: html`<h1>Run ${inspection.run.runId}</h1>
<dl class="facts">
<dt>Workflow</dt><dd>${inspection.run.workflow}</dd>
<dt>Status</dt><dd>${inspection.run.status}</dd>
<dt>Started by</dt><dd>${inspection.run.startedBy ?? "unknown"}</dd>
${inspection.run.error === undefined ? undefined : html`<dt>Error</dt><dd>${inspection.run.error}</dd>`}
<dt>Audit chain</dt><dd>${
      options.verification.valid
        ? `verified (${options.verification.entries} entries)`
        : `BROKEN at entry ${options.verification.brokenAt} (${options.verification.reason})`
    }</dd>
</dl>
<h2>Timeline</h2>
${timeline(inspection, now)}
<h2>Decisions</h2>
<table><caption>Audit entries</caption>
<thead><tr><th scope="col">#</th><th scope="col">Action</th><th scope="col">Node</th><th scope="col">By</th>
<th scope="col">Note</th><th scope="col">When</th></tr></thead>
<tbody>${
      options.audit.map((entry) =>
        html`<tr><td>${entry.seq}</td><td>${entry.action}</td><td>${entry.nodeId ?? ""}</td><td>${entry.actor}</td><td>${
          entry.note ?? ""
        }</td><td>${when(entry.createdAt, now)}</td></tr>`
      )
    }</tbody></table>`
  })
}
