/**
 * What every inbox page shares: the viewer, times, paths and the page frame, and the two small pages
 * (a message, sign-in). Every value goes through `html`, which escapes it.
 */
import { type Fragment, type Html, html } from "./html.js"

export interface Viewer {
  readonly id: string
  readonly roles: ReadonlyArray<string>
  readonly csrf: string
}

export const iso = (millis: number): string => new Date(millis).toISOString().replace("T", " ").slice(0, 16) + " UTC"

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
export const when = (millis: number, now: number): Html =>
  html`<time datetime="${new Date(millis).toISOString()}">${relative(millis, now)}</time> <small>(${iso(millis)})</small>`

export const pretty = (value: unknown): string => JSON.stringify(value, null, 2) ?? "null"

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

/** An approval's status as the inbox words it. */
export const statusLabel = (status: string): string => status === "waiting-approval" ? "waiting" : status
