/**
 * A run's page (its timeline and audit entries) and the timeline the approval page shows too.
 */
import type { Audit, Run } from "@gatehouse/engine"
import { type Html, html } from "./html.js"
import { layout, runPath, type Viewer, when } from "./layout.js"

/** A run's nodes and events, in order. */
export const timeline = (inspection: Run.Inspection, now: number): Html =>
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

const runLink = (runId: string): Html => html`<a href="${runPath(runId)}">${runId}</a>`

/** Where a repaired run came from and what came of it: its origin, its forks, how often it was resumed. */
export const repairFacts = (run: Run.Summary): Html =>
  html`${
    run.forkedFrom === undefined ? undefined : html`<dt>Forked from</dt><dd>${runLink(run.forkedFrom.runId)}${
      run.forkedFrom.nodeId === "" ? " (from the start)" : html` (from node <code>${run.forkedFrom.nodeId}</code>)`
    }</dd>`
  }${
    run.forks === undefined || run.forks.length === 0
      ? undefined
      : html`<dt>Forks</dt><dd>${run.forks.map((fork, i) => html`${i === 0 ? "" : ", "}${runLink(fork)}`)}</dd>`
  }${run.repairs > 0 ? html`<dt>Resumed</dt><dd>${run.repairs} time${run.repairs === 1 ? "" : "s"}</dd>` : undefined}`

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
${repairFacts(inspection.run)}
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
