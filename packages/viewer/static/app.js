// The FastLLM viewer page. Every value from a file or a run is written with textContent (or as a
// text node): nothing from the data is ever parsed as HTML. The server's CSP forbids inline
// scripts and other origins, so even a slip here could not run an answer's <script>.
"use strict"
;(() => {
  const $ = (id) => document.getElementById(id)
  const number = new Intl.NumberFormat("en-US")
  const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 })
  const dollars = (n) => n === null || n === undefined ? "unknown" : "$" + (n < 0.01 ? n.toFixed(6) : n.toFixed(4))
  const pageSize = 100

  /** An element with text children (strings become text nodes, never HTML). */
  const el = (tag, className, ...children) => {
    const node = document.createElement(tag)
    if (className) node.className = className
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue
      node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child)
    }
    return node
  }
  const clear = (node) => node.replaceChildren()
  const getJson = async (url) => {
    const response = await fetch(url, { headers: { accept: "application/json" } })
    const body = await response.json()
    if (!response.ok) throw new Error(body && body.error ? body.error : response.statusText)
    return body
  }
  const isRecord = (u) => typeof u === "object" && u !== null && !Array.isArray(u)

  // ---- charts (uPlot), in the colours of the current scheme ----
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()
  const charts = []
  // Charts redraw when their box changes size (window, detail panel) or the colour scheme changes.
  const resized = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const chartEntry = charts.find((c) => c.container === entry.target)
      if (chartEntry && Math.abs((chartEntry.width || 0) - entry.contentRect.width) > 4) draw(chartEntry)
    }
  })
  const chart = (container, make) => {
    const entry = { container, make, plot: undefined, width: 0 }
    charts.push(entry)
    draw(entry)
    resized.observe(container)
    return entry
  }
  const draw = (entry) => {
    if (typeof uPlot === "undefined") return
    if (entry.plot) entry.plot.destroy()
    clear(entry.container)
    const width = Math.max(240, entry.container.clientWidth || 400)
    entry.width = width
    const spec = entry.make()
    if (!spec) return
    const axis = { stroke: css("--fg-muted"), grid: { stroke: css("--grid") }, ticks: { stroke: css("--grid") } }
    const options = {
      width,
      height: 200,
      legend: { show: spec.legend === true },
      cursor: { drag: { x: false, y: false } },
      scales: spec.scales || { x: { time: false } },
      axes: (spec.axes || [{}, {}]).map((a) => Object.assign({}, axis, a)),
      series: spec.series
    }
    entry.plot = new uPlot(options, spec.data, entry.container)
  }
  const redrawAll = () => charts.forEach(draw)
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll)
  const bars = (color) => ({ stroke: color, fill: color, width: 0, paths: uPlot.paths.bars({ size: [0.85, 60] }), points: { show: false } })

  // ---- summary ----
  let summary = null
  const card = (label, value, note) => el("div", "card", el("div", "label", label), el("div", "value", value), note ? el("div", "note", note) : null)
  const renderSummary = (s) => {
    $("summary").hidden = false
    $("file").textContent = `${s.path} · ${number.format(s.lines)} lines · ${decimal.format(s.bytes / 1e6)} MB · indexed in ${decimal.format(s.indexMillis / 1000)} s`
    const cost = s.cost.known === 0 ? "unknown" : dollars(s.cost.total)
    const costNote = s.cost.known === 0 ? "no price for these models" : s.cost.known < s.lines ? `known for ${number.format(s.cost.known)} of ${number.format(s.lines)}` : null
    $("cards").replaceChildren(
      card("items", number.format(s.lines)),
      card("succeeded", number.format(s.succeeded)),
      card("failed", number.format(s.failed)),
      card("cached", number.format(s.cached)),
      card("input tokens", number.format(s.promptTokens)),
      card("output tokens", number.format(s.completionTokens)),
      card("cost", cost, costNote)
    )
    const histogram = s.outputTokens
    chart($("chart-histogram"), () => ({
      data: [histogram.counts.map((_, i) => i * histogram.width), histogram.counts],
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      series: [{ label: "tokens" }, Object.assign({ label: "items" }, bars(css("--accent")))],
      axes: [{ label: "output tokens" }, { label: "items" }]
    }))
    const codes = s.errorsByCode
    chart($("chart-errors"), () =>
      codes.length === 0 ? null : ({
        data: [codes.map((_, i) => i), codes.map((c) => c.count)],
        scales: { x: { time: false, range: [-0.5, codes.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
        series: [{ label: "code" }, Object.assign({ label: "items" }, bars(css("--bad")))],
        axes: [{ splits: () => codes.map((_, i) => i), values: (_u, splits) => splits.map((i) => codes[i] ? codes[i].code : ""), rotate: codes.length > 3 ? -20 : 0, size: codes.length > 3 ? 80 : 40 }, {}]
      }))
    $("error-codes").replaceChildren(
      ...(codes.length === 0 ? [el("li", "muted", "no errors")] : codes.map((c) => {
        const button = el("button", "link", c.code)
        button.type = "button"
        button.addEventListener("click", () => {
          $("f-code").value = c.code
          $("f-status").value = ""
          reload()
        })
        return el("li", null, button, ` ${number.format(c.count)}`)
      }))
    )
    const option = (value) => {
      const o = el("option", null, value)
      o.value = value
      return o
    }
    $("f-code").append(...codes.map((c) => option(c.code)))
    $("f-model").append(...s.models.map((m) => option(m.model)))
  }

  // ---- rows ----
  let offset = 0
  let total = 0
  let loading = 0
  const query = () => {
    const params = new URLSearchParams()
    const set = (name, value) => value && params.set(name, value)
    set("status", $("f-status").value)
    set("code", $("f-code").value)
    set("model", $("f-model").value)
    set("q", $("f-search").value.trim())
    set("sort", $("f-sort").value === "line" ? "" : $("f-sort").value)
    set("desc", $("f-desc").checked ? "1" : "")
    params.set("offset", String(offset))
    params.set("limit", String(pageSize))
    return params
  }
  const statusCell = (row) => row.ok ? el("td", "ok", "ok") : el("td", "bad", row.code || "failed")
  const loadRows = async () => {
    const ticket = ++loading
    $("results").classList.add("loading")
    const page = await getJson("/api/rows?" + query().toString())
    if (ticket !== loading) return
    $("results").classList.remove("loading")
    total = page.total
    const body = $("rows")
    body.replaceChildren(...page.rows.map((row) => {
      const tr = el(
        "tr",
        null,
        el("td", "num muted", number.format(row.index + 1)),
        el("td", "id", row.customId),
        statusCell(row),
        el("td", null, row.model || "—"),
        el("td", "num", number.format(row.promptTokens)),
        el("td", "num", number.format(row.completionTokens)),
        el("td", "num" + (row.cost === null ? " muted" : ""), dollars(row.cost)),
        el("td", null, row.cached ? "yes" : "no"),
        el("td", "preview", row.preview)
      )
      tr.tabIndex = 0
      tr.dataset.row = String(row.index)
      tr.addEventListener("click", () => openItem(row.index))
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter") openItem(row.index)
      })
      return tr
    }))
    if (page.rows.length === 0) body.append(el("tr", null, el("td", "muted empty", "no rows match")))
    const first = total === 0 ? 0 : offset + 1
    $("range").textContent = `${number.format(first)}–${number.format(offset + page.rows.length)} of ${number.format(total)}`
    $("prev").disabled = offset === 0
    $("next").disabled = offset + pageSize >= total
  }
  const reload = () => {
    offset = 0
    loadRows().catch(showError)
  }
  const showError = (e) => {
    $("results").classList.remove("loading")
    $("range").textContent = "error: " + (e && e.message ? e.message : String(e))
  }

  // ---- one item ----
  const pre = (value) => el("pre", "json", typeof value === "string" ? value : JSON.stringify(value, null, 2))
  /** A structured answer as a table: an object's fields, or an array of objects by field. */
  const valueTable = (value) => {
    const cell = (v) => el("td", null, isRecord(v) || Array.isArray(v) ? pre(v) : v === null ? "null" : String(v))
    if (isRecord(value)) {
      return el("table", "grid values", el("tbody", null, ...Object.entries(value).map(([k, v]) => el("tr", null, el("th", null, k), cell(v)))))
    }
    if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) {
      const keys = [...new Set(value.flatMap((v) => Object.keys(v)))]
      return el(
        "table",
        "grid values",
        el("thead", null, el("tr", null, ...keys.map((k) => el("th", null, k)))),
        el("tbody", null, ...value.map((v) => el("tr", null, ...keys.map((k) => cell(v[k])))))
      )
    }
    return null
  }
  /** Text, or JSON pretty-printed (and as a table when it is a structured output). */
  const content = (text) => {
    const trimmed = text.trim()
    if ((trimmed.startsWith("{") && trimmed.endsWith("}")) || (trimmed.startsWith("[") && trimmed.endsWith("]"))) {
      try {
        const value = JSON.parse(trimmed)
        return el("div", null, valueTable(value), pre(value))
      } catch {
        // not JSON: shown as text
      }
    }
    return el("div", "text", text)
  }
  const parts = (value) => {
    if (typeof value === "string") return content(value)
    if (Array.isArray(value)) {
      return el("div", null, ...value.map((part) => {
        if (isRecord(part) && part.type === "text" && typeof part.text === "string") return content(part.text)
        if (isRecord(part) && part.type === "image_url") {
          const url = isRecord(part.image_url) ? String(part.image_url.url) : ""
          return el("div", "muted", `[image: ${url.startsWith("data:") ? "inline data, " + number.format(url.length) + " characters" : url}]`)
        }
        return pre(part)
      }))
    }
    return value === null || value === undefined ? el("div", "muted", "(no content)") : pre(value)
  }
  const bubble = (role, ...body) => el("div", "bubble " + (role === "assistant" ? "assistant" : role === "user" ? "user" : "system"), el("div", "role", role), ...body)
  const renderRequest = (request, note) => {
    const box = $("detail-request")
    clear(box)
    if (request === null) return box.append(el("p", "muted", note || "no request"))
    const body = isRecord(request) && isRecord(request.body) ? request.body : request
    if (isRecord(body) && Array.isArray(body.messages)) {
      box.append(el("p", "muted", `model ${body.model ?? "?"}`))
      for (const message of body.messages) {
        if (!isRecord(message)) continue
        box.append(bubble(String(message.role ?? "?"), parts(message.content), message.tool_calls ? pre(message.tool_calls) : null))
      }
      const rest = Object.fromEntries(Object.entries(body).filter(([k]) => k !== "messages" && k !== "model"))
      if (Object.keys(rest).length > 0) box.append(el("details", null, el("summary", null, "parameters"), pre(rest)))
    } else if (isRecord(body) && "input" in body) {
      box.append(bubble("input", pre(body.input)))
    } else {
      box.append(pre(request))
    }
  }
  const renderAnswer = (output, outputError) => {
    const box = $("detail-answer")
    clear(box)
    if (outputError) return box.append(el("div", "error", outputError))
    const response = isRecord(output) ? output.response : null
    const error = isRecord(output) ? output.error : null
    if (isRecord(error)) {
      return box.append(el("div", "error", el("strong", null, String(error.code ?? "error")), el("div", null, String(error.message ?? "")), pre(error)))
    }
    if (!isRecord(response)) return box.append(pre(output))
    const body = response.body
    if (response.status_code !== 200) {
      const apiError = isRecord(body) && isRecord(body.error) ? body.error : body
      return box.append(el(
        "div",
        "error",
        el("strong", null, `HTTP ${response.status_code}` + (isRecord(apiError) && apiError.code ? ` · ${apiError.code}` : isRecord(apiError) && apiError.type ? ` · ${apiError.type}` : "")),
        el("div", null, isRecord(apiError) && typeof apiError.message === "string" ? apiError.message : ""),
        pre(body)
      ))
    }
    if (isRecord(body) && Array.isArray(body.choices)) {
      for (const choice of body.choices) {
        const message = isRecord(choice) && isRecord(choice.message) ? choice.message : {}
        box.append(bubble(
          "assistant",
          message.refusal ? el("div", "error", "refusal: " + String(message.refusal)) : null,
          message.content !== undefined && message.content !== null ? parts(message.content) : null,
          message.tool_calls ? pre(message.tool_calls) : null,
          el("div", "muted small", `finish: ${isRecord(choice) ? choice.finish_reason : "?"}`)
        ))
      }
      if (isRecord(body.usage)) box.append(el("p", "muted", `model ${body.model ?? "?"} · tokens in ${body.usage.prompt_tokens ?? "?"}, out ${body.usage.completion_tokens ?? "?"}`))
      return
    }
    if (isRecord(body) && Array.isArray(body.data)) {
      return box.append(...body.data.map((d, i) => {
        const vector = isRecord(d) && Array.isArray(d.embedding) ? d.embedding : []
        return el("p", null, `embedding ${i}: ${vector.length} dimensions [${vector.slice(0, 6).map((x) => Number(x).toFixed(4)).join(", ")}${vector.length > 6 ? ", …" : ""}]`)
      }))
    }
    box.append(pre(body))
  }
  const openItem = async (row) => {
    const item = await getJson("/api/item?row=" + row).catch((e) => ({ error: e.message }))
    $("detail").hidden = false
    document.body.classList.add("with-detail")
    if (item.error) {
      $("detail-title").textContent = `row ${row + 1}`
      renderAnswer(null, item.error)
      return
    }
    const customId = isRecord(item.output) ? item.output.custom_id : undefined
    $("detail-title").textContent = `${customId ?? "row " + (row + 1)}`
    renderRequest(item.request, item.requestNote)
    renderAnswer(item.output, item.outputError)
    $("detail-raw").textContent = item.raw ?? JSON.stringify(item.output, null, 2)
    for (const tr of document.querySelectorAll("#rows tr.selected")) tr.classList.remove("selected")
    const selected = document.querySelector(`#rows tr[data-row="${row}"]`)
    if (selected) selected.classList.add("selected")
  }
  const closeItem = () => {
    $("detail").hidden = true
    document.body.classList.remove("with-detail")
  }

  // ---- live run ----
  const live = { samples: [], run: null, stats: null, requests: null, tokens: null, failures: [] }
  const renderLive = () => {
    const s = live.stats
    if (!s) return
    const fraction = s.total > 0 ? Math.min(1, s.done / s.total) : 0
    $("live-bar").style.width = (fraction * 100).toFixed(1) + "%"
    $("live-status").textContent = `${number.format(s.done)} of ${number.format(s.total)} done · ${decimal.format(s.elapsedMillis / 1000)} s elapsed` +
      (s.etaMillis !== undefined && s.etaMillis !== null ? ` · ETA ${decimal.format(s.etaMillis / 1000)} s` : "")
    const limit = (n, unit) => n === undefined || n === null ? "none" : `${number.format(n)} ${unit}`
    $("live-cards").replaceChildren(
      card("succeeded", number.format(s.succeeded)),
      card("failed", number.format(s.failed)),
      card("cached", number.format(s.cached)),
      card("retries", number.format(s.retries)),
      card("in flight", number.format(s.inFlight), live.run ? `concurrency ${number.format(live.run.concurrency)}` : null),
      card("rate limits", limit(s.limits.requestsPerMinute, "RPM"), limit(s.limits.tokensPerMinute, "TPM")),
      card("429s", number.format(s.rateLimited), `held back ${decimal.format(s.rateLimitWaitMillis / 1000)} s`),
      card("tokens in / out", `${number.format(s.tokens.promptTokens)} / ${number.format(s.tokens.completionTokens)}`)
    )
    for (const entry of [live.requests, live.tokens]) if (entry && entry.plot) entry.plot.setData(entry.make().data)
  }
  const renderFailures = () => {
    $("live-failures").replaceChildren(...live.failures.slice().reverse().map((f) => el("tr", null, el("td", "id", f.customId), el("td", "bad", f.code), el("td", "preview", f.message))))
  }
  const startLive = () => {
    $("live").hidden = false
    const times = () => live.samples.map((x) => x.t)
    live.requests = chart($("chart-requests"), () => ({
      data: [times(), live.samples.map((x) => x.requestsPerSecond), live.samples.map((x) => x.inFlight)],
      legend: true,
      series: [{ label: "second" }, { label: "req/s", stroke: css("--accent"), width: 2 }, { label: "in flight", stroke: css("--fg-muted"), width: 1, scale: "n" }],
      scales: { x: { time: false }, n: {} },
      axes: [{ label: "seconds" }, {}, { scale: "n", side: 1, grid: { show: false } }]
    }))
    live.tokens = chart($("chart-tokens"), () => ({
      data: [times(), live.samples.map((x) => x.promptTokensPerSecond), live.samples.map((x) => x.completionTokensPerSecond)],
      legend: true,
      series: [{ label: "second" }, { label: "in tok/s", stroke: css("--accent"), width: 2 }, { label: "out tok/s", stroke: css("--good"), width: 2 }],
      axes: [{ label: "seconds" }, {}]
    }))
    const source = new EventSource("/api/events")
    source.onmessage = (message) => {
      const event = JSON.parse(message.data)
      if (event._tag === "Run") {
        live.run = event.run
        $("file").textContent = `fastllm run ${event.run.input}` + (event.run.output ? ` -o ${event.run.output}` : "")
      } else if (event._tag === "Stats") {
        live.stats = event.stats
        live.samples.push(event.sample)
        if (live.samples.length > 1200) live.samples.shift()
        renderLive()
      } else if (event._tag === "Failure") {
        live.failures.push(event.failure)
        if (live.failures.length > 50) live.failures.shift()
        renderFailures()
      } else if (event._tag === "Done") {
        live.stats = event.stats
        renderLive()
        $("live-status").textContent = `finished: ${number.format(event.stats.done)} items in ${decimal.format(event.wallMillis / 1000)} s` +
          (event.output ? ` · look at the results with: fastllm view ${event.output} --input ${live.run ? live.run.input : "INPUT.jsonl"}` : "")
        document.body.classList.add("run-done")
        source.close()
      }
    }
  }

  // ---- start ----
  const start = async () => {
    $("detail-close").addEventListener("click", closeItem)
    addEventListener("keydown", (e) => {
      if (e.key === "Escape") closeItem()
    })
    $("prev").addEventListener("click", () => {
      offset = Math.max(0, offset - pageSize)
      loadRows().catch(showError)
    })
    $("next").addEventListener("click", () => {
      offset += pageSize
      loadRows().catch(showError)
    })
    for (const id of ["f-status", "f-code", "f-model", "f-sort", "f-desc"]) $(id).addEventListener("change", reload)
    let searchTimer
    $("f-search").addEventListener("input", () => {
      clearTimeout(searchTimer)
      searchTimer = setTimeout(reload, 300)
    })
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault()
      reload()
    })
    const info = await getJson("/api/summary")
    if (info.live) startLive()
    if (info.summary) {
      summary = info.summary
      renderSummary(summary)
      $("results").hidden = false
      await loadRows()
    }
    document.body.dataset.ready = "true"
  }
  start().catch(showError)
})()
