-- pgfeed's own objects, all in schema pgfeed: the durable event log, the two
-- capture paths (row triggers, logical replication) and pgfeed.watch().
-- Nothing outside the schema is touched; applications attach tables with
-- pgfeed.watch(). Each object is defined once, here (the development history
-- 000001_feed .. 000005_prune_by_id was folded into this file before 0.2.0;
-- a database migrated by it is refused, see src/db/migrate.ts).
-- Design notes: docs/ordering.md (why ids are drawn at commit, under one
-- lock), docs/architecture.md (capture), docs/schema-changes.md (DDL on
-- watched tables).

create schema if not exists pgfeed;

-- op: insert, update, delete (a row changed); truncate (a watched table was
-- truncated; wal mode only, row triggers never see it) and reset (the log
-- misses changes: the slot was lost and re-created). The last two belong to
-- no company and reach every stream.
create table pgfeed.events (
  id           bigint primary key,
  entity       text        not null,
  op           text        not null check (op in ('insert', 'update', 'delete', 'truncate', 'reset')),
  company_id   text,
  user_id      text,
  key          text        not null,
  row          jsonb       not null,
  changes      jsonb,
  committed_at timestamptz not null default clock_timestamp()
);
-- Replays page through one company's history in id order.
create index events_company_id_id on pgfeed.events (company_id, id);
-- Replays of one company read these beside its own events.
create index events_broadcast on pgfeed.events (id) where company_id is null and op in ('truncate', 'reset');
-- No index on committed_at: pruning walks the primary key from the oldest
-- event (ids follow commit order, so what has expired is a prefix of the log)
-- and every captured change would pay for one more index entry.

create sequence pgfeed.event_id_seq as bigint owned by pgfeed.events.id;

-- Everything up to and including pruned_through has been deleted by retention.
-- A resume from an id below it can no longer be answered and gets a reset.
create table pgfeed.horizon (
  singleton      boolean primary key default true check (singleton),
  pruned_through bigint  not null default 0
);
insert into pgfeed.horizon default values;

-- Tables whose changes become events (filled by pgfeed.watch). The columns
-- are kept by name (what watch() was given) and by number: a column renamed
-- later keeps its number, so its changes still find their key and scope.
create table pgfeed.watched (
  table_name     regclass primary key,
  entity         text not null unique check (entity ~ '^[a-z][a-z0-9_]*$'),
  company_column text not null,
  user_column    text,
  key_column     text not null,
  company_attnum smallint not null,
  user_attnum    smallint,
  key_attnum     smallint not null
);

-- How changes reach the log, and how far the WAL capturer has applied the
-- slot. mode: null until the first instance starts (it claims its CAPTURE);
-- afterwards only pgfeed.set_capture() changes it, and an instance with
-- another CAPTURE refuses to start. Position (applied_lsn, applied_seq):
-- every change of a transaction committed at an LSN below applied_lsn, and
-- the first applied_seq changes of the one at applied_lsn, are in the log
-- (2147483647: all of them).
create table pgfeed.capture_state (
  singleton   boolean     primary key default true check (singleton),
  mode        text        check (mode in ('trigger', 'wal')),
  applied_lsn pg_lsn      not null default '0/0',
  applied_seq int         not null default 0,
  -- Commit time of the newest transaction applied: capture lag in seconds.
  applied_at  timestamptz
);
insert into pgfeed.capture_state default values;

-- The NOTIFY channel, named once for sender (capture) and listener.
create function pgfeed.channel() returns text
  language sql immutable parallel safe
  as $$ select 'pgfeed' $$;

-- The channel that announces a change to what is watched (watch, unwatch,
-- public columns, ALTER TABLE of a watched table), named once for sender and
-- listener. Every instance LISTENs it on its listener connection and reads
-- its catalog of watched tables again, instead of polling it; the payload
-- (the table) is only a hint. NOTIFY is sent at commit, so the read sees it.
create function pgfeed.catalog_channel() returns text
  language sql immutable parallel safe
  as $$ select 'pgfeed_catalog' $$;

