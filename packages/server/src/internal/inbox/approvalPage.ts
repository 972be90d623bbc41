/**
 * The approval page (the request, its votes, why it waits and the decision form) and an action link's
 * confirm page, which shows the same request.
 */
import type { ActionLinks, Approvals, Run, Waiting } from "@gatehouse/engine"
import type { Field } from "./forms.js"
import { renderFields } from "./forms.js"
import { type Html, html } from "./html.js"
import { approvalPath, iso, layout, pretty, relative, runPath, statusLabel, type Viewer, when } from "./layout.js"
import { timeline } from "./runPage.js"

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

/**
 * The decision this approval had before its run was resumed or forked, and why it is asked again
 * ("Asked again: approved by ana 2 days ago; the request changed"), so the reviewer decides knowing it.
 */
export const askedAgain = (approval: Approvals.ApprovalRecord, now: number): Html | undefined => {
  const previous = approval.previous
  if (previous === undefined) return undefined
  const decided = html`${statusLabel(previous.status)}${previous.decidedBy === undefined ? undefined : html` by ${previous.decidedBy}`}${
    previous.decidedAt === undefined
      ? undefined
      : html` <time datetime="${new Date(previous.decidedAt).toISOString()}" title="${iso(previous.decidedAt)}">${
        relative(previous.decidedAt, now)
      }</time>`
  }`
  return html`<p class="asked-again"><strong>Asked again:</strong> ${decided}${
    previous.runId === approval.runId
      ? undefined
      : html` in run <a href="${runPath(previous.runId)}">${previous.runId}</a>`
  }${previous.note === undefined || previous.note === "" ? undefined : html` ("${previous.note}")`}${
    previous.reasons.length === 0 ? undefined : html`; ${previous.reasons.join("; ")}`
  }.</p>`
}

/** The request as a reviewer reads it: shared by the approval page and an action link's confirm page. */
const requestBody = (options: {
  readonly approval: Approvals.ApprovalRecord
  readonly previous: Approvals.ApprovalRecord | undefined
  readonly now: number
}): Html => {
  const { approval, now } = options
  return html`${askedAgain(approval, now)}
<p class="summary">${approval.summary ?? ""}</p>
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
