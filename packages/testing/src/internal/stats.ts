/**
 * The statistics of one server: what it received, sent and injected, and requests per second.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import type { FaultKind, ServerStats } from "../ServerOptions.js"
import { emptyFaultCounts } from "./faults.js"

/** @internal */
export class Stats {
  private requests = 0
  private byBodyHash = new Map<string, number>()
  private maxConcurrent = 0
  private inFlight = 0
  private rateLimited = 0
  private byStatus: Record<number, number> = {}
  private byPath: Record<string, number> = {}
  private faults: Record<FaultKind, number> = emptyFaultCounts()
  private perSecond: Array<number> = []
  private structured = { valid: 0, invalid: 0, refusals: 0 }
  private startedAt: number

  constructor(private readonly now: () => number) {
    this.startedAt = now()
  }

  /** A request arrived (its body read completely). */
  received(path: string, body: Buffer): void {
    this.requests++
    this.byPath[path] = (this.byPath[path] ?? 0) + 1
    if (body.length > 0) {
      const hash = createHash("sha256").update(body).digest("hex")
      this.byBodyHash.set(hash, (this.byBodyHash.get(hash) ?? 0) + 1)
    }
    const second = Math.max(0, Math.floor((this.now() - this.startedAt) / 1000))
    while (this.perSecond.length <= second) this.perSecond.push(0)
    this.perSecond[second]!++
  }

  enter(): void {
    this.inFlight++
    if (this.inFlight > this.maxConcurrent) this.maxConcurrent = this.inFlight
  }

  exit(): void {
    this.inFlight--
  }

  /** Requests in flight now. */
  concurrent(): number {
    return this.inFlight
  }

  responded(status: number): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1
    if (status === 429) this.rateLimited++
  }

  injected(kind: FaultKind): void {
    this.faults[kind]++
  }

  /** A structured-output answer was given. */
  structuredAnswer(kind: "valid" | "invalid" | "refusal"): void {
    if (kind === "refusal") this.structured.refusals++
    else this.structured[kind]++
  }

  snapshot(): ServerStats {
    return {
      requests: this.requests,
      byBodyHash: new Map(this.byBodyHash),
      maxConcurrent: this.maxConcurrent,
      inFlight: this.inFlight,
      rateLimited: this.rateLimited,
      byStatus: { ...this.byStatus },
      byPath: { ...this.byPath },
      faults: { ...this.faults },
      requestsPerSecond: [...this.perSecond],
      peakRequestsPerSecond: this.perSecond.reduce((max, count) => Math.max(max, count), 0),
      structuredAnswers: { ...this.structured }
    }
  }

  reset(): void {
    this.requests = 0
    this.byBodyHash = new Map()
    this.maxConcurrent = this.inFlight
    this.rateLimited = 0
    this.byStatus = {}
    this.byPath = {}
    this.faults = emptyFaultCounts()
    this.perSecond = []
    this.structured = { valid: 0, invalid: 0, refusals: 0 }
    this.startedAt = this.now()
  }
}
