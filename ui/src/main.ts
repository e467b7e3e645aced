// The shell: navigation, the query bar with filter chips, the time range,
// errors shown next to the field they name, and the current view. Every
// change goes through the URL (see state.ts).

import "./style.css";
import { ApiError } from "./api";
import { h, toLocalInput } from "./dom";
import type { Ctx } from "./records";
import {
  fieldLabel,
  type Filter,
  fromSearch,
  parseQuery,
  PRESETS,
  type Range,
  resolveRange,
  toSearch,
  type View,
  VIEWS,
  type ViewState,
  withFilter,
} from "./state";
import { anomalies, explore, stats, tail } from "./views";

const jaegerUrl = (document.querySelector('meta[name="loglens-jaeger-url"]') as HTMLMetaElement | null)?.content.replace(/\/+$/, "") ?? "";

let state: ViewState = fromSearch(location.search);
let current: AbortController | undefined;

const nav = h("nav", { "aria-label": "Views" });
const qInput = h("input", {
  id: "q",
  type: "search",
  name: "q",
  autocomplete: "off",
  spellcheck: "false",
  placeholder: "Words, or field:value (level:ERROR status:503 service:… trace:… attr.key:…)",
  "aria-describedby": "q-help",
});
const qError = h("p", { id: "q-error", class: "field-error", role: "alert" });
const queryForm = h(
  "form",
  { class: "query", role: "search", "aria-label": "Query logs" },
  h("label", { for: "q" }, "Search"),
  qInput,
  h("button", { type: "submit", class: "btn primary" }, "Search"),
  h("p", { id: "q-help", class: "help" }, "Press / to focus. Every word must occur in the message; field:value adds a filter."),
  qError,
);
const chips = h("ul", { class: "chips", "aria-label": "Active filters" });
const rangeSelect = h(
  "select",
  { id: "range" },
  PRESETS.map((p) => h("option", { value: p.id }, p.label)),
  h("option", { value: "custom" }, "Absolute range…"),
);
const fromInput = h("input", { id: "from", type: "datetime-local", step: "1" });
const toInput = h("input", { id: "to", type: "datetime-local", step: "1" });
const rangeError = h("p", { id: "range-error", class: "field-error", role: "alert" });
const absolute = h(
  "span",
  { class: "absolute" },
  h("label", { for: "from" }, "From"),
  fromInput,
  h("label", { for: "to" }, "To"),
  toInput,
  h("button", { type: "button", class: "btn", onclick: applyAbsolute }, "Apply"),
);
const rangeBox = h("div", { class: "range", role: "group", "aria-labelledby": "range-label" }, h("label", { id: "range-label", for: "range" }, "Time range"), rangeSelect, absolute, rangeError);
const banner = h("div", { class: "banner", role: "alert" });
const main = h("main", { id: "main", tabindex: "-1" });

document.getElementById("app")!.replaceChildren(
  h("a", { class: "skip", href: "#main" }, "Skip to content"),
  h(
    "header",
    {},
    h("div", { class: "top" }, h("h1", {}, "loglens"), nav, h("a", { class: "docs", href: "/docs" }, "API docs")),
    h("div", { class: "toolbar" }, queryForm, h("div", { class: "controls" }, chips, rangeBox)),
    banner,
  ),
  main,
);

queryForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const parsed = parseQuery(qInput.value);
  let filters = state.filters;
  for (const f of parsed.filters) filters = withFilter(filters, f);
  go({ ...state, q: parsed.q, filters });
});
rangeSelect.addEventListener("change", () => {
  if (rangeSelect.value === "custom") {
    const [from, to] = resolveRange(state.range);
    fromInput.value = toLocalInput(from);
    toInput.value = toLocalInput(to);
    absolute.hidden = false;
    fromInput.focus();
  } else go({ ...state, range: { preset: rangeSelect.value as (typeof PRESETS)[number]["id"] } });
});

