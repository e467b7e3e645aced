// The four views. Each renders into `root` and stops its requests when
// `ctx.signal` aborts (the view was left or the query changed).

import { getJson, getStats, type LogRecord, type LogsPage, type Stats } from "./api";
import { fmtNum, fmtTime, h } from "./dom";
import { histogram } from "./histogram";
import { pagedList, recordItem, type Ctx } from "./records";
import { filterParams, pickInterval, resolveRange } from "./state";

/** Records per request in Explore and Anomalies. */
export const PAGE_SIZE = 50;
/** Rows Live tail keeps; older rows are dropped. */
export const TAIL_BUFFER = 1000;

function rangeParams(ctx: Ctx, from: number, to: number): URLSearchParams {
  const p = filterParams(ctx.state);
  p.set("from_timestamp", String(from));
  p.set("to_timestamp", String(to));
  return p;
}

function notice(text: string): HTMLElement {
  return h("p", { class: "notice" }, text);
}

/** Explore: histogram over the range, then the matching records, newest first. */
export function explore(root: HTMLElement, ctx: Ctx): void {
  // The range is fixed once per query, so every page of the cursor asks for
  // the same records.
  const [from, to] = resolveRange(ctx.state.range);
  const interval = pickInterval(to - from);
  const histSlot = h("section", { class: "hist-slot", "aria-label": "Records over time" }, h("p", { class: "muted" }, "Loading histogram…"));
  root.append(histSlot);
  const params = rangeParams(ctx, from, to);
  const sp = new URLSearchParams(params);
  sp.set("interval", `${interval}`);
  getStats(sp, ctx.signal)
    .then(({ stats, unfiltered }) => {
      if (ctx.signal.aborted) return;
      const chart = histogram(stats.histogram ?? [], from, to, interval, (a, b) => ctx.setRange({ from: a, to: b }));
      ctx.signal.addEventListener("abort", () => chart.destroy());
      histSlot.replaceChildren(
        h("h2", { class: "sr-only" }, "Records over time"),
        chart.el,
        ...(unfiltered ? [notice("This gateway's /logs/stats does not take these filters yet: the histogram counts every record in the range.")] : []),
      );
    })
    .catch((e) => {
      if ((e as Error).name === "AbortError") return;
      histSlot.replaceChildren(h("p", { class: "muted" }, "No histogram."));
      ctx.showError(e);
    });
  root.append(
    h("h2", { class: "sr-only" }, "Records"),
    pagedList(ctx, "Matching records, newest first", (cursor) => {
      const p = new URLSearchParams(params);
      p.set("size", String(PAGE_SIZE));
      p.set("sort", "newest");
      if (cursor) p.set("cursor", cursor);
      return getJson<LogsPage>("/logs", p, ctx.signal);
    }),
  );
}

/** Anomalies: the anomaly rate per service over the range, then anomalies
 * highest severity first with the rules that fired. */
export function anomalies(root: HTMLElement, ctx: Ctx): void {
  const [from, to] = resolveRange(ctx.state.range);
  const params = rangeParams(ctx, from, to);
  params.delete("anomaly");
  const rates = h("section", { class: "rates", "aria-labelledby": "rates-h" }, h("h2", { id: "rates-h" }, "Anomaly rate by service"), h("p", { class: "muted" }, "Loading…"));
  root.append(rates);
  void anomalyRates(ctx, params).then(
    (rows) => {
      if (ctx.signal.aborted) return;
      const table = h(
        "table",
        {},
        h("caption", { class: "sr-only" }, "Anomalies divided by all records, per service, over the chosen range"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Service"), h("th", { scope: "col" }, "Anomalies"), h("th", { scope: "col" }, "Records"), h("th", { scope: "col" }, "Rate"))),
        h(
          "tbody",
          {},
          rows.map(([svc, a, n]) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, svc),
              h("td", { class: "num" }, fmtNum(a)),
              h("td", { class: "num" }, fmtNum(n)),
              h("td", { class: "num" }, bar(n ? a / n : 0, `${n ? ((100 * a) / n).toFixed(1) : "0.0"} %`)),
            ),
          ),
        ),
      );
      rates.replaceChildren(rates.firstChild!, rows.length ? table : h("p", { class: "muted" }, "No records in this range."));
    },
    (e) => {
      if ((e as Error).name === "AbortError") return;
      rates.replaceChildren(rates.firstChild!, h("p", { class: "muted" }, "No rates."));
      ctx.showError(e);
    },
  );
  root.append(
    h("h2", {}, "Anomalies, highest severity first"),
    pagedList(
      ctx,
      "Anomalies, highest severity first",
      (cursor) => {
        const p = new URLSearchParams(params);
        p.set("size", String(PAGE_SIZE));
        if (cursor) p.set("cursor", cursor);
        return getJson<LogsPage>("/logs/anomalies", p, ctx.signal);
      },
      (r: LogRecord) => {
        const li = recordItem(r, ctx);
        li.querySelector(".row")!.append(h("span", { class: "reasons" }, r.anomaly_reasons.map((x) => h("span", { class: "reason" }, x))));
        return li;
      },
    ),
  );
}

