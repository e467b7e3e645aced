// The whole view lives in the URL (`/?view=explore&q=...&level=ERROR&range=1h`),
// so a link reproduces it. Filters use the API's own parameter names.

export type View = "explore" | "anomalies" | "stats" | "tail";
export const VIEWS: { id: View; label: string }[] = [
  { id: "explore", label: "Explore" },
  { id: "anomalies", label: "Anomalies" },
  { id: "stats", label: "Stats" },
  { id: "tail", label: "Live tail" },
];

export type Preset = "15m" | "1h" | "24h" | "7d";
export const PRESETS: { id: Preset; label: string; ms: number }[] = [
  { id: "15m", label: "Last 15 minutes", ms: 15 * 60_000 },
  { id: "1h", label: "Last hour", ms: 3_600_000 },
  { id: "24h", label: "Last 24 hours", ms: 86_400_000 },
  { id: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
];

export type Range = { preset: Preset } | { from: number; to: number };

/** A field filter: an API parameter (`level`, `attr.k8s.namespace`, ...) and its value. */
export interface Filter {
  key: string;
  value: string;
}

export interface ViewState {
  view: View;
  q: string;
  filters: Filter[];
  range: Range;
}

/** The filterable fields, with the short names the query bar accepts. */
export const FIELDS: { key: string; label: string; aliases: string[] }[] = [
  { key: "service_name", label: "service", aliases: ["service", "svc"] },
  { key: "level", label: "level", aliases: [] },
  { key: "status_code", label: "status", aliases: ["status"] },
  { key: "anomaly", label: "anomaly", aliases: [] },
  { key: "trace_id", label: "trace", aliases: ["trace"] },
  { key: "request_id", label: "request", aliases: ["request"] },
  { key: "host", label: "host", aliases: [] },
  { key: "user_id", label: "user", aliases: ["user"] },
  { key: "error_code", label: "error_code", aliases: [] },
  { key: "tag", label: "tag", aliases: ["tags"] },
  { key: "anomaly_reason", label: "reason", aliases: ["reason"] },
  // Admin keys only: a tenant's own key reads its tenant whatever this says.
  { key: "tenant", label: "tenant", aliases: [] },
];

/** The API parameter a query-bar key stands for, or undefined. */
export function fieldKey(name: string): string | undefined {
  const n = name.toLowerCase();
  if (n.startsWith("attr.") && n.length > 5) return name;
  if (n === "attr.") return name; // the gateway names what is wrong with it
  return FIELDS.find((f) => f.key === n || f.aliases.includes(n))?.key;
}

/** How a filter key is shown on its chip. */
export function fieldLabel(key: string): string {
  return FIELDS.find((f) => f.key === key)?.label ?? key;
}

/** Splits query-bar text into free text and `key:value` (or `key=value`)
 * filters on known fields; values may be double-quoted. */
export function parseQuery(text: string): { q: string; filters: Filter[] } {
  const words: string[] = [];
  const filters: Filter[] = [];
  const re = /(\S+?)[:=]"([^"]*)"|"([^"]*)"|(\S+)/g;
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) {
      const key = fieldKey(m[1]);
      if (key) filters.push({ key, value: m[2] });
      else words.push(m[0]);
    } else if (m[3] !== undefined) {
      words.push(m[3]);
    } else {
      const tok = m[4];
      const i = tok.search(/[:=]/);
      const key = i > 0 ? fieldKey(tok.slice(0, i)) : undefined;
      if (key && i < tok.length - 1) filters.push({ key, value: tok.slice(i + 1) });
      else words.push(tok);
    }
  }
  return { q: words.join(" "), filters };
}

/** `filters` with `f` set (one value per key). */
export function withFilter(filters: Filter[], f: Filter): Filter[] {
  return [...filters.filter((x) => x.key !== f.key), f];
}

/** The URL search string of a view. */
export function toSearch(s: ViewState): string {
  const p = new URLSearchParams();
  p.set("view", s.view);
  if (s.q) p.set("q", s.q);
  for (const f of s.filters) p.append(f.key, f.value);
  if ("preset" in s.range) p.set("range", s.range.preset);
  else {
    p.set("from", String(s.range.from));
    p.set("to", String(s.range.to));
  }
  return `?${p}`;
}

/** The view of a URL search string; anything unknown falls back to defaults. */
export function fromSearch(search: string): ViewState {
  const p = new URLSearchParams(search);
  const view = (VIEWS.find((v) => v.id === p.get("view"))?.id ?? "explore") as View;
  const filters: Filter[] = [];
  for (const [k, v] of p) {
    if (["view", "q", "range", "from", "to"].includes(k)) continue;
    const key = fieldKey(k);
    if (key) filters.push({ key, value: v });
  }
  const from = Number(p.get("from"));
  const to = Number(p.get("to"));
  const preset = PRESETS.find((r) => r.id === p.get("range"))?.id;
  const range: Range =
    p.has("from") && p.has("to") && Number.isFinite(from) && Number.isFinite(to) && from <= to
      ? { from, to }
      : { preset: preset ?? "1h" };
  return { view, q: p.get("q") ?? "", filters, range };
}

/** The absolute bounds of a range, ms since the epoch, as of `now`. */
export function resolveRange(r: Range, now = Date.now()): [number, number] {
  if ("preset" in r) return [now - PRESETS.find((p) => p.id === r.preset)!.ms, now];
  return [r.from, r.to];
}

/** The API parameters of the current query (filters and free text). */
export function filterParams(s: ViewState): URLSearchParams {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  for (const f of s.filters) p.append(f.key, f.value);
  return p;
}

/** A histogram bucket width giving at most about `buckets` bars. */
export function pickInterval(spanMs: number, buckets = 80): number {
  const steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400].map((s) => s * 1000);
  return steps.find((s) => spanMs / s <= buckets) ?? 86_400_000;
}