create function pgfeed.catalog_changed(table_name regclass) returns void
  language sql
  as $$ select pg_notify(pgfeed.catalog_channel(), table_name::text) $$;

-- NOTIFY payloads must be shorter than 8000 bytes; bigger events are sent as
-- {"id": "...", "large": true} and the listener reads them from pgfeed.events.
create function pgfeed.max_payload_bytes() returns int
  language sql immutable parallel safe
  as $$ select 7900 $$;

-- The publication watched tables join in wal mode (named once, here).
create function pgfeed.publication() returns text
  language sql immutable parallel safe
  as $$ select 'pgfeed_capture' $$;

-- The advisory lock that orders every drawing of event ids.
create function pgfeed.commit_lock_key() returns bigint
  language sql immutable parallel safe
  as $$ select 7049221830150011 :: bigint $$;

-- The one ordering lock. Every path that draws event ids (the capture
-- trigger, the WAL capturer's append, the gap record) takes it first, in the
-- transaction that commits the events, and keeps it to commit: ids are drawn
-- in commit order whichever path drew them, also while a database switches
-- capture mode. See docs/ordering.md.
create function pgfeed.lock_commit_order() returns void
  language sql
  as $$ select pg_advisory_xact_lock(pgfeed.commit_lock_key()) $$;

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

-- The current names of a watched table's company, user and key columns,
-- found by number (null: the column was dropped).
create function pgfeed.current_columns(
  t regclass, out cur_company text, out cur_user text, out cur_key text
) returns record
  language sql stable
  as $$
    select (select a.attname::text from pg_attribute a
             where a.attrelid = w.table_name and a.attnum = w.company_attnum and not a.attisdropped),
           (select a.attname::text from pg_attribute a
             where a.attrelid = w.table_name and a.attnum = w.user_attnum and not a.attisdropped),
           (select a.attname::text from pg_attribute a
             where a.attrelid = w.table_name and a.attnum = w.key_attnum and not a.attisdropped)
      from pgfeed.watched w where w.table_name = t
  $$;

-- True for the types whose values a row's JSON holds as PostgreSQL's exact
-- text: bigint and numeric, domains over them, and arrays of any of these
-- (nested too), whose elements are then that text. As JSON numbers they would
-- be inexact past 2^53 - 1 in JavaScript, and numeric would lose its scale
-- (12.50 read as 12.5). Through domains and array element types, as
-- PostgreSQL's getBaseType does, to any depth.
create function pgfeed.exact_type(typ oid) returns boolean
  language sql stable
  as $$
    with recursive t(oid) as (
      select typ
      union all
      select case when p.typtype = 'd' then p.typbasetype else p.typelem end
        from t join pg_type p on p.oid = t.oid
       where p.typtype = 'd' or (p.typcategory = 'A' and p.typelem <> 0)
    )
    select exists (select 1 from t where t.oid in ('int8'::regtype, 'numeric'::regtype))
  $$;

-- The columns of a table of an exact type (pgfeed.exact_type). Worked out
-- once per table, not per row: the capture trigger gets the list as its
-- fifth argument (pgfeed.attach), kept current by pgfeed.on_alter_table; the
-- WAL path reads the types from the relation description
-- (pgfeed.wal_row_expr); snapshots once per query.
create function pgfeed.exact_columns(table_name regclass) returns text[]
  language sql stable
  as $$
    select coalesce(array_agg(a.attname::text order by a.attnum), '{}')
      from pg_attribute a
     where a.attrelid = table_name and a.attnum > 0 and not a.attisdropped and pgfeed.exact_type(a.atttypid)
  $$;

-- An array of bigint/numeric values as to_jsonb() gives it (JSON numbers,
-- nested for more dimensions, null elements) with each number replaced by
-- its exact text. jsonb prints a numeric as numeric_out does (never with an
-- exponent), and the only strings such an array holds are "NaN" and
-- "[-]Infinity", which contain no digit: quoting every number of its text is
-- exact, and much cheaper per row than rebuilding it element by element.
-- Inlined where it is called (one expression, immutable, not strict).
create function pgfeed.exact_array(a jsonb) returns jsonb
  language sql immutable
  as $$ select regexp_replace(a::text, '(-?[0-9][0-9.]*)', '"\1"', 'g')::jsonb $$;

-- `r` (a to_jsonb() row) with the listed columns' numbers replaced by their
-- exact text. jsonb keeps a numeric exactly (scale included): ->> gives the
-- text PostgreSQL prints. NaN and Infinity are JSON strings already.
create function pgfeed.exact_row(r jsonb, columns text[]) returns jsonb
  language sql immutable
  as $$
    select r || coalesce((select jsonb_object_agg(c, case jsonb_typeof(r -> c)
                                                      when 'number' then to_jsonb(r ->> c)
                                                      else pgfeed.exact_array(r -> c) end)
                            from unnest(columns) c
                           where jsonb_typeof(r -> c) in ('number', 'array')), '{}'::jsonb)
  $$;

-- Writes one event to the log and NOTIFYs it (the trigger path). Callers
-- hold the ordering lock. A key column that is gone gives the key '' rather
-- than failing the writer's transaction.
create function pgfeed.append(
  entity text, op text, row_json jsonb, diff jsonb, company_col text, user_col text, key_col text
) returns void
  language plpgsql
  as $$
declare
  ev      pgfeed.events;
  payload text;
begin
  insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes)
  values (
    nextval('pgfeed.event_id_seq'), entity, op,
    row_json ->> company_col,
    case when user_col is null then null else row_json ->> user_col end,
    coalesce(row_json ->> key_col, ''),
    row_json, diff
  )
  returning * into ev;
  payload := pgfeed.event_json(ev)::text;
  if octet_length(payload) > pgfeed.max_payload_bytes() then
    payload := json_build_object('id', ev.id::text, 'large', true)::text;
  end if;
  perform pg_notify(pgfeed.channel(), payload);