/** [service, anomalies, records], highest rate first: stats with
 * `anomaly=true` over stats without; a gateway whose stats take no filters
 * yet is asked per service through /logs/anomalies totals. */
async function anomalyRates(ctx: Ctx, params: URLSearchParams): Promise<[string, number, number][]> {
  const all = await getStats(params, ctx.signal);
  const only = new URLSearchParams(params);
  only.set("anomaly", "true");
  const anom = await getStats(only, ctx.signal);
  let counts: Record<string, number>;
  if (!anom.unfiltered) counts = anom.stats.services;
  else {
    counts = {};
    for (const svc of Object.keys(all.stats.services)) {
      const p = new URLSearchParams(params);
      p.set("service_name", svc);
      p.set("size", "1");
      counts[svc] = (await getJson<LogsPage>("/logs/anomalies", p, ctx.signal)).total;
    }
  }
  return Object.entries(all.stats.services)
    .map(([svc, n]): [string, number, number] => [svc, counts[svc] ?? 0, n])
    .sort((a, b) => b[1] / Math.max(1, b[2]) - a[1] / Math.max(1, a[2]) || a[0].localeCompare(b[0]));
}

function bar(frac: number, text: string): HTMLElement {
  return h("span", { class: "bar" }, h("span", { class: "fill", style: `width:${Math.min(100, Math.max(0, frac * 100)).toFixed(1)}%` }), h("span", { class: "bar-text" }, text));
}

function countTable(caption: string, head: string, counts: Record<string, number>, total: number): HTMLElement {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, head), h("th", { scope: "col" }, "Records"), h("th", { scope: "col" }, "Share"))),
    h(
      "tbody",
      {},
      rows.map(([k, n]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", { class: "num" }, fmtNum(n)), h("td", { class: "num" }, bar(total ? n / total : 0, `${total ? ((100 * n) / total).toFixed(1) : "0.0"} %`)))),
    ),
  );
}

/** Stats: totals, error rate, counts by service and level, latency percentiles. */
export function stats(root: HTMLElement, ctx: Ctx): void {
  const [from, to] = resolveRange(ctx.state.range);
  const p = rangeParams(ctx, from, to);
  p.set("percentiles", "true");
  const slot = h("div", { class: "stats" }, h("p", { class: "muted" }, "Loading…"));
  root.append(slot);
  getStats(p, ctx.signal).then(
    ({ stats: s, unfiltered }) => {
      if (ctx.signal.aborted) return;
      slot.replaceChildren(...statsBody(s, unfiltered));
    },
    (e) => {
      if ((e as Error).name === "AbortError") return;
      slot.replaceChildren(h("p", { class: "muted" }, "No stats."));
      ctx.showError(e);
    },
  );
}

