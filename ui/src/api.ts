// The gateway's JSON API as the UI uses it (see /docs for the full contract).

/** One record, as in `logs` of GET /logs. */
export interface LogRecord {
  id: string;
  timestamp: number;
  service_name: string;
  level: string;
  message: string;
  status_code?: number | null;
  request_id?: string | null;
  user_id?: string | null;
  response_time_ms?: number | null;
  error_code?: string | null;
  tags?: string[];
  host?: string | null;
  trace_id?: string | null;
  span_id?: string | null;
  anomaly: boolean;
  severity_score: number;
  anomaly_reasons: string[];
  ingested_at?: number;
  attributes?: Record<string, unknown>;
  /** Whose record it is: the tenant of the key that sent it. */
  tenant?: string;
  [field: string]: unknown;
}

/** GET /logs and GET /logs/anomalies. */
export interface LogsPage {
  total: number;
  logs: LogRecord[];
  next_cursor?: string | null;
}

/** One histogram bucket of GET /logs/stats?interval=... */
export interface Bucket {
  start: number;
  count: number;
  anomaly_count?: number;
  error_count?: number;
  /** Counts per level, when the gateway reports them. */
  levels?: Record<string, number>;
}

/** GET /logs/stats. */
export interface Stats {
  total_logs: number;
  services: Record<string, number>;
  levels: Record<string, number>;
  anomaly_count: number;
  error_count: number;
  histogram?: Bucket[];
  response_time_percentiles?: Record<string, { p50: number; p95: number; p99: number; count: number }>;
}

/** The JSON body of every error reply. */
export interface ErrorBody {
  error: string;
  message: string;
  field?: string;
}

/** A non-2xx reply, with the gateway's message and the field at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.message);
  }
}

/** Bumped each time the user gives a key: requests refused before it are retried. */
let keyGeneration = 0;

/** Asks for an API key after a 401 and keeps it in the `loglens_key` cookie
 * (SameSite=Strict), which the gateway accepts like `Authorization: Bearer`;
 * a cookie rather than a header because EventSource (the live tail) cannot
 * set headers. Returns whether a key was given. */
function askForKey(reason: string): boolean {
  const key = window.prompt(
    `${reason}\n\nThis loglens needs an API key with the query scope ` +
      "(made with `loglens keys create --scope query`). Paste it here:",
  );
  if (!key || !key.trim()) return false;
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `loglens_key=${key.trim()}; Path=/; SameSite=Strict${secure}`;
  keyGeneration += 1;
  return true;
}

/** GET `path?params` as JSON; a non-2xx reply throws [`ApiError`]. A 401
 * asks for a key once and retries. */
export async function getJson<T>(
  path: string,
  params: URLSearchParams,
  signal?: AbortSignal,
  retried = false,
): Promise<T> {
  const generation = keyGeneration;
  const qs = params.toString();
  let res: Response;
  try {
    res = await fetch(qs ? `${path}?${qs}` : path, { signal, headers: { accept: "application/json" } });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, { error: "unavailable", message: `the gateway did not answer: ${(e as Error).message}` });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status === 401 && !retried) {
    const reason = (body as Partial<ErrorBody> | undefined)?.message ?? "an API key is required";
    if (generation !== keyGeneration || askForKey(reason)) return getJson<T>(path, params, signal, true);
  }
  if (!res.ok) {
    const b = body as Partial<ErrorBody> | undefined;
    throw new ApiError(res.status, {
      error: b?.error ?? "http_error",
      message: b?.message ?? `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`,
      field: b?.field,
    });
  }
  return body as T;
}

/** The stats filter parameters a gateway does not accept yet are dropped:
 * older gateways take only the time range and `service_name` on /logs/stats. */
export async function getStats(
  params: URLSearchParams,
  signal?: AbortSignal,
): Promise<{ stats: Stats; unfiltered: boolean }> {
  try {
    return { stats: await getJson<Stats>("/logs/stats", params, signal), unfiltered: false };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400 || !e.body.message.startsWith("unknown parameter")) throw e;
    const basic = new URLSearchParams();
    for (const [k, v] of params) {
      if (["from_timestamp", "to_timestamp", "service_name", "interval", "percentiles"].includes(k)) basic.append(k, v);
    }
    return { stats: await getJson<Stats>("/logs/stats", basic, signal), unfiltered: true };
  }
}