function applyAbsolute(): void {
  const from = new Date(fromInput.value).getTime();
  const to = new Date(toInput.value).getTime();
  rangeError.textContent = "";
  if (!Number.isFinite(from) || !Number.isFinite(to)) rangeError.textContent = "Enter both a start and an end.";
  else if (from > to) rangeError.textContent = "The start must be before the end.";
  else go({ ...state, range: { from, to } });
}

document.addEventListener("keydown", (e) => {
  const t = e.target as HTMLElement;
  if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !t.closest("input, textarea, select, [contenteditable]")) {
    e.preventDefault();
    qInput.focus();
    qInput.select();
  }
});
window.addEventListener("popstate", () => {
  state = fromSearch(location.search);
  render();
});

/** Moves to `next`: a new history entry, then a fresh render. */
function go(next: ViewState): void {
  state = next;
  history.pushState(null, "", toSearch(state));
  render();
}

function removeFilter(f: Filter): void {
  go({ ...state, filters: state.filters.filter((x) => x !== f) });
  qInput.focus();
}

/** Shows `e` next to the field it names: the query bar, a chip, the range,
 * or (no field) the banner. */
function showError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  const field = e instanceof ApiError ? e.body.field : undefined;
  const chip = field ? chips.querySelector<HTMLElement>(`li[data-key="${CSS.escape(field)}"]`) : null;
  let slot: HTMLElement;
  if (chip) {
    chip.classList.add("invalid");
    slot = chip.querySelector(".chip-error") ?? chip.appendChild(h("span", { class: "chip-error", role: "alert", id: `err-${field}` }));
    chip.querySelector("button")?.setAttribute("aria-describedby", slot.id);
  } else if (field === "q") slot = qError;
  else if (field === "from_timestamp" || field === "to_timestamp") slot = rangeError;
  else slot = banner;
  if (slot.textContent?.includes(msg)) return;
  slot.textContent = slot === banner && field ? `${field}: ${msg}` : msg;
  slot.dataset.field = field ?? "";
}

function syncToolbar(): void {
  nav.replaceChildren(
    ...VIEWS.map((v) =>
      h(
        "a",
        {
          href: toSearch({ ...state, view: v.id }),
          "aria-current": v.id === state.view ? "page" : undefined,
          onclick: (e: Event) => {
            const me = e as MouseEvent;
            if (me.ctrlKey || me.metaKey || me.shiftKey || me.button !== 0) return;
            e.preventDefault();
            go({ ...state, view: v.id as View });
          },
        },
        v.label,
      ),
    ),
  );
  qInput.value = state.q;
  qError.textContent = "";
  rangeError.textContent = "";
  banner.textContent = "";
  chips.replaceChildren(
    ...state.filters.map((f) =>
      h(
        "li",
        { class: "chip", "data-key": f.key },
        h("span", { class: "chip-text" }, `${fieldLabel(f.key)}: ${f.value}`),
        h("button", { type: "button", "aria-label": `Remove filter ${fieldLabel(f.key)}: ${f.value}`, title: "Remove filter", onclick: () => removeFilter(f) }, "×"),
      ),
    ),
  );
  chips.hidden = state.filters.length === 0;
  const r: Range = state.range;
  rangeBox.hidden = state.view === "tail";
  if ("preset" in r) {
    rangeSelect.value = r.preset;
    absolute.hidden = true;
  } else {
    rangeSelect.value = "custom";
    fromInput.value = toLocalInput(r.from);
    toInput.value = toLocalInput(r.to);
    absolute.hidden = false;
  }
}

function render(): void {
  current?.abort();
  current = new AbortController();
  syncToolbar();
  const view = VIEWS.find((v) => v.id === state.view)!;
  document.title = `${view.label} · loglens`;
  main.replaceChildren(h("h2", { class: "view-title" }, view.label));
  main.dataset.view = state.view;
  const ctx: Ctx = {
    state,
    jaegerUrl,
    addFilter: (f) => go({ ...state, filters: withFilter(state.filters, f) }),
    setRange: (range) => go({ ...state, range }),
    showError,
    signal: current.signal,
  };
  const mount = { explore, anomalies, stats, tail }[state.view];
  try {
    mount(main, ctx);
  } catch (e) {
    showError(e);
  }
}

render();
