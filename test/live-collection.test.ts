import { type ChangeEvent, SubscribeError } from '../src/client';
import { type LiveItem, LiveCollection, type SnapshotPage } from '../src/client/collection';
import { type ConnectionState, INITIAL_STATE, nextState } from '../src/client/connection';
import { Follower, type FollowerHost, MAX_HELD } from '../src/client/follower';
import { follow, shareKey, shareableState } from '../src/client/share-tab';
import { matchesWhere, parseWhere, whereParams } from '../src/client/where';

// The live collection's rules without a network: snapshot pages in, change events in, rows and changes out.

const trip = (key: string, row: Record<string, unknown> = {}): LiveItem => ({
  entity: 'trip',
  key,
  companyId: 'acme',
  userId: null,
  row: { id: key, availableSlots: 10, ...row },
});
const page = (items: LiveItem[], lastEventId: string, next: string | null = null): SnapshotPage => ({ items, lastEventId, next });

function event(id: number, op: ChangeEvent['op'], key: string, row: Record<string, unknown> = {}, entity = 'trip'): ChangeEvent {
  const suffix = { insert: 'created', update: 'updated', delete: 'deleted', truncate: 'truncated', reset: 'reset' }[op];
  return {
    id: String(id),
    type: `${entity}.${suffix}`,
    entity,
    op,
    companyId: 'acme',
    userId: null,
    key,
    row: op === 'truncate' ? {} : { id: key, availableSlots: 10, ...row },
    changes: null,
    committedAt: '2026-12-06T08:00:00.000Z',
  };
}

const keys = (c: LiveCollection) => c.items.map((i) => `${i.entity}:${i.key}`);
const slots = (c: LiveCollection, key: string) => c.get('trip', key)?.row.availableSlots;

