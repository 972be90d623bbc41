/**
 * Delivers the events outbox to webhook subscriptions. Runs in any process that has the database (a runner,
 * the HTTP server); with several processes on PostgreSQL each delivery is claimed by one of them at a time
 * (`FOR UPDATE SKIP LOCKED`) under a lease, and a delivery whose claimer dies is claimed again once its
 * lease expires: at least once, never lost.
 *
 * How nothing accepted is lost: a fan-out round reads the outbox after a cursor stored in the database and,
 * in the same transaction, inserts one delivery row per (subscription, event) and moves the cursor. On
 * PostgreSQL the outbox read only returns events of transactions older than every one still running, so an
 * event whose transaction commits late is read in a later round instead of being passed over. A delivery
 * row then lives until it is delivered or dead-lettered; the cursor never needs to move back.
 *
 * The same process also emits the reminders of pending approvals (`Approval.request(..., { remind })`):
 * they are stored with the approval, so they survive restarts, and a sweep appends an `approval.reminder`
 * event when one is due.
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import { randomUUID } from "node:crypto"
import * as ActionLinks from "./ActionLinks.js"
import * as Directory from "./Directory.js"
import * as Storage from "./internal/storage.js"
import { mapStorage } from "./internal/storageError.js"
import {
  afterFailure,
  destinationProblem,
  newMessageId,
  signatureHeader,
  unsealSecret,
  wants
} from "./internal/webhookPolicy.js"
import { pinnedFetch, resolveDestination } from "./internal/webhookHttp.js"
import type { DeliveryRow, WebhookRow } from "./internal/storage/webhooks.js"
import * as WebhookMetrics from "./internal/webhookMetrics.js"
import { describe, readPrefix } from "./internal/webhooks/responses.js"
import * as SlackMessage from "./SlackMessage.js"
import type { StorageError } from "./StorageError.js"
import { AllowedHosts, SecretKey, WebhookEvent } from "./Webhooks.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface DispatcherOptions {
  /** How often to look for new events and due deliveries when nothing woke the dispatcher. Default 1 second. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Time limit of one attempt, response included. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** How long a claim holds a delivery; must exceed `timeout`. Default 1 minute. */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /** Deliveries claimed per round. Default 50. */
  readonly batchSize?: number | undefined
  /** Delay before the second attempt, doubled at each failure (with jitter). Default 5 seconds. */
  readonly initialDelay?: Duration.DurationInput | undefined
  /** The longest delay between attempts. Default 1 hour. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** How long a delivery is retried before it is dead-lettered. Default 1 day. */
  readonly horizon?: Duration.DurationInput | undefined
  /** The claimer's name in the deliveries table. Default a random id. */
  readonly owner?: string | undefined
  /**
   * Where chat messages (`format: "slack"` subscriptions) link to: the server's public URL. Without it they
   * carry no links. Approve / Deny links are minted with `ActionLinks` when it is in context, and only for a
   * subscription's reviewer whom the `Directory` knows, sent to one of that person's own `chatWebhooks`, and
   * who is, with the roles the directory gives them, among the approval's reviewers; every other message
   * carries "Open in inbox" only.
   */
  readonly links?: SlackMessage.Links | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DrainResult {
  /** Events of the outbox read by fan-out rounds. */
  readonly events: number
  /** Attempts made (whatever their outcome). */
  readonly attempts: number
  /** Reminders emitted. */
  readonly reminders: number
}

/**
 * The dispatcher's metrics: `gatehouse_webhook_attempts_total{outcome}` (`delivered`, `failed`, `dead`),
 * `gatehouse_webhook_attempt_duration_seconds` and `gatehouse_approval_reminders_total`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: {
  readonly attempts: Metric.Metric.Counter<number>
  readonly attemptDuration: Metric.Metric.Histogram<number>
  readonly reminders: Metric.Metric.Counter<number>
} = {
  attempts: WebhookMetrics.attempts,
  attemptDuration: WebhookMetrics.attemptDuration,
  reminders: WebhookMetrics.reminders
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WebhookDispatcher extends Context.Tag("@gatehouse/engine/WebhookDispatcher")<WebhookDispatcher, {
  /**
   * One full pass at the current time: emits due reminders, fans every visible event out, and attempts every
   * delivery due now until none is left (a failed one waits for its next attempt time). Tests drive it
   * after `TestClock.adjust`.
   */
  readonly drain: Effect.Effect<DrainResult, StorageError>
}>() {}