end
$$;

-- The capture trigger's body (CAPTURE=trigger). It runs as a DEFERRABLE
-- INITIALLY DEFERRED constraint trigger, i.e. while the transaction commits.
-- It takes the ordering lock before drawing ids, and transaction-level
-- advisory locks are released only after the commit is visible, so ids are
-- drawn in commit order: a reader that sees id N sees every id below N that
-- will ever exist. TimeZone is pinned so timestamps in rows look the same
-- whoever wrote them.
--
-- A row whose company, user or key changes leaves its old scope and enters
-- the new one: a delete (the row before, with the old company, user and key)
-- and then a create (the row after, with the new ones), each its own event.
--
-- It never fails the application's write because of a schema change: the
-- row is to_jsonb() of the row as it is (columns added, dropped or retyped
-- are simply there or not), and a watched column renamed since watch() is
-- found by its number.
create function pgfeed.capture_row() returns trigger
  language plpgsql
  set timezone = 'UTC'
  as $$
#variable_conflict use_variable
declare
  entity      text := tg_argv[0];
  company_col text := tg_argv[1];
  user_col    text := nullif(tg_argv[2], '');
  key_col     text := tg_argv[3];
  exact       text[] := coalesce(tg_argv[4], '{}')::text[]; -- pgfeed.exact_columns at attach
  col         text;
  new_row     jsonb;
  old_row     jsonb;
  any_row     jsonb;
  diff        jsonb;