describe('a live collection', () => {
  test('a first load inserts every row and streams from the smallest page position', () => {
    const c = new LiveCollection();
    const { changes, from } = c.replace([page([trip('a'), trip('b')], '12', 'cursor'), page([trip('c')], '9')]);
    expect(changes.map((x) => [x.kind, x.item.key])).toEqual([
      ['insert', 'a'],
      ['insert', 'b'],
      ['insert', 'c'],
    ]);
    expect(from).toBe('9');
    expect(keys(c)).toEqual(['trip:a', 'trip:b', 'trip:c']);
  });

  test('an event a page already reflects is ignored; one it does not is applied (the duplicates rule)', () => {
    const c = new LiveCollection();
    // Page 1 covers keys up to b at position 12; page 2 covers the rest at position 9 (read earlier).
    c.replace([page([trip('a'), trip('b')], '12', 'cursor'), page([trip('c')], '9')]);
    expect(c.apply(event(10, 'update', 'a', { availableSlots: 1 }))).toEqual([]); // page 1 holds it
    expect(slots(c, 'a')).toBe(10);
    const applied = c.apply(event(10, 'update', 'c', { availableSlots: 3 })); // page 2 does not
    expect(applied).toMatchObject([{ kind: 'update', item: { key: 'c' }, changes: { availableSlots: 3 }, eventId: '10' }]);
    // bb sorts after b: page 2's range (b, end], read at 9, so 11 is new to it; at page 1's 12 it would not be.
    expect(c.apply(event(11, 'insert', 'bb'))).toMatchObject([{ kind: 'insert', item: { key: 'bb' } }]);
    expect(c.apply(event(11, 'insert', 'ab'))).toEqual([]);
    expect(c.get('trip', 'ab')).toBeUndefined();
    expect(c.apply(event(13, 'update', 'a', { availableSlots: 4 }))).toMatchObject([{ kind: 'update' }]);
    expect(slots(c, 'a')).toBe(4);
  });

  test('page ranges follow the server key order (code points, as collate "C"), also past U+FFFF', () => {
    const c = new LiveCollection();
    // Page 1 ends at U+FFFF; an emoji (U+1F600) sorts after it, in page 2's range, read earlier.
    c.replace([page([trip('a'), trip('\uFFFF')], '12', 'cursor'), page([], '9')]);
    expect(c.apply(event(10, 'insert', '\u{1F600}'))).toMatchObject([{ kind: 'insert' }]);
    expect(c.apply(event(10, 'insert', 'b'))).toEqual([]); // page 1's range, which reflects 10
  });

  test('an insert of a row the snapshot already holds (WAL numbers it later) is not a second row', () => {
    const c = new LiveCollection();
    c.replace([page([trip('a')], '5')]);
    expect(c.apply(event(6, 'insert', 'a'))).toEqual([]); // the same row: nothing changed
    expect(c.apply(event(7, 'insert', 'a', { availableSlots: 9 }))).toMatchObject([
      { kind: 'update', changes: { availableSlots: 9 } },
    ]);
    expect(keys(c)).toEqual(['trip:a']);
  });

  test('create, update, delete; an update of an unknown row adds it; a delete of one removes nothing', () => {
    const c = new LiveCollection();
    c.replace([page([], '1')]);
    expect(c.apply(event(2, 'insert', 'n'))).toMatchObject([{ kind: 'insert', item: { key: 'n' } }]);
    expect(c.apply(event(3, 'update', 'm'))).toMatchObject([{ kind: 'insert', item: { key: 'm' } }]);
    const deleted = c.apply(event(4, 'delete', 'n'));
    expect(deleted).toMatchObject([{ kind: 'delete', item: { key: 'n', row: { id: 'n' } } }]);
    expect(c.apply(event(5, 'delete', 'gone'))).toEqual([]);
    expect(keys(c)).toEqual(['trip:m']);
  });

  test('a truncate removes every row of its entity, and only of its entity', () => {
    const c = new LiveCollection();
    c.replace([page([{ ...trip('s1'), entity: 'stock' }, trip('a'), trip('b')], '3')]);
    const changes = c.apply(event(4, 'truncate', '', {}, 'trip'));
    expect(changes.map((x) => [x.kind, x.item.key])).toEqual([
      ['delete', 'a'],
      ['delete', 'b'],
    ]);
    expect(keys(c)).toEqual(['stock:s1']);
  });

  test("a truncate a page was read after does not remove that page's rows", () => {
    const c = new LiveCollection();
    c.replace([page([trip('a')], '10', 'cursor'), page([trip('b')], '4')]);
    expect(c.apply(event(7, 'truncate', '')).map((x) => x.item.key)).toEqual(['b']);
    expect(keys(c)).toEqual(['trip:a']);
  });

  test('a reload (after reset) replaces the rows at once and reports only the difference', () => {
    const c = new LiveCollection();
    c.replace([page([trip('a'), trip('b'), trip('c')], '5')]);
    const before = c.items;
    const { changes, from } = c.replace([page([trip('a'), trip('b', { availableSlots: 2 }), trip('d')], '20')]);
    expect(changes.map((x) => [x.kind, x.item.key])).toEqual([
      ['update', 'b'],
      ['insert', 'd'],
      ['delete', 'c'],
    ]);
    expect(changes[0]).toMatchObject({ previous: { row: { availableSlots: 10 } }, changes: { availableSlots: 2 } });
    expect(from).toBe('20');
    expect(c.items).not.toBe(before); // a new array: stores see the change
    expect(c.items).toBe(c.items); // and the same one until the next
  });

  test('a row an update takes out of the filter is removed; one that enters it is added', () => {
    const c = new LiveCollection(parseWhere({ status: 'eq.confirmed' }));
    c.replace([page([trip('a', { status: 'confirmed' })], '1')]);
    expect(c.apply(event(2, 'update', 'a', { status: 'cancelled' }))).toMatchObject([{ kind: 'delete', item: { key: 'a' } }]);
    expect(c.apply(event(3, 'update', 'a', { status: 'confirmed' }))).toMatchObject([{ kind: 'insert', item: { key: 'a' } }]);
    expect(c.apply(event(4, 'insert', 'z', { status: 'cancelled' }))).toEqual([]);
    expect(keys(c)).toEqual(['trip:a']);
  });
});

