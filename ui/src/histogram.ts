// Counts over time stacked by level (uPlot bars); dragging across it picks
// an absolute range.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Bucket } from "./api";
import { fmtNum, h } from "./dom";

/** Levels bottom to top, with their colours (also used by the legend). */
const LEVELS: [string, string][] = [
  ["ERROR", "#c62828"],
  ["WARN", "#ef8f00"],
  ["INFO", "#1565c0"],
  ["DEBUG", "#7b8794"],
];

/** Every bucket of [from, to], zeros where the gateway sent none. */
function dense(buckets: Bucket[], from: number, to: number, interval: number): Bucket[] {
  const byStart = new Map(buckets.map((b) => [b.start, b]));
  const out: Bucket[] = [];
  for (let t = Math.floor(from / interval) * interval; t <= to; t += interval) {
    out.push(byStart.get(t) ?? { start: t, count: 0, error_count: 0, levels: {} });
  }
  return out;
}

/** The stacked series: per level when buckets carry `levels`, else errors
 * and the rest (from `error_count`). Bottom to top. */
function layers(buckets: Bucket[]): { name: string; color: string; values: number[] }[] {
  if (buckets.some((b) => b.levels && Object.keys(b.levels).length)) {
    const known = LEVELS.map(([n, c]) => ({ name: n, color: c, values: buckets.map((b) => b.levels?.[n] ?? 0) }));
    const other = buckets.map((b) => Math.max(0, b.count - LEVELS.reduce((s, [n]) => s + (b.levels?.[n] ?? 0), 0)));
    if (other.some((v) => v > 0)) known.push({ name: "other", color: "#5f6b7a", values: other });
    return known;
  }
  return [
    { name: "errors", color: LEVELS[0][1], values: buckets.map((b) => b.error_count ?? 0) },
    { name: "other", color: LEVELS[2][1], values: buckets.map((b) => Math.max(0, b.count - (b.error_count ?? 0))) },
  ];
}

/** A histogram of `buckets` over [from, to]; `onZoom` gets the dragged range, ms. */
export function histogram(
  buckets: Bucket[],
  from: number,
  to: number,
  interval: number,
  onZoom: (from: number, to: number) => void,
): { el: HTMLElement; destroy(): void } {
  const all = dense(buckets, from, to, interval);
  const stack = layers(all);
  const xs = all.map((b) => b.start / 1000);
  // Cumulative tops, drawn top layer first so each band shows its own count.
  const cum: number[][] = [];
  stack.forEach((l, i) => cum.push(l.values.map((v, j) => v + (i ? cum[i - 1][j] : 0))));
  const order = stack.map((_, i) => i).reverse();
  const total = all.reduce((s, b) => s + b.count, 0);
  const chart = h("div", {
    class: "chart",
    role: "img",
    "aria-label": `Histogram: ${fmtNum(total)} records in ${all.length} buckets. Drag across it to zoom in.`,
  });
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Histogram legend" },
    stack
      .filter((l) => l.values.some((v) => v > 0))
      .map((l) =>
      h("li", {}, h("span", { class: "swatch", style: `background:${l.color}` }), `${l.name} ${fmtNum(l.values.reduce((a, b) => a + b, 0))}`),
    ),
  );
  const el = h("figure", { class: "histogram" }, chart, h("figcaption", {}, legend));
  const bars = uPlot.paths.bars!({ size: [0.9, 40], align: 1 });
  const width = () => Math.max(300, (el.parentElement?.clientWidth ?? 800) - 8);
  const opts: uPlot.Options = {
    width: 800,
    height: 160,
    legend: { show: false },
    cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
    scales: { x: { time: true, range: [from / 1000, to / 1000 + interval / 1000] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [{ stroke: "#333", grid: { stroke: "#eee" } }, { stroke: "#333", grid: { stroke: "#eee" }, size: 50 }],
    series: [{}, ...order.map((i) => ({ label: stack[i].name, fill: stack[i].color, stroke: stack[i].color, width: 0, paths: bars, points: { show: false } }))],
    hooks: {
      setSelect: [
        (u: uPlot) => {
          if (u.select.width < 3) return;
          const a = u.posToVal(u.select.left, "x") * 1000;
          const b = u.posToVal(u.select.left + u.select.width, "x") * 1000;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          onZoom(Math.max(from, Math.floor(a)), Math.min(to, Math.ceil(b)));
        },
      ],
    },
  };
  const data: uPlot.AlignedData = [xs, ...order.map((i) => cum[i])];
  let plot: uPlot | undefined;
  const resize = () => plot?.setSize({ width: width(), height: 160 });
  // Built once the figure is in the document, so it knows its width.
  requestAnimationFrame(() => {
    plot = new uPlot({ ...opts, width: width() }, data, chart);
    el.dataset.ready = "true";
  });
  window.addEventListener("resize", resize);
  return {
    el,
    destroy() {
      window.removeEventListener("resize", resize);
      plot?.destroy();
    },
  };
}