function statsBody(s: Stats, unfiltered: boolean): Node[] {
  const rate = s.total_logs ? s.error_count / s.total_logs : 0;
  const pct = Object.entries(s.response_time_percentiles ?? {}).sort((a, b) => a[0].localeCompare(b[0]));
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return [
    unfiltered ? notice("This gateway's /logs/stats does not take these filters yet: the figures cover every record in the range.") : null,
    h(
      "dl",
      { class: "kpis" },
      h("div", {}, h("dt", {}, "Records"), h("dd", {}, fmtNum(s.total_logs))),
      h("div", {}, h("dt", {}, "Errors"), h("dd", {}, fmtNum(s.error_count))),
      h("div", {}, h("dt", {}, "Error rate"), h("dd", {}, `${(100 * rate).toFixed(2)} %`)),
      h("div", {}, h("dt", {}, "Anomalies"), h("dd", {}, fmtNum(s.anomaly_count))),
    ),
    h("div", { class: "tables" }, countTable("Records by service", "Service", s.services, s.total_logs), countTable("Records by level", "Level", s.levels, s.total_logs)),
    h(
      "table",
      {},
      h("caption", {}, "Response time percentiles by service"),
      h("thead", {}, h("tr", {}, ...["Service", "p50", "p95", "p99", "Samples"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        pct.length
          ? pct.map(([svc, q]) => h("tr", {}, h("th", { scope: "row" }, svc), h("td", { class: "num" }, ms(q.p50)), h("td", { class: "num" }, ms(q.p95)), h("td", { class: "num" }, ms(q.p99)), h("td", { class: "num" }, fmtNum(q.count))))
          : h("tr", {}, h("td", { colspan: 5 }, "No response times in this range.")),
      ),
    ),
  ].filter((n): n is HTMLElement => n !== null);
}

/** Live tail: records from /logs/tail as they arrive, newest on top. */
export function tail(root: HTMLElement, ctx: Ctx): void {
  const params = filterParams(ctx.state);
  const status = h("p", { class: "tail-status", role: "status", "aria-live": "polite" }, "Connecting…");
  const notices = h("div", { class: "tail-notices", role: "alert" });
  const list = h("ol", { class: "records", "aria-label": "Live records, newest first" });
  const pauseBtn = h("button", { type: "button", class: "btn" }, "Pause");
  const clearBtn = h("button", { type: "button", class: "btn" }, "Clear");
  root.append(h("div", { class: "tail-bar" }, pauseBtn, clearBtn, status), notices, list);
  let paused = false;
  let held: LogRecord[] = [];
  let received = 0;
  const showStatus = (s: string) => {
    status.textContent = `${s} · ${fmtNum(list.children.length)} shown${paused ? `, ${fmtNum(held.length)} held while paused` : ""}`;
  };
  const add = (recs: LogRecord[]) => {
    for (const r of recs) list.prepend(recordItem(r, ctx));
    while (list.children.length > TAIL_BUFFER) list.lastElementChild!.remove();
  };
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      add(held);
      held = [];
    }
    showStatus(paused ? "Paused" : "Live");
  });
  clearBtn.addEventListener("click", () => {
    list.replaceChildren();
    showStatus(paused ? "Paused" : "Live");
  });
  const qs = params.toString();
  const es = new EventSource(`/logs/tail${qs ? `?${qs}` : ""}`);
  ctx.signal.addEventListener("abort", () => es.close());
  es.addEventListener("open", () => showStatus("Live"));
  es.addEventListener("log", (ev) => {
    let r: LogRecord;
    try {
      r = JSON.parse((ev as MessageEvent).data);
    } catch {
      return;
    }
    received++;
    root.dataset.received = String(received);
    if (paused) {
      held.push(r);
      if (held.length > TAIL_BUFFER) held.shift();
    } else add([r]);
    showStatus(paused ? "Paused" : "Live");
  });
  es.addEventListener("gap", (ev) => {
    let reason = "the resume point is no longer available";
    try {
      reason = JSON.parse((ev as MessageEvent).data).reason ?? reason;
    } catch {
      /* keep the default */
    }
    notices.append(h("p", { class: "notice" }, `${fmtTime(Date.now())}: some records were missed while reconnecting (${reason}).`));
  });
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CLOSED) {
      showStatus("Disconnected");
      // A 4xx (e.g. a bad filter) closes the stream: ask /logs for the message.
      const p = new URLSearchParams(params);
      p.set("size", "1");
      getJson("/logs", p, ctx.signal).then(
        () => ctx.showError(new Error("the live tail stream was refused (GET /logs/tail); reload the page to try again")),
        (e) => {
          if ((e as Error).name !== "AbortError") ctx.showError(e);
        },
      );
    } else showStatus("Reconnecting…");
  });
}
