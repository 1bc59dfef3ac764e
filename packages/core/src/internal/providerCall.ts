import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as ApiRequest from "../ApiRequest.js"
import { isRetryable, type ProviderError, TimeoutError, TransportError } from "../LLMError.js"
import * as ProviderModule from "../Provider.js"
import type { Aimd } from "./adaptiveConcurrency.js"
import type { Answer } from "./answer.js"
import type { Breaker } from "./breaker.js"
import type { ItemCache } from "./itemCache.js"
import { callEnded, callStarted, recordRetries } from "./metrics.js"
import type { RateController, Ticket } from "./rateController.js"
import * as Retry from "./retry.js"
import type { Slots, Waiter } from "./slots.js"
import type { Spending } from "./spending.js"
import type { Tracing } from "./tracing.js"
import type { Counters } from "./tracker.js"

/** @internal */
export interface Options {
  readonly provider: ProviderModule.Provider.Service
  readonly rate: RateController
  readonly slots: Slots
  readonly clock: Clock.Clock
  /** Where answers are kept; undefined: no cache. */
  readonly cache: ItemCache | undefined
  readonly breaker: Breaker | undefined
  readonly timeout: Duration.Duration
  readonly maxRetries: number
  readonly retrySchedule: Schedule.Schedule<unknown, ProviderError> | undefined
  /** Cost of answers, and the budget a call must fit before it starts. */
  readonly spending: Spending
  /** Adaptive concurrency over `slots`; undefined: the slots stay at the configured concurrency. */
  readonly adaptive: Aimd | undefined
  /** A span per attempt when a tracer is installed (tracing.ts). */
  readonly tracing: Tracing
}

/** One attempt's outcome as the provider gave it. */
type Outcome = Either.Either<ProviderModule.Reply<ApiRequest.ApiResponse>, ProviderError>

/** What a direct attempt resumes with when its slot came but the rate limits need waiting for. */
const limitsFirst: unique symbol = Symbol.for("@fastllm/core/internal/providerCall/limitsFirst")
const resumeLimitsFirst = Effect.succeed<Outcome | typeof limitsFirst>(limitsFirst)

/**
 * The provider side of one request key: the circuit breaker, then attempts with retries, then the
 * cache write. Each attempt takes a slot, then waits for the rate limits, then sends with the
 * attempt timeout. The limits are taken inside the slot so that after a 429 or an exhausted quota
 * at most `concurrency` calls (not the whole window) have already been let through.
 *
 * @internal
 */
