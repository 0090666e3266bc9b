/**
 * The live pages' script (/assets/pages.js, bundled by scripts/bundle.mjs). <main data-live-scope> says whose
 * rows and which entities; live() from pgfeed/client keeps them current — snapshot, stream, resume, reset,
 * the tab-hidden pause, the stream shared by the tabs of one reader, the polling fallback are its options —
 * and this script only renders: the rows (view.ts), the badge (badge.ts), and what a screen reader hears.
 */
import { type Change, type ConnectionState, type LiveOptions, live } from '../../../client';
import { badgeOf } from './badge';
import { applyChanges, counts, decorate, overdue } from './view';

/** Overrides for tests (set before the script runs, e.g. by Playwright's addInitScript). */
interface Tuning {
  pauseWhenHiddenMs?: number;
  polling?: { afterFailures?: number; everyMs?: number };
  backoff?: LiveOptions['backoff'];
  /** How long a changed value shows what it was. */
  wasMs?: number;
}

// `shareTab` is live()'s option for one stream per reader shared by the tabs of an origin (Web Lock +
// BroadcastChannel); typed here until the client declares it.
type PageLiveOptions = LiveOptions & { shareTab?: boolean | { name?: string } };

function start(main: HTMLElement, badge: HTMLElement): void {
  const tuning: Tuning = (window as { pgfeedLiveOptions?: Tuning }).pgfeedLiveOptions ?? {};
  const polling = { afterFailures: 3, everyMs: 30_000, ...tuning.polling };
  const wasMs = tuning.wasMs ?? 6000;

  const show = (state: ConnectionState) => {
    const { state: name, text } = badgeOf(state, polling.everyMs, Date.now());
    badge.dataset.state = name;
    badge.querySelector('.state')!.textContent = text;
    document.body.dataset.live = name;
  };
  const lastChange = () => {
    badge.querySelector('.last')!.textContent = `last change ${new Date().toLocaleTimeString()}`;
  };
  const options: PageLiveOptions = {
    url: '', // this origin: the HttpOnly cookie authenticates the snapshot and the stream
    scope: JSON.parse(main.dataset.liveScope!) as LiveOptions['scope'],
    entities: main.dataset.liveEntities!.split(','),
    pauseWhenHiddenMs: tuning.pauseWhenHiddenMs ?? 15_000,
    polling,
    backoff: tuning.backoff,
    shareTab: { name: main.dataset.liveShare },
  };
  // The collection is a store: one listener renders its state and each batch of changes, with all its rows.
  let applied: readonly Change[] = [];
  let first = true;
  live(options).subscribe(({ items, state, changes }) => {
    show(state);
    if (changes === applied || changes.length === 0) return;
    applied = changes;
    const told = applyChanges(changes, items, wasMs);
    if (first) performance.mark('pgfeed:rows'); // the rows of live()'s first snapshot are on screen
    first = false;
    if (told.length > 0) lastChange();
    for (const { row, change } of told) say(change, row);
  });
  decorate(document);
  counts();
  setInterval(overdue, 60_000);
}

// A screen reader hears what changed, at most about once a second.
let heard: string[] = [];
let hearTimer: ReturnType<typeof setTimeout> | undefined;
function say(change: Change, row: HTMLElement | null): void {
  const name = row ? (row.querySelector('.cell') ?? row).textContent : '';
  let what = `${change.item.entity} ${change.kind === 'insert' ? 'created' : `${change.kind}d`}${name ? `: ${name}` : ''}`;
  row?.querySelectorAll<HTMLElement>('.cell.changed').forEach((cell) => {
    what += `, ${cell.dataset.col} ${cell.textContent} (was ${cell.dataset.was})`;
  });
  heard.push(what);
  hearTimer ??= setTimeout(() => {
    const region = document.getElementById('announce');
    if (region) region.textContent = heard.length > 3 ? `${heard.length} changes` : heard.join('. ');
    heard = [];
    hearTimer = undefined;
  }, 1000);
}

const main = document.querySelector<HTMLElement>('main[data-live-scope]');
const badge = document.getElementById('live');
if (main && badge) start(main, badge);
