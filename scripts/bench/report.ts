/**
 * What a person reads at the end of `npm run bench`: the costs scenario as a
 * table (pgfeed in both capture modes against the hand-rolled server and the
 * floor, ratios beside them) and as an SVG chart (the latency distribution of the largest
 * fan-out, and the cost ratios). The SVG is self-contained: no fonts, scripts
 * or images from anywhere.
 */
import type { SystemCost } from './costs';

export type Costs = Record<string, SystemCost>;

const BASE = 'hand-rolled';
const COMPARED = ['pgfeed trigger', 'pgfeed wal'];
const TWO = 'pgfeed trigger, 2 workers';
const FLOOR = 'floor';

/** The ratio columns of the table, [numerator, denominator, heading], each shown when both systems ran. */
const RATIOS: [string, string, string][] = [
  ...COMPARED.map((s): [string, string, string] => [s, BASE, `${s.replace('pgfeed ', '')} ÷ ${BASE}`]),
  ['pgfeed trigger', FLOOR, `trigger ÷ ${FLOOR}`],
  [BASE, FLOOR, `${BASE} ÷ ${FLOOR}`],
  [TWO, 'pgfeed trigger', '2 workers ÷ 1'],
  ['pgfeed wal', 'pgfeed trigger', 'wal ÷ trigger'],
  ['pgfeed wal, main thread', 'pgfeed trigger', 'wal main thread ÷ trigger'],
];

/** One figure of every system, and how to print it. */
interface Row {
  label: string;
  value: (c: SystemCost) => number | undefined;
  unit: string;
  digits: number;
}

const kb = (b: number | undefined) => (b === undefined ? undefined : b / 1024);

function rows(costs: Costs, steps: number[]): Row[] {
  const fanSteps = steps.slice(0, -1);
  return [
    ...steps.map((n) => ({
      label: `memory per stream, ${n} idle`,
      value: (c: SystemCost) => kb(c.memoryPerStreamBytes[n]),
      unit: 'KB',
      digits: 1,
    })),
    {
      label: `server RSS at ${steps.at(-1)} streams`,
      value: (c) => (c.rssBytes[steps.at(-1)!] ?? NaN) / 1024 / 1024,
      unit: 'MB',
      digits: 0,
    },
    { label: 'CPU to open one stream', value: (c) => c.cpuPerConnectionMs, unit: 'ms', digits: 3 },
    { label: 'streams opened per second', value: (c) => c.opensPerSecond, unit: '/s', digits: 0 },
    ...fanSteps.flatMap((n): Row[] => [
      { label: `CPU per 1 000 frames, fan-out to ${n}`, value: (c) => c.fanout[n]?.cpuPer1000FramesMs, unit: 'ms', digits: 1 },
      { label: `one change to ${n}: last client p50`, value: (c) => c.fanout[n]?.lastClientMs.p50, unit: 'ms', digits: 1 },
      { label: `one change to ${n}: last client p99`, value: (c) => c.fanout[n]?.lastClientMs.p99, unit: 'ms', digits: 1 },
      { label: `one change to ${n}: first client p50`, value: (c) => c.fanout[n]?.firstClientMs.p50, unit: 'ms', digits: 1 },
      { label: `one change to ${n}: every client p99`, value: (c) => c.fanout[n]?.latencyMs.p99, unit: 'ms', digits: 1 },
      { label: `(client, change) pairs missed at ${n}`, value: (c) => c.fanout[n]?.missedPairs, unit: '', digits: 0 },
    ]),
  ];
}

const fmt = (v: number | undefined, digits: number) =>
  v === undefined || !Number.isFinite(v)
    ? '—'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * The costs as a plain-text table: one row per figure, one column per system, then the ratios
 * (pgfeed ÷ hand-rolled; pgfeed and hand-rolled ÷ the floor, what Node itself costs; 2 workers ÷ 1).
 */