export const make = (options: Options) => {
  const { adaptive, breaker, cache, clock, provider, rate, slots, spending, timeout, tracing } = options
  const { guard } = spending
  const callOptions: ProviderModule.CallOptions = { timeout }
  const withTimeout = provider.enforcesTimeout === true || !Duration.isFinite(timeout)
    ? <A>(effect: Effect.Effect<A, ProviderError>) => effect
    : <A>(effect: Effect.Effect<A, ProviderError>) =>
      Effect.timeoutFail(effect, { duration: timeout, onTimeout: () => new TimeoutError({ timeout }) })
  const breakerOpen = () => breaker !== undefined && breaker.isOpen(clock.unsafeCurrentTimeMillis())
  const health = new Retry.Health()
  const mostlySucceeding = () => health.mostlySucceeding
  const schedule = Retry.policy({
    schedule: options.retrySchedule,
    maxRetries: options.maxRetries,
    allowRetry: () => !breakerOpen(),
    healthy: () => health.healthy
  })

  const send = (request: ApiRequest.ApiRequest, counters: Counters) =>
    Effect.suspend(() => {
      counters.attemptStarted()
      const started = callStarted(clock)
      // One uninterruptible `matchCauseEffect` ends the call's bookkeeping (its duration, the
      // attempt's end) however it ends, turns a defect into a `TransportError` and the outcome
      // into an Either: what `catchAllDefect`, `onExit` and `either` did in three steps (~6 more
      // effect operations per call: `npx tsx bench/lib/opCount.ts --base e5531d1`).
      const ended = () => {
        callEnded(clock, started)
        counters.attemptEnded()
      }
      // the provider's own call, its reply tagged in `onSuccess` below (what
      // `ProviderModule.send` does with a `map`: one operation fewer per call)
      const call = withTimeout<ProviderModule.Reply<ApiRequest.ApiResponse["response"]>>(
        request._tag === "Chat" ? provider.chat(request.request, callOptions) : provider.embed(request.request, callOptions)
      )
      return tracing.attempt(
        request,
        Effect.uninterruptibleMask((restore) =>
          Effect.matchCauseEffect(restore(call), {
            onFailure: (cause): Effect.Effect<Either.Either<ProviderModule.Reply<ApiRequest.ApiResponse>, ProviderError>> => {
              ended()
              const defect = Cause.dieOption(cause)
              if (Option.isSome(defect)) {
                return Effect.succeed(Either.left(
                  new TransportError({ reason: `the provider failed unexpectedly: ${String(defect.value)}` })
                ))
              }
              const failure = Cause.failureOrCause(cause)
              return Either.isLeft(failure) ? Effect.succeed(Either.left(failure.left)) : Effect.failCause(failure.right)
            },
            onSuccess: (reply) => {
              ended()
              const response = (request._tag === "Chat"
                ? { _tag: "Chat", response: reply.response }
                : { _tag: "Embedding", response: reply.response }) as ApiRequest.ApiResponse // the request's kind is the reply's
              return Effect.succeed(Either.right<ProviderModule.Reply<ApiRequest.ApiResponse>>({ response, rateLimit: reply.rateLimit }))
            }
          })
        )
      )
    })

  /**
   * Feeds the connection's health (retry.ts: quick retries after a reset while the server answers)
   * and the adaptive concurrency law with one attempt's outcome, and applies the law's verdict.
   */
  const adapt = (reply: Either.Either<unknown, ProviderError>) => {
    const error = Either.isLeft(reply) ? reply.left : undefined
    health.record(error === undefined || (error._tag !== "TransportError" && error._tag !== "TimeoutError"), error === undefined)
    if (adaptive === undefined) return
    const signal = error === undefined
      ? "ok"
      : error._tag === "TimeoutError" || (error._tag === "RateLimitError" && error.kind !== "quota")
      ? "congested"
      : "neutral"
    // sub-millisecond time: at 0 ms latency a round of calls can end within a few milliseconds
    if (adaptive.record(signal, Number(clock.unsafeCurrentTimeNanos()) / 1e6)) slots.resize(Math.round(adaptive.limit))
  }

  /** Waits for the rate limits, then sends. */
  const limited = (request: ApiRequest.ApiRequest, estimate: number, counters: Counters) =>
    Effect.flatMap(rate.acquire(estimate), (ticket) =>
      Effect.map(send(request, counters), (reply) => {
        adapt(reply)
        return { ticket, reply }
      }))

  /**
   * One attempt; the rate controller hears how it went once the slot is free again. With a cost
   * budget, the attempt must fit it before it waits for the rate limits (spending.ts).
   */
  const chained = (request: ApiRequest.ApiRequest, estimate: number, counters: Counters) =>
    Effect.flatMap(
      slots.withSlot(guard === undefined ? limited(request, estimate, counters) : guard(request, limited(request, estimate, counters))),
      ({ reply, ticket }) =>
        Either.isLeft(reply)
          ? Effect.zipRight(rate.onError(ticket, reply.left), Effect.fail(reply.left))
          : (() => {
            const after = rate.replied(ticket, reply.right.response, reply.right.rateLimit)
            return after === undefined ? Effect.succeed(reply.right) : Effect.as(after, reply.right)
          })()
    )

  const unsafeCall = provider.enforcesTimeout === true && guard === undefined ? ProviderModule.unsafeCallOf(provider) : undefined
  /** Set once `tryAcquire` said to wait (limits known, the gate shut, no quota): attempts go the effect way from then on. */
  let limitsKnown = false

  /**
   * {@link chained} as one suspension of the item's fiber, over the provider's `UnsafeCall`: the
   * slot (taken on the spot, or the attempt queued for the next one), the ticket (`tryAcquire`),
   * the call, and what the chain does when the call ends (its duration and end, health and
   * adaptive concurrency, the slot given back, the rate controller's reply) run as callbacks;
   * the fiber resumes once, with the outcome. An interruption is cleaned up by the one
   * `matchCauseEffect` around it (leave the queue, or abort the call and give the slot back),
   * so the `Effect.async` needs no canceler (an `onInterrupt` per call: an `onExit` with its
   * uninterruptible region, ~8 effect operations). Departure from the effect chain (a slot
   * `Effect.async`, a `flatMap` per step, the provider's own `Effect.async` and `matchEffect`):
   * `node --conditions=@fastllm/source --import tsx bench/lib/gcInFlight.ts --base a853231` (bytes
   * allocated and GC per request, 1,000 in flight) and `bench/lib/libSteps.ts --base a853231
   * --only http --concurrency 1000 --latency 20 --window default`.
   */
  class DirectAttempt {
    /** 0: waiting for a slot; 1: calling; 2: over (ended, or sent the effect way). */
    stage = 0
    waiter: Waiter | undefined = undefined
    abort: (() => void) | undefined = undefined
    ticket: Ticket | undefined = undefined
    after: Effect.Effect<void> | undefined = undefined
    started = 0
    resume: (effect: Effect.Effect<Outcome | typeof limitsFirst>) => void = () => {}

    constructor(
      readonly call: ProviderModule.UnsafeCall,
      readonly request: ApiRequest.ApiRequest,
      readonly estimate: number,
      readonly counters: Counters
    ) {}

    start(resume: (effect: Effect.Effect<Outcome | typeof limitsFirst>) => void): void {
      this.resume = resume
      if (slots.tryTake()) this.granted()
      else this.waiter = slots.enqueue(() => this.granted())
    }

    /** The slot is ours: take the ticket and call, or give the slot back and go the effect way. */
    granted(): void {
      const ticket = rate.tryAcquire(this.estimate)
      if (ticket === undefined) {
        limitsKnown = true
        this.stage = 2
        slots.release()
        this.resume(resumeLimitsFirst)
        return
      }
      this.ticket = ticket
      this.stage = 1
      this.counters.attemptStarted()
      this.started = callStarted(clock)
      try {
        this.abort = this.call(this.request, callOptions, (outcome) => this.ended(outcome))
      } catch (defect) {
        this.ended(Either.left(new TransportError({ reason: `the provider failed unexpectedly: ${String(defect)}` })))
      }
    }

    ended(outcome: Outcome): void {
      if (this.stage !== 1) return
      this.stage = 2
      callEnded(clock, this.started)
      this.counters.attemptEnded()
      adapt(outcome)
      slots.release()
      if (Either.isRight(outcome)) this.after = rate.replied(this.ticket!, outcome.right.response, outcome.right.rateLimit)
      this.resume(Effect.succeed(outcome))
    }

    interrupted(): void {
      if (this.stage === 0) {
        if (this.waiter !== undefined) this.waiter.wake = undefined
      } else if (this.stage === 1) {
        this.stage = 2
        this.abort?.()
        callEnded(clock, this.started)
        this.counters.attemptEnded()
        slots.release()
      }
      this.stage = 2
    }
  }

  /**
   * The attempt over `call`; its reply goes on to `onReply`, its error (after the rate controller
   * heard it) to `onError`, both run interruptibly as after any attempt (`Effect.matchEffect` on
   * the attempt, folded into the one `matchCauseEffect` it needs anyway).
   */
  const direct = <B, E>(
    call: ProviderModule.UnsafeCall,
    request: ApiRequest.ApiRequest,
    estimate: number,
    counters: Counters,
    onReply: (reply: ProviderModule.Reply<ApiRequest.ApiResponse>) => Effect.Effect<B, E>,
    onError: (error: ProviderError) => Effect.Effect<B, E>,
    /** `onReply` is a plain value or a failure: no need to make it interruptible again. */
    plainReply: boolean
  ): Effect.Effect<B, E> =>
    Effect.uninterruptibleMask((restore) => {
      const run = new DirectAttempt(call, request, estimate, counters)
      return Effect.matchCauseEffect(
        restore(Effect.async<Outcome | typeof limitsFirst>((resume) => {
          run.start(resume)
        })),
        {
          onFailure: (cause) => {
            run.interrupted()
            return Effect.failCause(cause)
          },
          onSuccess: (outcome): Effect.Effect<B, E> => {
            if (outcome === limitsFirst) return restore(Effect.matchEffect(chained(request, estimate, counters), { onFailure: onError, onSuccess: onReply }))
            if (Either.isLeft(outcome)) return restore(Effect.zipRight(rate.onError(run.ticket!, outcome.left), onError(outcome.left)))
            const after = run.after
            if (after !== undefined) return restore(Effect.zipRight(after, onReply(outcome.right)))
            return plainReply ? onReply(outcome.right) : restore(onReply(outcome.right))
          }
        }
      )
    })

  const succeed = <A>(a: A) => Effect.succeed(a)
  const fail = (error: ProviderError) => Effect.fail(error)

  /** One attempt: {@link direct} where the provider has an `UnsafeCall` and nothing needs the chain (no span, no cost budget, no limits known). */
  const attempt = (request: ApiRequest.ApiRequest, estimate: number, counters: Counters) =>
    unsafeCall === undefined
      ? chained(request, estimate, counters)
      : Effect.tracerWith((tracer) =>
        limitsKnown || tracing.traced(tracer)
          ? chained(request, estimate, counters)
          : direct(unsafeCall, request, estimate, counters, succeed, fail, true)
      )

  const done = (
    key: string,
    request: ApiRequest.ApiRequest,
    attempts: number,
    exit: Either.Either<ProviderModule.Reply<ApiRequest.ApiResponse>, ProviderError>,
    counters: Counters
  ): Effect.Effect<Answer> => {
    // An attempt refused by the cost budget sent nothing: it is not a call.
    if (Either.isLeft(exit) && exit.left._tag === "BudgetExceededError") attempts--
    const retries = Math.max(0, attempts - 1)
    if (retries > 0) counters.retried(retries)
    recordRetries(retries)
    breaker?.record(Either.isLeft(exit) ? exit.left : undefined, clock.unsafeCurrentTimeMillis())
    if (Either.isLeft(exit)) return Effect.succeed({ _tag: "Failure", error: exit.left, attempts })
    const answer: Answer = {
      _tag: "Success",
      response: exit.right.response,
      fromCache: false,
      attempts,
      cost: spending.costOf(request, exit.right.response)
    }
    return cache === undefined ? Effect.succeed(answer) : Effect.as(cache.set(key, exit.right.response, counters), answer)
  }

  return (key: string, request: ApiRequest.ApiRequest, counters: Counters): Effect.Effect<Answer> =>
    Effect.withFiberRuntime((fiber) => {
      if (breaker !== undefined && breakerOpen()) {
        return Effect.succeed<Answer>({ _tag: "Failure", error: breaker.rejection(), attempts: 0 })
      }
      const estimate = rate.estimate(request)
      let attempts = 0
      /** The next attempt, counted (made when needed: the direct first attempt does without). */
      const next = () =>
        Effect.suspend(() => {
          attempts++
          return attempt(request, estimate, counters)
        })
      const finish = (exit: Either.Either<ProviderModule.Reply<ApiRequest.ApiResponse>, ProviderError>) =>
        done(key, request, attempts, exit, counters)
      const failed = (first: ProviderError) =>
        options.maxRetries <= 0 || !isRetryable(first)
          ? finish(Either.left(first))
          : Effect.flatMap(Effect.either(Retry.retryFrom(first, next(), schedule, mostlySucceeding)), finish)
      const replied = (reply: ProviderModule.Reply<ApiRequest.ApiResponse>) => finish(Either.right(reply))
      if (unsafeCall !== undefined && !limitsKnown && !tracing.traced(fiber.currentTracer)) {
        // the first attempt ends straight in the item's answer (no `matchEffect` and `suspend` of
        // `next()` around it); retries go through `next()` as below
        attempts = 1
        return direct(unsafeCall, request, estimate, counters, replied, failed, cache === undefined)
      }
      // `Retry.withRetries` + `either` + `flatMap` as one `matchEffect` on the first attempt: the
      // retry schedule starts only after a retryable failure (`npx tsx bench/lib/opCount.ts`)
      return Effect.matchEffect(next(), { onFailure: failed, onSuccess: replied })
    })
}
