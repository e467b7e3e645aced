// Records as rows that open to every field, and a list loaded one page at a
// time through `next_cursor` as it scrolls into view.

import type { LogRecord, LogsPage } from "./api";
import { fmtNum, fmtTime, h } from "./dom";
import { fieldLabel, type Filter, type Range, type ViewState } from "./state";

/** What a view gets from the shell. */
export interface Ctx {
  state: ViewState;
  /** Jaeger's base URL, or "" when the gateway was started without one. */
  jaegerUrl: string;
  addFilter(f: Filter): void;
  setRange(r: Range): void;
  /** Shows an error next to the field it names (or as a banner). */
  showError(e: unknown): void;
  /** Aborted when the view is left or re-rendered. */
  signal: AbortSignal;
}

/** Record fields that are query filters, by record field name. */
const FILTERABLE: Record<string, string> = {
  service_name: "service_name",
  level: "level",
  status_code: "status_code",
  trace_id: "trace_id",
  request_id: "request_id",
  user_id: "user_id",
  host: "host",
  error_code: "error_code",
  anomaly: "anomaly",
  tenant: "tenant",
};

/** List fields whose items are filters of their own, by record field name. */
const LIST_FILTERS: Record<string, string> = { tags: "tag", anomaly_reasons: "anomaly_reason" };

const FIELD_ORDER = [
  "timestamp",
  "service_name",
  "level",
  "message",
  "status_code",
  "response_time_ms",
  "error_code",
  "request_id",
  "trace_id",
  "span_id",
  "user_id",
  "host",
  "tags",
  "anomaly",
  "severity_score",
  "anomaly_reasons",
  "ingested_at",
  "tenant",
  "id",
];

function show(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.length ? v.join(", ") : "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function valueCell(ctx: Ctx, key: string | undefined, v: unknown): Node {
  if (!key || v === null || v === undefined || v === "") return h("span", {}, show(v));
  const value = String(v);
  return h(
    "button",
    {
      type: "button",
      class: "value",
      title: `Filter on ${fieldLabel(key)} = ${value}`,
      "aria-label": `Add filter ${fieldLabel(key)} = ${value}`,
      onclick: () => ctx.addFilter({ key, value }),
    },
    value,
  );
}

function detail(r: LogRecord, ctx: Ctx): HTMLElement {
  const dl = h("dl", { class: "fields" });
  const keys = [...FIELD_ORDER.filter((k) => k in r), ...Object.keys(r).filter((k) => !FIELD_ORDER.includes(k) && k !== "attributes")];
  for (const k of keys) {
    let v: Node;
    if (k === "timestamp" || k === "ingested_at") v = h("span", {}, `${fmtTime(Number(r[k]))} (${r[k]})`);
    else if (k in LIST_FILTERS && Array.isArray(r[k]) && (r[k] as unknown[]).length) {
      // One filter per item: `tag` matches records carrying that one tag.
      const cells: (Node | string)[] = [];
      for (const t of r[k] as unknown[]) cells.push(...(cells.length ? [", "] : []), valueCell(ctx, LIST_FILTERS[k], t));
      v = h("span", { class: "value-list" }, ...cells);
    } else v = valueCell(ctx, FILTERABLE[k], r[k]);
    if (k === "trace_id" && r.trace_id && ctx.jaegerUrl) {
      v = h(
        "span",
        {},
        v,
        " ",
        h("a", { href: `${ctx.jaegerUrl}/trace/${encodeURIComponent(r.trace_id)}`, target: "_blank", rel: "noopener" }, "open in Jaeger"),
      );
    }
    dl.append(h("dt", {}, k), h("dd", {}, v));
  }
  for (const [k, val] of Object.entries(r.attributes ?? {})) {
    dl.append(h("dt", {}, `attributes.${k}`), h("dd", {}, valueCell(ctx, `attr.${k}`, typeof val === "object" ? JSON.stringify(val) : val)));
  }
  return h("div", { class: "detail" }, dl);
}

/** One record: a row that opens to show every field. */
export function recordItem(r: LogRecord, ctx: Ctx): HTMLLIElement {
  const id = `rec-${r.id}-${Math.random().toString(36).slice(2, 8)}`;
  const li = h("li", { class: "record", "data-id": r.id });
  const row = h(
    "button",
    { type: "button", class: "row", "aria-expanded": "false", "aria-controls": id },
    h("span", { class: "ts" }, fmtTime(r.timestamp)),
    h("span", { class: `lvl lvl-${r.level}` }, r.level),
    h("span", { class: "svc" }, r.service_name),
    r.anomaly ? h("span", { class: "sev", title: "Anomaly severity score" }, `⚠ ${r.severity_score}`) : null,
    h("span", { class: "msg" }, r.message),
  );
  let open: HTMLElement | null = null;
  row.addEventListener("click", () => {
    if (open) {
      open.remove();
      open = null;
      row.setAttribute("aria-expanded", "false");
    } else {
      open = detail(r, ctx);
      open.id = id;
      li.append(open);
      row.setAttribute("aria-expanded", "true");
    }
  });
  li.append(row);
  return li;
}

/** A list filled one page at a time: the next page is asked for only when
 * the end of the list scrolls into view and no request is in flight. */
export function pagedList(
  ctx: Ctx,
  label: string,
  fetchPage: (cursor: string | undefined) => Promise<LogsPage>,
  item: (r: LogRecord) => HTMLElement = (r) => recordItem(r, ctx),
): HTMLElement {
  const list = h("ol", { class: "records", "aria-label": label });
  const status = h("p", { class: "list-status", role: "status", "aria-live": "polite" }, "Loading…");
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const root = h("section", { class: "paged" }, status, list, sentinel);
  let cursor: string | undefined;
  let done = false;
  let loading = false;
  let shown = 0;
  let total = 0;
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) void more();
  });
  ctx.signal.addEventListener("abort", () => io.disconnect());

  async function more(): Promise<void> {
    if (loading || done || ctx.signal.aborted) return;
    loading = true;
    if (shown) status.textContent = `${fmtNum(shown)} of ${fmtNum(total)} shown, loading more…`;
    try {
      const page = await fetchPage(cursor);
      if (ctx.signal.aborted) return;
      total = page.total;
      for (const r of page.logs) list.append(item(r));
      shown += page.logs.length;
      // For the browser test's first-load figure (Performance API).
      if (!performance.getEntriesByName("loglens:first-page").length) performance.mark("loglens:first-page");
      cursor = page.next_cursor ?? undefined;
      done = !cursor || page.logs.length === 0;
      status.textContent = total === 0 ? "No matching records." : `${fmtNum(shown)} of ${fmtNum(total)} shown${done ? "" : ", scroll for more"}`;
      root.dataset.shown = String(shown);
      root.dataset.done = String(done);
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      done = true;
      status.textContent = "Could not load records (see the message above).";
      ctx.showError(e);
    } finally {
      loading = false;
    }
    // The sentinel may still be in view (short pages, tall screens).
    if (!done && !ctx.signal.aborted) {
      io.unobserve(sentinel);
      io.observe(sentinel);
    }
  }
  void more().then(() => io.observe(sentinel));
  return root;
}
