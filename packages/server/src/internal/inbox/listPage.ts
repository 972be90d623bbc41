/**
 * The inbox's list page: the approvals a viewer may see, filters, live refresh and bulk decisions.
 */
import type { Approvals, Waiting } from "@gatehouse/engine"
import { type Html, html } from "./html.js"
import { approvalPath, layout, runPath, statusLabel, type Viewer, when } from "./layout.js"

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