describe('column filters', () => {
  test('compare as the server does: numbers numerically, strings as strings, booleans, null', () => {
    const row = { seats: 10, status: 'confirmed', at: '2026-12-06T08:00:00Z', halted: false, due: null };
    const holds = (where: Record<string, string>) => matchesWhere(parseWhere(where), row);
    expect(holds({ seats: 'gt.9' })).toBe(true); // 10 > 9 as numbers (as strings "10" < "9")
    expect(holds({ seats: 'lte.9' })).toBe(false);
    expect(holds({ seats: 'in.(1,10)' })).toBe(true);
    expect(holds({ status: 'neq.confirmed' })).toBe(false);
    expect(holds({ status: 'in.(cashier,confirmed)' })).toBe(true);
    expect(holds({ at: 'gte.2026-12-06T07:59:59Z' })).toBe(true);
    expect(holds({ halted: 'eq.false' })).toBe(true);
    expect(holds({ due: 'eq.null' })).toBe(true);
    expect(holds({ due: 'lt.5' })).toBe(false);
    expect(holds({ seats: 'gt.2', status: 'eq.confirmed' })).toBe(true);
  });

  test('bigint and numeric values (strings of their exact text) compare as numbers, exactly', () => {
    const row = { total: '9007199254740993', price: '12.50', loss: '-0.5' };
    const holds = (where: Record<string, string>) => matchesWhere(parseWhere(where), row);
    expect(holds({ total: 'gt.9007199254740992' })).toBe(true);
    expect(holds({ total: 'lt.9007199254740994' })).toBe(true);
    expect(holds({ total: 'eq.9007199254740992' })).toBe(false); // equal as floats
    expect(holds({ price: 'eq.12.5' })).toBe(true);
    expect(holds({ price: 'lt.100' })).toBe(true); // as strings "12.50" > "100"
    expect(holds({ price: 'in.(1,12.500)' })).toBe(true);
    expect(holds({ loss: 'lt.0' })).toBe(true);
    expect(holds({ loss: 'gt.-1' })).toBe(true);
    expect(holds({ loss: 'gt.-0.25' })).toBe(false);
  });

  test('written back as the same query parameters; a malformed one is refused before any request', () => {
    expect(whereParams(parseWhere({ channel: 'in.(cashier,online)', seats: 'gt.2' }))).toEqual([
      ['where.channel', 'in.(cashier,online)'],
      ['where.seats', 'gt.2'],
    ]);
    expect(() => parseWhere({ seats: 'between.1' })).toThrow(/where.seats: "between.1" must be <op>.<value>/);
    expect(() => parseWhere({ seats: '2' })).toThrow(/must be <op>.<value>/);
    expect(() => parseWhere({ channel: 'in.cashier' })).toThrow(/in takes a list/);
    expect(() => parseWhere({ 'a b': 'eq.1' })).toThrow(/not a column name/);
  });
});

describe('the connection state', () => {
  const run = (...inputs: Parameters<typeof nextState>[1][]): ConnectionState => inputs.reduce(nextState, INITIAL_STATE);

  test('connecting → live → reconnecting with the next try → live', () => {
    expect(run({ type: 'connect' })).toEqual({ status: 'connecting' });
    expect(run({ type: 'connect' }, { type: 'ready' })).toEqual({ status: 'live' });
    const failed = run({ type: 'ready' }, { type: 'retry', at: 1234, online: true });
    expect(failed).toEqual({ status: 'reconnecting', retryAt: 1234 });
    expect(nextState(failed, { type: 'connect' })).toBe(failed); // still reconnecting while it tries
    expect(nextState(failed, { type: 'ready' })).toEqual({ status: 'live' });
  });

  test('offline when the browser says so; polling keeps saying so until live', () => {
    expect(run({ type: 'retry', at: 1, online: false })).toEqual({ status: 'offline' });
    const polling = run({ type: 'poll', at: 99 });
    expect(nextState(polling, { type: 'retry', at: 5, online: true })).toBe(polling);
    expect(nextState(polling, { type: 'ready' })).toEqual({ status: 'live' });
  });

  test('paused ignores its old stream until resumed; closed is final', () => {
    const paused = run({ type: 'ready' }, { type: 'pause' });
    expect(paused).toEqual({ status: 'paused' });
    expect(nextState(paused, { type: 'ready' })).toBe(paused);
    expect(nextState(paused, { type: 'resume' })).toEqual({ status: 'connecting' });
    const closed = run({ type: 'close' });
    expect(nextState(closed, { type: 'resume' })).toBe(closed);
    expect(nextState(closed, { type: 'ready' })).toBe(closed);
  });
});

