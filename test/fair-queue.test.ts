import type { ChangeEvent } from '../src/events/schema';
import { FairQueue } from '../src/streams/fair-queue';
import { audienceOf } from '../src/streams/registry';

// The feed's queue in isolation: what each company's streams are handed, and in which order.
type Item = { event: ChangeEvent; bytes: number };

let nextId = 0;
function item(companyId: string | null, op: ChangeEvent['op'] = 'insert', userId: string | null = null): Item {
  const id = String(++nextId);
  const event = { id, companyId, userId, op, entity: 'trip', key: id } as unknown as ChangeEvent;
  return { event, bytes: 100 };
}
const same = (a: Item, b: Item) => audienceOf(a.event) === audienceOf(b.event);
const ids = (run: Item[] | undefined) => run?.map((i) => i.event.id) ?? [];

function drain(q: FairQueue<Item>, max: number): string[][] {
  const runs: string[][] = [];
  for (let run = q.take(max, same); run; run = q.take(max, same)) runs.push(ids(run));
  return runs;
}

beforeEach(() => (nextId = 0));

test("another company's change committed behind a burst gets the second turn, not the last", () => {
  const q = new FairQueue<Item>();
  for (let i = 0; i < 10; i++) q.push(item('a')); // ids 1–10
  q.push(item('b')); // id 11
  expect(q.size).toBe(11);
  expect(q.bytes).toBe(1100);
  expect(drain(q, 4)).toEqual([['1', '2', '3', '4'], ['11'], ['5', '6', '7', '8'], ['9', '10']]);
  expect(q.size).toBe(0);
  expect(q.bytes).toBe(0);
});

test('each company keeps commit order, with pushes and takes interleaved', () => {
  const q = new FairQueue<Item>();
  const companies = ['a', 'b', 'c'];
  const pushed = new Map<string, string[]>(companies.map((c) => [c, []]));
  const seen = new Map<string, string[]>(companies.map((c) => [c, []]));
  const take = () => q.take(8, same)?.forEach((x) => seen.get(x.event.companyId!)!.push(x.event.id));
  for (let i = 0; i < 300; i++) {
    const it = item(companies[(i * 5 + (i >> 3)) % 3]!);
    pushed.get(it.event.companyId!)!.push(it.event.id);
    q.push(it);
    if (i % 7 === 0) take();
  }
  while (q.size > 0) take();
  expect(seen).toEqual(pushed);
});

test('a run holds only events that reach the same streams: a user event splits a company run', () => {
  const q = new FairQueue<Item>();
  q.push(item('a')); // 1
  q.push(item('a')); // 2
  q.push(item('a', 'insert', 'u1')); // 3: the company's streams and u1's
  q.push(item('a')); // 4
  expect(drain(q, 64)).toEqual([['1', '2'], ['3'], ['4']]);
});

test('a broadcast is a barrier: it goes after everything before it, and nothing after it passes it', () => {
  const q = new FairQueue<Item>();
  q.push(item('a')); // 1
  q.push(item('a')); // 2
  q.push(item('b')); // 3
  q.push(item('a', 'reset')); // 4: every stream
  q.push(item('b')); // 5
  q.push(item('a')); // 6
  expect(drain(q, 1)).toEqual([['1'], ['3'], ['2'], ['4'], ['5'], ['6']]);
});

test('events without a company go through like any other lane', () => {
  const q = new FairQueue<Item>();
  q.push(item(null));
  q.push(item('a'));
  expect(drain(q, 64)).toEqual([['1'], ['2']]);
});