// The dispatcher on `Storage`; `make` builds it on the SQL client in context.
const makeOn = (
  options: DispatcherOptions
): Effect.Effect<WebhookDispatcher["Type"], never, Storage.Storage | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const storage = yield* Storage.Storage
    const store = storage.webhooks
    const client = yield* HttpClient.HttpClient
    // The allow-list and the sealing key in force where the dispatcher is built: `drain` and the loop use
    // the same ones, whoever calls.
    const allowedHosts = yield* AllowedHosts
    const secretKey = yield* SecretKey
    const actionLinks = yield* Effect.serviceOption(ActionLinks.ActionLinks)
    // The deployment's directory of people where the dispatcher is built: the only source of a link
    // recipient's roles (a subscription names a person, it never gives them authority).
    const directory = yield* Directory.Directory
    const decodeEvent = Schema.decodeUnknown(Schema.parseJson(WebhookEvent))
    /**
     * Who a subscription's links may be minted for: its reviewer as the directory knows them (roles from the
     * directory only; roles stored with an older subscription count for nothing), and only when the
     * subscription's URL is one of that person's own chat destinations in the directory; otherwise nobody.
     */
    const recipientOf = (subscription: WebhookRow) =>
      subscription.reviewer === undefined || Option.isNone(actionLinks)
        ? Effect.succeed(Option.none<SlackMessage.Reviewer>())
        : Effect.map(
          directory.find(subscription.reviewer.id),
          Option.flatMap((person) =>
            Directory.reaches(person, subscription.url)
              ? Option.some<SlackMessage.Reviewer>({ id: person.id, roles: person.roles })
              : Option.none()
          )
        )
    // The bytes sent: the stored event, or for a chat destination the message about it, with links minted
    // now (only their hashes are stored, by `ActionLinks`, which audits each one and refuses a person who is
    // not among the approval's reviewers: the message then carries "Open in inbox" only).
    const payloadOf = (subscription: WebhookRow, delivery: DeliveryRow) =>
      subscription.format === "standard"
        ? Effect.succeed(delivery.body)
        : Effect.gen(function*() {
          const event = yield* decodeEvent(delivery.body)
          const recipient = yield* recipientOf(subscription)
          const mint: SlackMessage.Mint | undefined = Option.isSome(actionLinks) && Option.isSome(recipient)
            ? (input) => actionLinks.value.mint({ ...input, by: `webhook:${subscription.id}` })
            : undefined
          const message = yield* SlackMessage.render(event, {
            links: options.links,
            reviewer: Option.getOrUndefined(recipient),
            mint
          })
          return JSON.stringify(message ?? { text: `Gatehouse: ${event.type}` })
        }).pipe(Effect.orElseSucceed(() => JSON.stringify({ text: "Gatehouse event" })))
    const owner = options.owner ?? `dispatcher-${randomUUID()}`
    const timeout = Duration.decode(options.timeout ?? "10 seconds")
    // A claim outlives its attempt, so no live claimer's delivery is taken over.
    const leaseMillis = Math.max(
      Duration.toMillis(Duration.decode(options.leaseDuration ?? "1 minute")),
      Duration.toMillis(timeout) + 1000
    )
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 50))
    const retry = {
      initialDelayMillis: Duration.toMillis(Duration.decode(options.initialDelay ?? "5 seconds")),
      maxDelayMillis: Duration.toMillis(Duration.decode(options.maxDelay ?? "1 hour")),
      horizonMillis: Duration.toMillis(Duration.decode(options.horizon ?? "1 day"))
    }
    // Per-endpoint concurrency within this process.
    const semaphores = new Map<string, { readonly limit: number; readonly semaphore: Effect.Semaphore }>()
    const semaphoreOf = (webhookId: string, limit: number): Effect.Semaphore => {
      const existing = semaphores.get(webhookId)
      if (existing !== undefined && existing.limit === limit) return existing.semaphore
      const semaphore = Effect.unsafeMakeSemaphore(limit)
      semaphores.set(webhookId, { limit, semaphore })
      return semaphore
    }

    const fanOutRound = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      return yield* store.fanOut(500, (events, approvalContext) =>
        Effect.gen(function*() {
          // Read in the fan-out's transaction, after the events: a subscription committed before this read
          // gets the events of this round created after it.
          const subscriptions = yield* store.listWebhooks
          const planned: Array<{
            id: string
            webhookId: string
            event: (typeof events)[number]
            body: string
            now: number
          }> = []
          for (const event of events) {
            const targets = subscriptions.filter((subscription) => wants(subscription, event))
            if (targets.length === 0) continue
            const approval = event.runId !== undefined && event.nodeId !== undefined && event.type.startsWith("approval.")
              ? yield* approvalContext(event.runId, event.nodeId)
              : undefined
            const body: WebhookEvent = {
              type: event.type,
              timestamp: new Date(event.createdAt).toISOString(),
              data: {
                event: `${event.tx}-${event.seq}`,
                ...(event.runId !== undefined ? { runId: event.runId } : {}),
                ...(event.nodeId !== undefined ? { nodeId: event.nodeId } : {}),
                ...(event.workflow !== undefined ? { workflow: event.workflow } : {}),
                ...(event.actor !== undefined ? { actor: event.actor } : {}),
                createdAt: event.createdAt,
                ...(event.data !== undefined ? { details: event.data } : {}),
                ...(approval !== undefined
                  ? {
                    approval: {
                      title: approval.title,
                      ...(approval.summary !== undefined ? { summary: approval.summary } : {}),
                      ...(approval.metadata !== undefined ? { metadata: approval.metadata } : {}),
                      requestHash: approval.requestHash,
                      revision: approval.revision,
                      status: approval.status,
                      ...(approval.deadline !== undefined ? { deadline: approval.deadline } : {}),
                      reviewers: approval.reviewers
                    }
                  }
                  : {})
              }
            }
            const text = JSON.stringify(body)
            for (const target of targets) {
              planned.push({ id: newMessageId(), webhookId: target.id, event, body: text, now })
            }
          }
          return planned
        })
      )
    })

    const fanOutAll = Effect.gen(function*() {
      let total = 0
      while (true) {
        const n = yield* fanOutRound
        total += n
        if (n === 0) return total
      }
    })

    const attempt = (delivery: DeliveryRow, subscription: WebhookRow | undefined) =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        const finish = (
          outcome: {
            readonly statusCode?: number | undefined
            readonly error?: string | undefined
            readonly response?: string | undefined
            readonly delivered: boolean
            readonly final?: boolean | undefined
          }
        ) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const random = yield* Random.next
            const next = outcome.delivered
              ? { _tag: "Delivered" as const }
              : outcome.final === true
              ? { _tag: "Dead" as const }
              : afterFailure(retry, { attempts: delivery.attempts, retryFrom: delivery.retryFrom, now, random })
            if (next._tag === "Dead") {
              yield* Effect.logWarning("webhook delivery dead-lettered").pipe(
                Effect.annotateLogs({ delivery: delivery.id, webhook: delivery.webhookId, error: outcome.error })
              )
            }
            const recorded = yield* store.finishAttempt({
              seq: delivery.seq,
              owner,
              attempt: delivery.attempts,
              startedAt,
              statusCode: outcome.statusCode,
              latencyMs: Math.max(0, now - startedAt),
              error: outcome.error,
              response: outcome.response,
              next,
              now
            })
            if (recorded) {
              const outcome = next._tag === "Delivered" ? "delivered" : next._tag === "Dead" ? "dead" : "failed"
              yield* Metric.increment(Metric.tagged(WebhookMetrics.attempts, "outcome", outcome))
              yield* Metric.update(WebhookMetrics.attemptDuration, Math.max(0, now - startedAt) / 1000)
            }
          }).pipe(Effect.uninterruptible) // an answer received is recorded, even while the process stops
        if (subscription === undefined) return yield* finish({ delivered: false, final: true, error: "subscription removed" })
        if (!subscription.enabled) {
          return yield* finish({ delivered: false, final: true, error: "subscription disabled" })
        }
        const problem = destinationProblem(subscription.url, allowedHosts)
        if (problem !== undefined) return yield* finish({ delivered: false, final: true, error: problem.reason })
        // Resolved now, every address checked, and the connection made to the checked one (a name that
        // answers otherwise a moment later is not asked again).
        const resolved = yield* resolveDestination(subscription.url, allowedHosts).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => ({ reason: `resolving the host timed out after ${Duration.format(timeout)}`, final: false })
          }),
          Effect.either
        )
        if (resolved._tag === "Left") {
          return yield* finish({ delivered: false, final: resolved.left.final, error: resolved.left.reason })
        }
        const secrets = subscription.secrets.flatMap((stored) => {
          const secret = unsealSecret(stored.secret, secretKey === undefined ? undefined : Redacted.value(secretKey))
          return secret === undefined ? [] : [{ ...stored, secret }]
        })
        if (secrets.length === 0) {
          return yield* finish({
            delivered: false,
            error: "the signing secret cannot be unsealed: GATEHOUSE_WEBHOOK_SECRET_KEY is missing or another key"
          })
        }
        const timestampSeconds = Math.floor(startedAt / 1000)
        const body = yield* payloadOf(subscription, delivery)
        const request = HttpClientRequest.post(subscription.url).pipe(
          HttpClientRequest.setHeaders({
            "webhook-id": delivery.id,
            "webhook-timestamp": String(timestampSeconds),
            "webhook-signature": signatureHeader(
              secrets,
              { id: delivery.id, timestampSeconds, body },
              startedAt
            ),
            "user-agent": "gatehouse-webhooks"
          }),
          HttpClientRequest.bodyText(body, "application/json")
        )
        const outcome = yield* client.execute(request).pipe(
          Effect.flatMap((response) =>
            Effect.map(readPrefix(response.stream), (text) => ({ status: response.status, text }))
          ),
          Effect.scoped,
          // The fetch client connects to the pinned address; another client resolves for itself.
          Effect.provideService(FetchHttpClient.Fetch, pinnedFetch(resolved.right)),
          Effect.timeoutFail({ duration: timeout, onTimeout: () => `timed out after ${Duration.format(timeout)}` }),
          Effect.either
        )
        if (outcome._tag === "Left") {
          const error = typeof outcome.left === "string" ? outcome.left : describe(outcome.left)
          return yield* finish({ delivered: false, error })
        }
        const { status, text } = outcome.right
        if (status === 410) {
          // Standard Webhooks: 410 Gone asks the sender to stop. The subscription is disabled until an operator
          // enables it again; this message is dead-lettered (redeliverable by hand).
          const now = yield* Clock.currentTimeMillis
          yield* store.updateWebhook(subscription.id, { enabled: false, now })
          yield* Effect.logWarning("webhook subscription disabled: the receiver answered 410 Gone").pipe(
            Effect.annotateLogs({ webhook: subscription.id })
          )
          return yield* finish({
            delivered: false,
            final: true,
            statusCode: status,
            error: "HTTP 410 Gone: the subscription was disabled",
            response: text === "" ? undefined : text
          })
        }
        const delivered = status >= 200 && status < 300
        return yield* finish({
          delivered,
          statusCode: status,
          response: text === "" ? undefined : text,
          ...(delivered ? {} : { error: `HTTP ${status}` })
        })
      })

    const deliverRound = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const claimed = yield* store.claim({ owner, now, leaseMillis, limit: batchSize })
      if (claimed.length === 0) return 0
      // Read after the claim: a subscription removed or disabled before it is not delivered to.
      const subscriptions = new Map((yield* store.listWebhooks).map((row) => [row.id, row] as const))
      yield* Effect.forEach(
        claimed,
        (delivery) => {
          const subscription = subscriptions.get(delivery.webhookId)
          return semaphoreOf(delivery.webhookId, subscription?.maxConcurrency ?? 1).withPermits(1)(
            attempt(delivery, subscription)
          )
        },
        { concurrency: "unbounded", discard: true }
      )
      return claimed.length
    })

    const drain = Effect.gen(function*() {
      const reminders = yield* storage.reminders.emitDue(yield* Clock.currentTimeMillis)
      if (reminders > 0) yield* Metric.incrementBy(WebhookMetrics.reminders, reminders)
      const events = yield* fanOutAll
      let attempts = 0
      while (true) {
        const n = yield* deliverRound
        attempts += n
        if (n === 0) break
        // Events appended meanwhile; the next claim also takes deliveries an attempt of this round unblocked.
        yield* fanOutAll
      }
      return { events, attempts, reminders }
    }).pipe(mapStorage("WebhookDispatcher.drain"))

    return WebhookDispatcher.of({ drain })
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: DispatcherOptions = {}
): Effect.Effect<WebhookDispatcher["Type"], never, SqlClient.SqlClient | HttpClient.HttpClient> =>
  Effect.provide(makeOn(options), Storage.layer)