describe('tabs sharing one stream (shareTab)', () => {
  test("a follower applies what continues from its position, skips what it has, and sees the holder's gap", () => {
    expect(follow('10', '10', '11')).toBe('apply');
    expect(follow('10', '7', '11')).toBe('apply'); // the holder resumed from further back and passed 10
    expect(follow('10', '8', '9')).toBe('skip'); // a replay of what this tab applied already
    expect(follow('10', '9', '10')).toBe('skip');
    expect(follow('10', '12', '13')).toBe('gap'); // 11..12 never reached this tab
    expect(follow('10', undefined, '13')).toBe('gap');
    expect(follow('99', '99', '100')).toBe('apply'); // decimal ids, not text: 100 follows 99
    expect(follow('100', '98', '99')).toBe('skip');
  });

  test('one key per collection, whatever the order of entities, keys and filters; a name replaces it', () => {
    const a = shareKey({
      url: 'http://h/',
      scope: { company: 'acme' },
      entities: ['trip', 'booking'],
      where: { b: 'eq.1', a: 'gt.2' },
    });
    const b = shareKey({
      url: 'http://h',
      scope: { company: 'acme' },
      entities: ['booking', 'trip'],
      where: { a: 'gt.2', b: 'eq.1' },
    });
    expect(a).toBe(b);
    expect(shareKey({ url: 'http://h', scope: { company: 'globex' }, entities: ['trip', 'booking'] })).not.toBe(a);
    expect(shareKey({ url: 'http://h', scope: { company: 'acme' }, entities: ['trip'] })).not.toBe(a);
    expect(shareKey({ url: 'http://h', scope: { company: 'acme' }, keys: ['k1'] })).not.toBe(
      shareKey({ url: 'http://h', scope: { company: 'acme' } }),
    );
    expect(shareKey({ url: 'http://h', scope: { company: 'acme' } }, 'reader-1')).toBe('pgfeed:reader-1');
  });

  test("followers show the holder's state without its error; never its paused or closed (the next holder speaks)", () => {
    const error = new SubscribeError('network', 'down');
    expect(shareableState({ status: 'reconnecting', retryAt: 5, error })).toEqual({ status: 'reconnecting', retryAt: 5 });
    expect(shareableState({ status: 'paused' })).toBeUndefined();
    expect(shareableState({ status: 'closed', error })).toBeUndefined();
    const live = nextState(INITIAL_STATE, { type: 'mirror', state: { status: 'live' } });
    expect(live).toEqual({ status: 'live' });
    expect(nextState(live, { type: 'mirror', state: { status: 'live' } })).toBe(live); // no re-render for the same state
    expect(nextState(live, { type: 'mirror', state: { status: 'polling', nextAt: 3 } })).toEqual({
      status: 'polling',
      nextAt: 3,
    });
    const paused = nextState(live, { type: 'pause' });
    expect(nextState(paused, { type: 'mirror', state: { status: 'live' } })).toBe(paused);
  });
});

describe("a tab that follows another tab's stream", () => {
  /** A follower over a collection of trips whose snapshot reads the test answers one by one. */
  function following() {
    const c = new LiveCollection();
    const reads: ((pages: SnapshotPage[]) => void)[] = [];
    const host: FollowerHost<Record<string, unknown>> = {
      position: undefined,
      readSnapshot: () => new Promise((resolve) => reads.push(resolve)),
      take: (pages) => c.replace(pages).from,
      apply: (e) => void c.apply(e),
      transition: () => {},
      failed: () => {},
      lost: () => {},
      online: () => true,
      signal: new AbortController().signal,
    };
    const f = new Follower(host);
    const forward = (id: number, after: number, slots: number) =>
      f.receive({ kind: 'event', after: String(after), event: event(id, 'update', 'a', { availableSlots: slots }) });
    const read = async (lastEventId: string, slots: number) => {
      await Promise.resolve();
      reads.shift()!([page([trip('a', { availableSlots: slots })], lastEventId)]);
      await new Promise((r) => setTimeout(r, 0));
    };
    return { c, f, host, reads, forward, read };
  }

  test('what is forwarded while the snapshot is read waits; then what the snapshot has is skipped and the rest applied in order', async () => {
    const { c, f, host, forward, read } = following();
    f.hold();
    void f.sync();
    forward(11, 10, 9); // before the snapshot was read: in it
    forward(12, 11, 8);
    forward(13, 12, 7); // after
    await read('12', 8);
    expect(slots(c, 'a')).toBe(7);
    expect(host.position).toBe('13');
    forward(12, 11, 8); // a new streaming tab replaying from further back
    expect(slots(c, 'a')).toBe(7);
    forward(14, 13, 6);
    expect([slots(c, 'a'), host.position]).toEqual([6, '14']);
  });

  test('a gap (the streaming tab is past events this tab never saw) reads the snapshot again, holding what comes meanwhile', async () => {
    const { c, f, host, reads, forward, read } = following();
    f.hold();
    void f.sync();
    await read('10', 9);
    forward(16, 15, 5); // 11..15 never reached this tab
    expect(reads).toHaveLength(1);
    expect(slots(c, 'a')).toBe(9);
    forward(17, 16, 4);
    await read('16', 5);
    expect([slots(c, 'a'), host.position]).toEqual([4, '17']);
  });

  test(`at most ${MAX_HELD} messages are held: past that, the gap they leave is read again`, async () => {
    const { c, f, reads, forward, read } = following();
    f.hold();
    void f.sync();
    for (let id = 11; id <= 11 + MAX_HELD; id++) forward(id, id - 1, id % 50);
    await read('10', 9); // the messages after 10 were dropped: the first one held continues from further on
    expect(reads).toHaveLength(1);
    await read(String(11 + MAX_HELD), 1);
    expect(slots(c, 'a')).toBe(1);
  });
});