begin
  if tg_op <> 'DELETE' then new_row := to_jsonb(new); end if;
  if tg_op <> 'INSERT' then old_row := to_jsonb(old); end if;
  if cardinality(exact) > 0 then
    -- A bigint/numeric column renamed or dropped since attach: the list is
    -- stale until pgfeed.on_alter_table re-attaches; read it from the catalog.
    if not (coalesce(new_row, old_row) ?& exact) then
      exact := pgfeed.exact_columns(tg_relid);
    end if;
    -- As pgfeed.exact_row does, in simple expressions: a SQL function call
    -- here costs an executor start per row (measured: about +50 % per write).
    foreach col in array exact loop
      case jsonb_typeof(new_row -> col)
        when 'number' then new_row := jsonb_set(new_row, array[col], to_jsonb(new_row ->> col));
        when 'array' then new_row := jsonb_set(new_row, array[col], pgfeed.exact_array(new_row -> col));
        else null;
      end case;
      case jsonb_typeof(old_row -> col)
        when 'number' then old_row := jsonb_set(old_row, array[col], to_jsonb(old_row ->> col));
        when 'array' then old_row := jsonb_set(old_row, array[col], pgfeed.exact_array(old_row -> col));
        else null;
      end case;
    end loop;
  end if;
  if tg_op = 'UPDATE' and new_row = old_row then
    return null; -- an UPDATE that changes nothing is not an event
  end if;
  -- The trigger's column names are stale when a watched column was renamed
  -- (or dropped) after watch(): look them up by number. A dropped company
  -- column leaves the event without a company, which the listener skips loudly.
  any_row := coalesce(new_row, old_row);
  if not (any_row ? key_col and any_row ? company_col and (user_col is null or any_row ? user_col)) then
    select c.cur_company, c.cur_user, c.cur_key into company_col, user_col, key_col
      from pgfeed.current_columns(tg_relid) c;
  end if;
  -- Taken before any id is drawn: see docs/ordering.md.
  perform pgfeed.lock_commit_order();
  if tg_op = 'INSERT' then
    perform pgfeed.append(entity, 'insert', new_row, null, company_col, user_col, key_col);
  elsif tg_op = 'DELETE' then
    perform pgfeed.append(entity, 'delete', old_row, null, company_col, user_col, key_col);
  else
    if new_row ->> company_col is distinct from old_row ->> company_col
       or new_row ->> key_col is distinct from old_row ->> key_col
       or (user_col is not null and new_row ->> user_col is distinct from old_row ->> user_col) then
      perform pgfeed.append(entity, 'delete', old_row, null, company_col, user_col, key_col);
      perform pgfeed.append(entity, 'insert', new_row, null, company_col, user_col, key_col);
      return null;
    end if;
    select jsonb_object_agg(n.key, n.value) into diff
      from jsonb_each(new_row) n
     where old_row -> n.key is distinct from n.value;
    perform pgfeed.append(entity, 'update', new_row, diff, company_col, user_col, key_col);
  end if;
  return null;
end
$$;

-- Puts one watched table on the current capture path: the capture trigger in
-- trigger mode; in wal mode the publication, with REPLICA IDENTITY FULL so
-- updates carry the old row (changes, scope moves) and deletes the whole row.
-- Before any instance has claimed a mode, nothing: the claim attaches every
-- watched table (pgfeed.set_capture).
create function pgfeed.attach(table_name regclass) returns void
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  w    pgfeed.watched;
  mode text := (select c.mode from pgfeed.capture_state c);
  pub  text := pgfeed.publication();
begin
  select * into strict w from pgfeed.watched x where x.table_name = attach.table_name;
  if mode is null then
    return;
  elsif mode = 'wal' then
    if exists (select 1 from pg_attribute a where a.attrelid = table_name and a.attgenerated <> '' and not a.attisdropped) then
      raise exception 'pgfeed.watch: table % has generated columns, which CAPTURE=wal cannot stream (pgoutput leaves them out)', table_name
        using errcode = 'feature_not_supported';
    end if;
    execute format('drop trigger if exists pgfeed_capture on %s', table_name);
    if (select c.relreplident from pg_class c where c.oid = table_name) <> 'f' then
      execute format('alter table %s replica identity full', table_name);
    end if;
    if not exists (select 1 from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
                    where p.pubname = pub and r.prrelid = table_name) then
      execute format('alter publication %I add table %s', pub, table_name);
    end if;
  else
    if exists (select 1 from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
                where p.pubname = pub and r.prrelid = table_name) then
      execute format('alter publication %I drop table %s', pub, table_name);
    end if;
    execute format('drop trigger if exists pgfeed_capture on %s', table_name);
    execute format(
      'create constraint trigger pgfeed_capture after insert or update or delete on %s '
      'deferrable initially deferred for each row execute function pgfeed.capture_row(%L, %L, %L, %L, %L)',
      table_name, w.entity, w.company_column, coalesce(w.user_column, ''), w.key_column, pgfeed.exact_columns(table_name)
    );
  end if;
