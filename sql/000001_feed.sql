-- pgfeed's own objects, all in schema pgfeed: the durable event log, the
-- capture trigger and pgfeed.watch(). Nothing outside the schema is touched;
-- applications attach tables with pgfeed.watch().
-- Design notes (why ids are taken at commit time): docs/ordering.md.

create schema if not exists pgfeed;

create table pgfeed.events (
  id           bigint primary key,
  entity       text        not null,
  op           text        not null check (op in ('insert', 'update', 'delete')),
  company_id   text,
  user_id      text,
  key          text        not null,
  row          jsonb       not null,
  changes      jsonb,
  committed_at timestamptz not null default clock_timestamp()
);
-- Replays page through one company's history in id order.
create index events_company_id_id on pgfeed.events (company_id, id);
-- Pruning finds the newest expired event.
create index events_committed_at on pgfeed.events (committed_at);

create sequence pgfeed.event_id_seq as bigint owned by pgfeed.events.id;

-- Everything up to and including pruned_through has been deleted by retention.
-- A resume from an id below it can no longer be answered and gets a reset.
create table pgfeed.horizon (
  singleton      boolean primary key default true check (singleton),
  pruned_through bigint  not null default 0
);
insert into pgfeed.horizon default values;

-- Tables whose changes become events (filled by pgfeed.watch).
create table pgfeed.watched (
  table_name     regclass primary key,
  entity         text not null unique check (entity ~ '^[a-z][a-z0-9_]*$'),
  company_column text not null,
  user_column    text,
  key_column     text not null
);

-- The NOTIFY channel, named once for sender (capture) and listener.
create function pgfeed.channel() returns text
  language sql immutable parallel safe
  as $$ select 'pgfeed' $$;

-- NOTIFY payloads must be shorter than 8000 bytes; bigger events are sent as
-- {"id": "...", "large": true} and the listener reads them from pgfeed.events.
create function pgfeed.max_payload_bytes() returns int
  language sql immutable parallel safe
  as $$ select 7900 $$;

-- The advisory lock that orders commits of event-writing transactions.
create function pgfeed.commit_lock_key() returns bigint
  language sql immutable parallel safe
  as $$ select 7049221830150011 :: bigint $$;

-- The one wire shape of an event, used for NOTIFY payloads and for reads of
-- the log, so a single decoder handles both.
create function pgfeed.event_json(e pgfeed.events) returns jsonb
  language sql stable parallel safe
  as $$
    select jsonb_build_object(
      'id', e.id::text,
      'entity', e.entity,
      'op', e.op,
      'company_id', e.company_id,
      'user_id', e.user_id,
      'key', e.key,
      'row', e.row,
      'changes', e.changes,
      'committed_at', to_char(e.committed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    )
  $$;

-- Row trigger body. It runs as a DEFERRABLE INITIALLY DEFERRED constraint
-- trigger, i.e. while the transaction commits. It takes the commit-order
-- advisory lock before drawing ids, and transaction-level advisory locks are
-- released only after the commit is visible, so ids are drawn in commit order:
-- a reader that sees id N sees every id below N that will ever exist.
-- TimeZone is pinned so timestamps in rows look the same whoever wrote them.
create function pgfeed.capture() returns trigger
  language plpgsql
  set timezone = 'UTC'
  as $$
#variable_conflict use_variable
declare
  entity      text := tg_argv[0];
  company_col text := tg_argv[1];
  user_col    text := nullif(tg_argv[2], '');
  key_col     text := tg_argv[3];
  new_row     jsonb;
  old_row     jsonb;
  row_json    jsonb;
  diff        jsonb;
  op          text;
  ev          pgfeed.events;
  payload     text;
begin
  if tg_op = 'INSERT' then
    row_json := to_jsonb(new);
    op := 'insert';
  elsif tg_op = 'UPDATE' then
    new_row := to_jsonb(new);
    old_row := to_jsonb(old);
    if new_row = old_row then
      return null; -- an UPDATE that changes nothing is not an event
    end if;
    select jsonb_object_agg(n.key, n.value) into diff
      from jsonb_each(new_row) n
     where old_row -> n.key is distinct from n.value;
    row_json := new_row;
    op := 'update';
  else
    row_json := to_jsonb(old);
    op := 'delete';
  end if;

  perform pg_advisory_xact_lock(pgfeed.commit_lock_key());

  insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes)
  values (
    nextval('pgfeed.event_id_seq'), entity, op,
    row_json ->> company_col,
    case when user_col is null then null else row_json ->> user_col end,
    row_json ->> key_col,
    row_json, diff
  )
  returning * into ev;

  payload := pgfeed.event_json(ev)::text;
  if octet_length(payload) > pgfeed.max_payload_bytes() then
    payload := json_build_object('id', ev.id::text, 'large', true)::text;
  end if;
  perform pg_notify(pgfeed.channel(), payload);
  return null;
end
$$;

-- Attach the capture trigger to any table. Its events carry `entity` (default:
-- the table's name), the company from company_column, the user from
-- user_column (optional) and the row key from key_column.
create function pgfeed.watch(
  table_name     regclass,
  company_column text default 'company_id',
  user_column    text default null,
  key_column     text default 'id',
  entity         text default null
) returns text
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  chosen text := coalesce(entity, (select c.relname from pg_class c where c.oid = table_name));
  col    text;
begin
  -- Already watched exactly so: nothing to do. Every instance calls watch()
  -- for its registered entities at start; this keeps that free of DDL locks.
  if exists (
    select 1 from pgfeed.watched w
     where w.table_name = watch.table_name and w.entity = chosen
       and w.company_column = watch.company_column and w.user_column is not distinct from watch.user_column
       and w.key_column = watch.key_column
  ) and exists (
    select 1 from pg_trigger t where t.tgrelid = watch.table_name and t.tgname = 'pgfeed_capture'
  ) then
    return chosen;
  end if;

  foreach col in array array_remove(array[company_column, user_column, key_column], null) loop
    if not exists (
      select 1 from pg_attribute a
       where a.attrelid = table_name and a.attname = col and a.attnum > 0 and not a.attisdropped
    ) then
      raise exception 'pgfeed.watch: table % has no column "%"', table_name, col
        using errcode = 'undefined_column';
    end if;
  end loop;

  execute format('drop trigger if exists pgfeed_capture on %s', table_name);
  execute format(
    'create constraint trigger pgfeed_capture after insert or update or delete on %s '
    'deferrable initially deferred for each row execute function pgfeed.capture(%L, %L, %L, %L)',
    table_name, chosen, company_column, coalesce(user_column, ''), key_column
  );
  insert into pgfeed.watched (table_name, entity, company_column, user_column, key_column)
  values (table_name, chosen, company_column, user_column, key_column)
  on conflict on constraint watched_pkey do update
    set entity = excluded.entity, company_column = excluded.company_column,
        user_column = excluded.user_column, key_column = excluded.key_column;
  return chosen;
end
$$;

-- Stop producing events for a table.
create function pgfeed.unwatch(table_name regclass) returns void
  language plpgsql
  as $$
begin
  execute format('drop trigger if exists pgfeed_capture on %s', table_name);
  delete from pgfeed.watched w where w.table_name = unwatch.table_name;
end
$$;