export function costsTable(costs: Costs, steps: number[]): string {
  const systems = Object.keys(costs);
  const ratioCols = RATIOS.filter(([a, b]) => costs[a] && costs[b]);
  const header = ['figure', ...systems, ...ratioCols.map(([, , heading]) => heading)];
  const body = rows(costs, steps).map((r) => {
    const cells = [`${r.label}${r.unit ? ` (${r.unit})` : ''}`, ...systems.map((s) => fmt(r.value(costs[s]!), r.digits))];
    for (const [a, b] of ratioCols) cells.push(r.unit ? fmt(r.value(costs[a]!)! / r.value(costs[b]!)!, 2) : '');
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const COLORS: Record<string, string> = {
  'pgfeed trigger': '#1f77b4',
  'pgfeed wal': '#2ca02c',
  'hand-rolled': '#d62728',
  'pgfeed trigger, 2 workers': '#9467bd',
  floor: '#7f7f7f',
  'pgfeed wal, main thread': '#8c564b',
};
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The chart: latency percentiles of the largest fan-out per system (left), pgfeed ÷ hand-rolled per cost (right). */
export function costsSvg(costs: Costs, steps: number[], caption: string): string {
  const W = 980;
  const H = 440;
  const out: string[] = [];
  const text = (x: number, y: number, s: string, attrs = '') =>
    out.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`);
  const fanAt = steps.at(-2);
  const systems = Object.keys(costs);

  // Left: percentile (x) → latency (y) of every (client, change) pair, fan-out to `fanAt` streams.
  const L = { x: 70, y: 60, w: 380, h: 300 };
  const dists = systems.map((s) => ({ s, d: fanAt === undefined ? [] : (costs[s]!.fanout[fanAt]?.distribution ?? []) }));
  // Up to the highest p99, rounded up to a tidy step, so the ticks read as round numbers.
  const top = Math.max(1, ...dists.map(({ d }) => d[99] ?? 0)) * 1.1;
  const unit = 10 ** Math.floor(Math.log10(top / 4));
  const tick = [1, 2, 5, 10].map((m) => m * unit).find((t) => t * 4 >= top)!;
  const yMax = tick * 4;
  const px = (q: number) => L.x + (q / 100) * L.w;
  const py = (v: number) => L.y + L.h - (Math.min(v, yMax) / yMax) * L.h;
  text(L.x, 40, `Commit → client, one change to ${fanAt ?? '—'} streams`, 'font-weight="bold"');
  out.push(`<rect x="${L.x}" y="${L.y}" width="${L.w}" height="${L.h}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    out.push(`<line x1="${L.x}" x2="${L.x + L.w}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    text(L.x - 6, py(v) + 4, `${Math.round(v)} ms`, 'text-anchor="end" font-size="11"');
  }
  for (const q of [0, 25, 50, 75, 90, 99]) text(px(q), L.y + L.h + 16, `p${q}`, 'text-anchor="middle" font-size="11"');
  text(L.x + L.w / 2, L.y + L.h + 34, 'percentile of (client, change) pairs', 'text-anchor="middle" font-size="11"');
  dists.forEach(({ s, d }, i) => {
    if (d.length > 0) {
      const points = d.slice(0, 100).map((v, q) => `${px(q).toFixed(1)},${py(v).toFixed(1)}`);
      out.push(`<polyline fill="none" stroke="${COLORS[s] ?? '#555'}" stroke-width="2" points="${points.join(' ')}"/>`);
    }
    out.push(`<rect x="${L.x + 10}" y="${L.y + 10 + i * 18}" width="12" height="4" fill="${COLORS[s] ?? '#555'}"/>`);
    text(L.x + 28, L.y + 16 + i * 18, s, 'font-size="12"');
  });

  // Right: pgfeed ÷ hand-rolled, per figure (1 = the same cost; lower is better for pgfeed), with the
  // floor ÷ hand-rolled marked on each: no bar can go below what Node itself costs.
  const R = { x: 640, y: 60, w: 300, h: 300 };
  const base = costs[BASE];
  const compared = COMPARED.filter((s) => costs[s]);
  const last = steps.at(-1)!;
  const metrics: [string, (c: SystemCost) => number | undefined][] = [
    ...(fanAt === undefined
      ? []
      : ([
          [`CPU / 1 000 frames (${fanAt})`, (c) => c.fanout[fanAt]?.cpuPer1000FramesMs],
          [`last client p50 (${fanAt})`, (c) => c.fanout[fanAt]?.lastClientMs.p50],
          [`last client p99 (${fanAt})`, (c) => c.fanout[fanAt]?.lastClientMs.p99],
        ] as [string, (c: SystemCost) => number | undefined][])),
    [`memory / stream (${fanAt ?? last})`, (c) => c.memoryPerStreamBytes[fanAt ?? last]],
    [`memory / stream (${last})`, (c) => c.memoryPerStreamBytes[last]],
    ['CPU / stream opened', (c) => c.cpuPerConnectionMs],
  ];
  const toBase = (c: SystemCost | undefined, f: (c: SystemCost) => number | undefined) =>
    base && c ? (f(c) ?? NaN) / (f(base) ?? NaN) : NaN;
  const ratios = metrics.map(([label, f]) => ({
    label,
    values: compared.map((s) => toBase(costs[s], f)),
    floor: toBase(costs[FLOOR], f),
  }));
  const xMax = Math.max(2, ...ratios.flatMap((r) => [...r.values, r.floor].filter(Number.isFinite))) * 1.1;
  const bx = (v: number) => R.x + (Math.min(v, xMax) / xMax) * R.w;
  text(R.x - 170, 40, 'pgfeed ÷ hand-rolled (lower is cheaper)', 'font-weight="bold"');
  const band = R.h / metrics.length;
  ratios.forEach((r, i) => {
    const y0 = R.y + i * band;
    text(R.x - 8, y0 + band / 2 + 4, r.label, 'text-anchor="end" font-size="12"');
    r.values.forEach((v, k) => {
      const y = y0 + 6 + k * ((band - 12) / compared.length);
      const h = (band - 12) / compared.length - 2;
      if (!Number.isFinite(v)) return;
      out.push(
        `<rect x="${R.x}" y="${y.toFixed(1)}" width="${(bx(v) - R.x).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[compared[k]!]}"/>`,
      );
      text(bx(v) + 4, y + h - 2, v.toFixed(2), 'font-size="11"');
    });
    if (Number.isFinite(r.floor)) {
      out.push(
        `<line x1="${bx(r.floor).toFixed(1)}" x2="${bx(r.floor).toFixed(1)}" y1="${(y0 + 3).toFixed(1)}" y2="${(y0 + band - 3).toFixed(1)}" stroke="${COLORS[FLOOR]}" stroke-width="3"/>`,
      );
    }
  });
  if (costs[FLOOR]) {
    out.push(`<rect x="${R.x + compared.length * 130}" y="${R.y + R.h + 26}" width="3" height="10" fill="${COLORS[FLOOR]}"/>`);
    text(R.x + 8 + compared.length * 130, R.y + R.h + 34, 'floor', 'font-size="12"');
  }
  compared.forEach((s, k) => {
    out.push(`<rect x="${R.x + k * 130}" y="${R.y + R.h + 26}" width="12" height="8" fill="${COLORS[s]}"/>`);
    text(R.x + 16 + k * 130, R.y + R.h + 34, s, 'font-size="12"');
  });
  out.push(`<line x1="${bx(1)}" x2="${bx(1)}" y1="${R.y - 4}" y2="${R.y + R.h}" stroke="#d62728" stroke-dasharray="4 3"/>`);
  text(bx(1), R.y + R.h + 16, 'hand-rolled = 1', 'text-anchor="middle" font-size="11" fill="#d62728"');
  text(20, H - 14, caption, 'font-size="11" fill="#555"');

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