/**
 * The dispatcher, without a background loop: call `drain` yourself (tests under `TestClock`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerManual = (
  options: DispatcherOptions = {}
): Layer.Layer<WebhookDispatcher, never, SqlClient.SqlClient | HttpClient.HttpClient> =>
  Layer.effect(WebhookDispatcher, makeOn(options)).pipe(Layer.provide(Storage.layer))

/**
 * The dispatcher with its background loop: drains at once when this process changes a run, and every
 * `pollInterval` for events of other processes and retries that fall due. A failing pass is logged and
 * retried at the next interval; the loop stops with the layer's scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: DispatcherOptions = {}
): Layer.Layer<WebhookDispatcher, never, SqlClient.SqlClient | HttpClient.HttpClient> =>
  Layer.scoped(
    WebhookDispatcher,
    Effect.gen(function*() {
      const dispatcher = yield* makeOn(options)
      const storage = yield* Storage.Storage
      const pollInterval = Duration.decode(options.pollInterval ?? "1 second")
      const loop = Effect.gen(function*() {
        while (true) {
          const changed = yield* storage.signals.changes.capture
          yield* dispatcher.drain.pipe(
            Effect.catchAll((error) => Effect.logWarning("webhook dispatch failed", error))
          )
          yield* Effect.raceFirst(changed, Effect.sleep(pollInterval))
        }
      })
      yield* Effect.forkScoped(loop)
      return dispatcher
    })
  ).pipe(Layer.provide(Storage.layer))

/**
 * `layer` with `fetch` as the HTTP client, connecting to the address each delivery's host was resolved to
 * and checked against (see `Webhooks.AllowedHosts`). Redirects are not followed: a 3xx answer is a failed
 * attempt, so a receiver cannot bounce a delivery to a host outside the allow-list.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFetch = (options: DispatcherOptions = {}): Layer.Layer<WebhookDispatcher, never, SqlClient.SqlClient> =>
  layer(options).pipe(Layer.provide(fetchClient))

/**
 * `layerManual` with `fetch` as the HTTP client, redirects not followed.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerManualFetch = (
  options: DispatcherOptions = {}
): Layer.Layer<WebhookDispatcher, never, SqlClient.SqlClient> => layerManual(options).pipe(Layer.provide(fetchClient))

const fetchClient: Layer.Layer<HttpClient.HttpClient> = FetchHttpClient.layer.pipe(
  Layer.provide(Layer.succeed(FetchHttpClient.RequestInit, { redirect: "manual" }))
)