end
$$;

-- True when the table is attached to the current capture path as watched.
create function pgfeed.attached(table_name regclass) returns boolean
  language sql stable
  as $$
    select case (select mode from pgfeed.capture_state)
      when 'wal' then
        not exists (select 1 from pg_trigger t where t.tgrelid = table_name and t.tgname = 'pgfeed_capture')
        and (select relreplident from pg_class where oid = table_name) = 'f'
        and exists (select 1 from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
                     where p.pubname = pgfeed.publication() and r.prrelid = table_name)
      -- The trigger's fifth argument must still be the table's bigint/numeric columns (a column retyped since).
      when 'trigger' then exists (select 1 from pg_trigger t where t.tgrelid = table_name and t.tgname = 'pgfeed_capture'
                                     and split_part(encode(t.tgargs, 'escape'), '\000', 5)
                                         = replace(pgfeed.exact_columns(table_name)::text, '\', '\\'))
      else true -- no mode claimed yet: the claim attaches it
    end
  $$;

-- Streams a table's changes. Its events carry `entity` (default: the table's
-- name), the company from company_column, the user from user_column
-- (optional) and the row key from key_column.
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
  num    smallint[];
begin
  -- Already watched exactly so: nothing to do. Every instance calls watch()
  -- for its registered entities at start; this keeps that free of DDL locks.
  if exists (
    select 1 from pgfeed.watched w
     where w.table_name = watch.table_name and w.entity = chosen
       and w.company_column = watch.company_column and w.user_column is not distinct from watch.user_column
       and w.key_column = watch.key_column
  ) and pgfeed.attached(table_name) then
    return chosen;
  end if;

  foreach col in array array[company_column, user_column, key_column] loop
    num := num || (select a.attnum from pg_attribute a
                    where a.attrelid = table_name and a.attname = col and a.attnum > 0 and not a.attisdropped);
    if col is not null and num[cardinality(num)] is null then
      raise exception 'pgfeed.watch: table % has no column "%"', table_name, col
        using errcode = 'undefined_column';
    end if;
  end loop;

  insert into pgfeed.watched (table_name, entity, company_column, user_column, key_column, company_attnum, user_attnum, key_attnum)
  values (table_name, chosen, company_column, user_column, key_column, num[1], num[2], num[3])
  on conflict on constraint watched_pkey do update
    set entity = excluded.entity, company_column = excluded.company_column,
        user_column = excluded.user_column, key_column = excluded.key_column,
        company_attnum = excluded.company_attnum, user_attnum = excluded.user_attnum, key_attnum = excluded.key_attnum;
  perform pgfeed.attach(table_name);
  perform pgfeed.catalog_changed(table_name);
  return chosen;
end
$$;

-- Stop producing events for a table.
create function pgfeed.unwatch(table_name regclass) returns void
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  pub text := pgfeed.publication();
begin
  execute format('drop trigger if exists pgfeed_capture on %s', table_name);
  if exists (select 1 from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
              where p.pubname = pub and r.prrelid = table_name) then
    execute format('alter publication %I drop table %s', pub, table_name);
  end if;
  delete from pgfeed.watched w where w.table_name = unwatch.table_name;
  perform pgfeed.catalog_changed(table_name);
end
$$;

-- After ALTER TABLE on a watched table: announces it (its columns are in the
-- catalog every instance holds), and in trigger mode re-attaches the
-- capture trigger when its list of bigint/numeric columns (its fifth
-- argument) no longer matches the table: a column retyped to or from bigint
-- or numeric comes out right from the next row on, with no per-row catalog
-- lookup. It never fails the operator's ALTER (a warning instead). Event
-- triggers need a superuser: without one it is not created, and a retyped
-- column needs `select pgfeed.watch(...)` again (each instance's start does
-- it for registered entities). Security definer: whoever runs the ALTER need
-- not see schema pgfeed.
create function pgfeed.on_alter_table() returns event_trigger
  language plpgsql
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  t regclass;
begin
  for t in
    select distinct w.table_name from pg_event_trigger_ddl_commands() d
      join pgfeed.watched w on w.table_name::oid = d.objid
     where d.classid = 'pg_class'::regclass
  loop
    perform pgfeed.catalog_changed(t);
    if (select c.mode from pgfeed.capture_state c) = 'trigger' and not pgfeed.attached(t) then
      perform pgfeed.attach(t);
    end if;
  end loop;
exception when others then
  raise warning 'pgfeed: could not refresh the capture trigger after ALTER TABLE: % (%)', sqlerrm, sqlstate;
end
$$;

do $$
begin
  if (select r.rolsuper from pg_roles r where r.rolname = current_user) then
    create event trigger pgfeed_alter_table on ddl_command_end
      when tag in ('ALTER TABLE') execute function pgfeed.on_alter_table();
  end if;
end
$$;

-- Switches the database's capture mode, moving every watched table to that
-- path in one transaction: the explicit step of docs/operations.md ("Switching
-- capture mode"; `pgfeed capture-mode`). Writers of a table wait for its
-- switch (ALTER TABLE locks it), so each transaction is captured by exactly
-- one path. For 'wal' the publication and the slot must exist first (the
-- command creates them, in that order).
create function pgfeed.set_capture(mode text) returns void
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  t regclass;
begin
  if mode is null or mode not in ('trigger', 'wal') then
    raise exception 'pgfeed.set_capture: mode must be ''trigger'' or ''wal'', not %', coalesce(quote_literal(mode), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if (select c.mode from pgfeed.capture_state c for update) is not distinct from mode then
    return;
  end if;
  update pgfeed.capture_state c set mode = set_capture.mode;
  for t in select w.table_name from pgfeed.watched w order by w.table_name loop
    perform pgfeed.attach(t);
  end loop;
end
$$;

-- What every instance calls at start: the database's capture mode. The first
-- instance on a database claims its own; later ones are told the mode and
-- refuse to start if theirs differs.
create function pgfeed.claim_capture(mode text) returns text
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  current text := (select c.mode from pgfeed.capture_state c for update);
begin
  if current is null then
    perform pgfeed.set_capture(mode);
    return mode;
  end if;
  return current;
end
$$;

-- The conversion of one row as the WAL capturer sends it (a JSON array of
-- the column values as text, `src`) to the jsonb to_jsonb() gives of the
-- row, by the relation description pgoutput sent for that change (`shape`:
-- [[name, type oid, typmod], ...]) and not by the table's current definition,
-- so a change decoded after ALTER TABLE still looks as it did at commit. A
-- type dropped since is read as text. jsonb_build_object takes at most 100
-- arguments: 50 columns per call.
create function pgfeed.wal_row_expr(shape jsonb, src text) returns text
  language sql stable
  as $$
    select format('case when %s is null then null else %s end', src, coalesce(string_agg(chunk, ' || '), '''{}''::jsonb'))
      from (
        select 'jsonb_build_object(' || string_agg(
                 case when (c ->> 1)::oid in ('text'::regtype, 'varchar'::regtype)
                        -- bigint, numeric and domains over them: their exact text (pgfeed.exact_type).
                        or (t.typcategory <> 'A' and pgfeed.exact_type(t.oid))
                      -- Already the JSON string to_jsonb() makes of it (or JSON null): no cast needed.
                      then format('%L, %s -> %s', c ->> 0, src, i - 1)
                      -- Arrays of them: read as text[], each element keeps its exact text, nesting and nulls.
                      when t.typcategory = 'A' and pgfeed.exact_type(t.oid)
                      then format('%L, to_jsonb((%s ->> %s)::text[])', c ->> 0, src, i - 1)
                      else format('%L, to_jsonb((%s ->> %s)::%s)', c ->> 0, src, i - 1,
                                  coalesce(format_type(t.oid, nullif((c ->> 2)::int, -1)), 'text'))
                 end,
                 ', ' order by i) || ')' as chunk
          from jsonb_array_elements(shape) with ordinality as x(c, i)
          left join pg_type t on t.oid = (c ->> 1)::oid
         group by (i - 1) / 50
      ) chunks
  $$;

-- The WAL capturer's append: one call per batch of decoded changes, in commit
-- order. Under the ordering lock it drops what the log already holds (a
-- replay after a crash, or a capturer that lost the slot racing its
-- successor), draws ids for the rest in order, writes the events, moves the
-- applied position and sends one NOTIFY.
--
-- Only the row conversion is built per batch (it names the column types); the
-- rest is a static statement whose plan PL/pgSQL keeps for the session, and
-- each row is converted once.
--
-- with_events: also return the events written (a JSON array in id order, as
-- pgfeed.event_json writes them), so the capturing instance emits them to its
-- own clients as soon as the append commits, without waiting for its own
-- NOTIFY or reading them back from the log. The other instances learn of
-- them through the NOTIFY and the log.
--
-- A watched column renamed since watch() is found by number, as the trigger
-- does, for the changes decoded with the new name.
create function pgfeed.wal_append_events(
  lsns      pg_lsn[],      -- commit LSN of each change's transaction
  seqs      int[],         -- the change's number within its transaction (1, 2, ...)
  rels      oid[],         -- the table
  shapes    int[],         -- which of `columns` describes the change's rows (1, 2, ...)
  ops       text[],        -- insert, update, delete, truncate
  new_rows  text[],        -- the new row (insert, update): a JSON array of column values as text
  old_rows  text[],        -- the old row (update, delete), alike
  times     timestamptz[], -- commit time of the change's transaction
  columns   jsonb,         -- the relation descriptions: [[[name, type oid, typmod], ...], ...]
  done_lsn  pg_lsn,        -- the position once this batch is applied
  done_seq  int,
  done_at   timestamptz,
  with_events boolean
) returns table (
  last_id   bigint,        -- the newest id written, or null
  appended  text           -- with_events: the events written, a JSON array in id order (null when none)
)
  language plpgsql
  set timezone = 'UTC'
  as $$
declare
  st        pgfeed.capture_state;
  conv_new  text;
  conv_old  text;
  new_json  jsonb[];
  old_json  jsonb[];
  first_id  bigint;
  written   bigint;
  payload   text;
begin
  perform pgfeed.lock_commit_order();
  select * into st from pgfeed.capture_state;
  if (done_lsn, done_seq) <= (st.applied_lsn, st.applied_seq) then
    return query select null::bigint, null::text;
    return;
  end if;

  select string_agg(format('when %s then %s', s.i, pgfeed.wal_row_expr(s.shape, 'u.n')), ' '),
         string_agg(format('when %s then %s', s.i, pgfeed.wal_row_expr(s.shape, 'u.o')), ' ')
    into conv_new, conv_old
    from jsonb_array_elements(columns) with ordinality as s(shape, i)
   where s.i in (select distinct x from unnest(shapes) x);
  if conv_new is not null then
    execute 'select array_agg(case u.s ' || conv_new || ' end order by u.i), '
         || 'array_agg(case u.s ' || conv_old || ' end order by u.i) '
         || 'from (select s, n::jsonb as n, o::jsonb as o, i '
         || 'from unnest($1::int[], $2::text[], $3::text[]) with ordinality as x(s, n, o, i)) u'
      into new_json, old_json
      using shapes, new_rows, old_rows;
  end if;

  -- A batch that only moves the position (a pgfeed.sync message, or a change
  -- skipped as uncapturable) draws no id: ids without gaps let the capturing
  -- instance take its next append's events directly (see Listener.deliverOwn).
  if cardinality(lsns) > 0 then
    first_id := nextval('pgfeed.event_id_seq');
  end if;
  with tables as materialized (
    select w.table_name, w.entity, w.company_column, w.user_column, w.key_column, c.*
      from pgfeed.watched w, pgfeed.current_columns(w.table_name) c
     where w.table_name::oid = any(rels)
  ),
  changes as (
    select u.i, u.op, u.at, u.n, u.o, t.entity,
           case when coalesce(u.n, u.o) ? t.company_column then t.company_column else t.cur_company end as cc,
           case when t.user_column is null then null
                when coalesce(u.n, u.o) ? t.user_column then t.user_column else t.cur_user end as uc,
           case when coalesce(u.n, u.o) ? t.key_column then t.key_column else t.cur_key end as kc
      from unnest(lsns, seqs, rels, ops, times, new_json, old_json) with ordinality as u(lsn, seq, r, op, at, n, o, i)
      join tables t on t.table_name = u.r
     where (u.lsn, u.seq) > (st.applied_lsn, st.applied_seq)
       and not (u.op = 'update' and u.n = u.o)           -- an UPDATE that changes nothing is not an event
  ),
  moved as (
    select *, (n ->> cc) is distinct from (o ->> cc)
              or (n ->> kc) is distinct from (o ->> kc)
              or (uc is not null and (n ->> uc) is distinct from (o ->> uc)) as scope_changed
      from changes
  ),
  events as (
    -- A row that leaves its company, user or key is a delete in the old scope
    -- and a create in the new one.
    select i, 1 as sub, 'delete' as op, at, entity, cc, uc, kc, o as row, null::jsonb as diff
      from moved where op = 'delete' or (op = 'update' and scope_changed)
    union all
    select i, 2, 'insert', at, entity, cc, uc, kc, n, null
      from moved where op = 'insert' or (op = 'update' and scope_changed)
    union all
    select i, 1, 'update', at, entity, cc, uc, kc, n,
           (select jsonb_object_agg(e.key, e.value) from jsonb_each(n) e where o -> e.key is distinct from e.value)
      from moved where op = 'update' and not scope_changed
    union all
    select i, 1, 'truncate', at, entity, cc, uc, kc, '{}'::jsonb, null
      from moved where op = 'truncate'
  ),
  ins as (
    insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes, committed_at)
    select first_id + row_number() over (order by i, sub) - 1, entity, op,
           case when op = 'truncate' then null else row ->> cc end,
           case when uc is null or op = 'truncate' then null else row ->> uc end,
           coalesce(row ->> kc, ''), row, diff, at
      from events
    returning id
  )
  select count(*), max(ins.id) into written, last_id from ins;
  if with_events and written > 0 then
    -- As EventLog.readAfter reads them (measured: cheaper than RETURNING
    -- them from the insert, and text, so nothing parses the JSON here).
    select '[' || string_agg(pgfeed.event_json(e)::text, ',' order by e.id) || ']' into appended
      from pgfeed.events e where e.id between first_id and last_id;
  end if;

  if written > 1 then
    perform setval('pgfeed.event_id_seq', last_id);
  end if;
  update pgfeed.capture_state set applied_lsn = done_lsn, applied_seq = done_seq, applied_at = coalesce(done_at, applied_at);

  if written > 0 then
    -- One notification per batch. A single small event travels whole, as a
    -- trigger's does; otherwise listeners read the log up to `through`.
    payload := case when written = 1
                    then coalesce(substr(appended, 2, length(appended) - 2),
                                  (select pgfeed.event_json(e)::text from pgfeed.events e where e.id = last_id)) end;
    if payload is null or octet_length(payload) > pgfeed.max_payload_bytes() then
      payload := json_build_object('through', last_id::text)::text;
    end if;
    perform pg_notify(pgfeed.channel(), payload);
  end if;
  return query select last_id, appended;
end
$$;

-- The slot was lost (invalidated past max_slot_wal_keep_size, or dropped) and
-- re-created: what committed in between is not in the log. A 'reset' record
-- tells every stream, live or replaying past it, to refetch its snapshot.
create function pgfeed.wal_gap(reason text default 'capture_gap') returns bigint
  language plpgsql
  set timezone = 'UTC'
  as $$
declare
  ev pgfeed.events;
begin
  perform pgfeed.lock_commit_order();
  insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes)
  values (nextval('pgfeed.event_id_seq'), 'pgfeed', 'reset', null, null, '', jsonb_build_object('reason', reason), null)
  returning * into ev;
  perform pg_notify(pgfeed.channel(), pgfeed.event_json(ev)::text);
  return ev.id;
end
$$;
