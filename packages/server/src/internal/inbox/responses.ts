/**
 * How the inbox answers: an HTML page under its security headers, and a redirect after a form.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { Html } from "./html.js"

const securityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // Action link tokens are in URLs: never send them on as a referrer.
  "referrer-policy": "no-referrer",
  "cache-control": "no-store"
}

/** An HTML page, never cached, under the inbox's Content-Security-Policy. */
export const page = (body: Html, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(body.value, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: securityHeaders
  })

/** A 303 to `location`: where a form post goes next. */
export const seeOther = (location: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.redirect(location, { status: 303, headers: { "cache-control": "no-store" } })
