/**
 * The inbox's pages, as functions from what the engine answered to HTML. Every value goes through `html`,
 * which escapes it. The few scripts and styles are static assets (`assets.ts`), so the pages run under a
 * Content-Security-Policy without inline code.
 *
 * One module per page: `layout.ts` (the frame, a message, sign-in), `listPage.ts`, `approvalPage.ts` (with
 * an action link's confirm page) and `runPage.ts`.
 */
export * from "./approvalPage.js"
export * from "./layout.js"
export * from "./listPage.js"
export * from "./runPage.js"
