-- The demo domain: companies, their users, trips and bookings, stock and
-- checkouts. pgfeed watches these tables because the domain registers them as
-- entities (src/domain/entities.ts); this file knows nothing of pgfeed.

create function touch_updated_at() returns trigger
  language plpgsql
  as $$
begin
  -- Only a real change moves updated_at, so a no-op UPDATE stays a no-op.
  if new is distinct from old then
    new.updated_at := now();
  end if;
  return new;
end
$$;

create table companies (
  id   text primary key default gen_random_uuid()::text,
  name text not null
);

create table users (
  id         text primary key default gen_random_uuid()::text,
  company_id text not null references companies (id),
  role       text not null check (role in ('admin', 'cashier', 'customer')),
  name       text not null
);
create index users_company_id on users (company_id);

create table trips (
  id              text primary key default gen_random_uuid()::text,
  company_id      text        not null references companies (id),
  route           text        not null,
  departs_at      timestamptz not null,
  capacity        int         not null check (capacity >= 0),
  available_slots int         not null,
  booking_halted  boolean     not null default false,
  updated_at      timestamptz not null default now(),
  constraint trips_available_slots_range check (available_slots between 0 and capacity)
);
create index trips_company_id on trips (company_id, departs_at);
create trigger touch_updated_at before update on trips
  for each row execute function touch_updated_at();

create table bookings (
  id         text primary key default gen_random_uuid()::text,
  trip_id    text        not null references trips (id),
  company_id text        not null references companies (id),
  user_id    text        references users (id),
  seats      int         not null check (seats > 0),
  channel    text        not null check (channel in ('cashier', 'online')),
  status     text        not null default 'confirmed' check (status in ('confirmed', 'cancelled')),
  created_at timestamptz not null default now()
);
create index bookings_company_id on bookings (company_id, created_at);
create index bookings_trip_id on bookings (trip_id);

create table stock_items (
  id         text primary key default gen_random_uuid()::text,
  company_id text        not null references companies (id),
  sku        text        not null,
  name       text        not null,
  quantity   int         not null check (quantity >= 0),
  reserved   int         not null default 0,
  updated_at timestamptz not null default now(),
  constraint stock_items_reserved_range check (reserved between 0 and quantity),
  unique (company_id, sku)
);
create trigger touch_updated_at before update on stock_items
  for each row execute function touch_updated_at();

create table checkouts (
  id             text primary key default gen_random_uuid()::text,
  company_id     text        not null references companies (id),
  user_id        text        not null references users (id),
  item_id        text        not null references stock_items (id),
  status         text        not null default 'checked_out' check (status in ('checked_out', 'returned')),
  checked_out_at timestamptz not null default now(),
  due_at         timestamptz,
  returned_at    timestamptz
);
create index checkouts_company_id on checkouts (company_id, checked_out_at);
