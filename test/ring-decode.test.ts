import { DecodeError, camelCase, parseNotification, toChangeEvent } from '../src/events/decode';
import { DOMAIN_ENTITIES } from '../src/domain/entities';
import { EntityRegistry } from '../src/events/entity';
import { MAX_POSITION, parsePosition } from '../src/events/position';
import { RingBuffer } from '../src/events/ring';

type Item = { position: bigint; bytes: number };
const item = (position: number, bytes = 10): Item => ({ position: BigInt(position), bytes });
const positions = (items: Item[] | undefined) => items?.map((i) => Number(i.position));
const entities = new EntityRegistry(DOMAIN_ENTITIES);

describe('RingBuffer', () => {
  test('answers resumes from its floor up to its head, and nothing older', () => {
    const ring = new RingBuffer<Item>(3, 10n);
    expect(positions(ring.after(10n))).toEqual([]);
    for (const s of [11, 13, 14]) ring.push(item(s));
    expect(positions(ring.after(10n))).toEqual([11, 13, 14]);
    expect(positions(ring.after(13n))).toEqual([14]);
    ring.push(item(20)); // evicts 11: the floor moves to 11
    expect(ring.floor).toBe(11n);
    expect(ring.after(10n)).toBeUndefined();
    expect(positions(ring.after(11n))).toEqual([13, 14, 20]);
    expect(ring.after(21n)).toBeUndefined();
    expect(ring.knows(13n)).toBe(true);
    expect(ring.knows(12n)).toBe(false); // a gap: never an event
    expect(ring.knows(11n)).toBe(true); // the floor
    expect(ring.head).toBe(20n);
  });

  test('wraps around many times and keeps order', () => {
    const ring = new RingBuffer<Item>(5, 0n);
    for (let p = 1; p <= 103; p++) ring.push(item(p));
    expect(positions(ring.after(98n))).toEqual([99, 100, 101, 102, 103]);
    expect(positions(ring.after(100n))).toEqual([101, 102, 103]);
    expect(ring.size).toBe(5);
  });

  test('is bounded in bytes: the oldest go first, and a huge event keeps its place but not its body', () => {
    const ring = new RingBuffer<Item>(100, 0n, 1000);
    for (let p = 1; p <= 10; p++) ring.push(item(p, 100));
    expect(ring.bytes).toBe(1000);
    ring.push(item(11, 100)); // over the budget: event 1 goes
    expect(ring.floor).toBe(1n);
    expect(ring.bytes).toBe(1000);
    expect(positions(ring.after(5n))).toEqual([6, 7, 8, 9, 10, 11]);
    ring.push(item(12, 600)); // over an eighth of the budget: held as a place only, evicting nothing
    expect(ring.bytes).toBe(1000);
    expect(ring.head).toBe(12n);
    expect(ring.after(11n)).toBeUndefined(); // a resume across it is left to the log
    expect(ring.after(12n)).toEqual([]);
    ring.push(item(13, 100));
    expect(positions(ring.after(12n))).toEqual([13]);
  });

  test('refuses ids that do not increase', () => {
    const ring = new RingBuffer<Item>(2, 5n);
    expect(() => ring.push(item(5))).toThrow(RangeError);
    ring.push(item(6));
    expect(() => ring.push(item(6))).toThrow(RangeError);
  });
});

describe('decoder', () => {
  const wire = {
    id: '42',
    entity: 'trip',
    op: 'update',
    company_id: 'acme',
    user_id: null,
    key: 't1',
    row: {
      id: 't1',
      company_id: 'acme',
      route: 'A',
      departs_at: '2026-12-24T08:00:00+00:00',
      capacity: 10,
      available_slots: 9,
      booking_halted: false,
      updated_at: '2026-11-22T10:00:00+00:00',
    },
    changes: { available_slots: 9 },
    committed_at: '2026-11-22T10:00:00.123Z',
  };

  test('turns a payload into a typed, camelCase event', () => {
    const parsed = parseNotification(JSON.stringify(wire));
    expect(toChangeEvent(parsed, entities)).toEqual({
      id: '42',
      type: 'trip.updated',
      entity: 'trip',
      op: 'update',
      companyId: 'acme',
      userId: null,
      key: 't1',
      row: {
        id: 't1',
        companyId: 'acme',
        route: 'A',
        departsAt: '2026-12-24T08:00:00+00:00',
        capacity: 10,
        availableSlots: 9,
        bookingHalted: false,
        updatedAt: '2026-11-22T10:00:00+00:00',
      },
      changes: { availableSlots: 9 },
      committedAt: '2026-11-22T10:00:00.123Z',
    });
    expect(camelCase('checked_out_at')).toBe('checkedOutAt');
  });

  test('recognises the large-event hint', () => {
    expect(parseNotification('{"id":"7","large":true}')).toEqual({ id: '7', large: true });
  });

  test.each([
    ['not JSON', 'nope'],
    ['no id', JSON.stringify({ ...wire, id: undefined })],
    ['a bad op', JSON.stringify({ ...wire, op: 'upsert' })],
    ['a non-numeric id', JSON.stringify({ ...wire, id: '4a' })],
  ])('rejects %s with a DecodeError', (_name, text) => {
    expect(() => toChangeEvent(parseNotification(text), entities)).toThrow(DecodeError);
  });

  test('rejects a registered entity whose row does not fit its schema', () => {
    expect(() => toChangeEvent({ ...wire, row: { ...wire.row, capacity: 'ten' } }, entities)).toThrow(/capacity/);
  });

  test('passes rows of watched tables through as they are', () => {
    const e = toChangeEvent(
      { ...wire, entity: 'invoices', row: { id: 'i', amount_cents: 5 }, changes: null, op: 'insert' },
      entities,
    );
    expect(e).toMatchObject({ type: 'invoices.created', row: { id: 'i', amountCents: 5 } });
  });
});

describe('positions', () => {
  test('parse decimal ids that fit a bigint, and nothing else', () => {
    expect(parsePosition('0')).toBe(0n);
    expect(parsePosition('42')).toBe(42n);
    expect(parsePosition('9223372036854775807')).toBe(MAX_POSITION);
    for (const bad of ['', '-1', '01', '4a', ' 4', '1e3', '9223372036854775808', '99999999999999999999']) {
      expect(parsePosition(bad)).toBeUndefined();
    }
  });
});
