-- The second capture path: logical replication (CAPTURE=wal). Watched tables
-- carry no trigger; they sit in the publication pgfeed_capture, one pgfeed
-- instance decodes the slot's pgoutput stream and appends to pgfeed.events
-- through pgfeed.wal_append. Everything after the log is shared with the
-- trigger path. Design notes: docs/architecture.md, docs/ordering.md.

-- Two records that belong to no company and reach every stream: 'truncate'
-- (a watched table was truncated; wal mode only, row triggers never see it)
-- and 'reset' (the log misses changes: the slot was lost and re-created).
alter table pgfeed.events drop constraint events_op_check;
alter table pgfeed.events add constraint events_op_check
  check (op in ('insert', 'update', 'delete', 'truncate', 'reset'));
-- Replays of one company read these beside its own events.
create index events_broadcast on pgfeed.events (id) where company_id is null and op in ('truncate', 'reset');

-- How changes reach the log, and how far the WAL capturer has applied the
-- slot. Position (applied_lsn, applied_seq): every change of a transaction
-- committed at an LSN below applied_lsn, and the first applied_seq changes of
-- the one at applied_lsn, are in the log (2147483647: all of them).
create table pgfeed.capture (
  singleton   boolean     primary key default true check (singleton),
  mode        text        not null default 'trigger' check (mode in ('trigger', 'wal')),
  applied_lsn pg_lsn      not null default '0/0',
  applied_seq int         not null default 0,
  -- Commit time of the newest transaction applied: capture lag in seconds.
  applied_at  timestamptz
);
insert into pgfeed.capture default values;

-- The publication watched tables join in wal mode (named once, here).
create function pgfeed.publication() returns text
  language sql immutable parallel safe
  as $$ select 'pgfeed_capture' $$;

-- Puts one watched table on the current capture path: the capture trigger in
-- trigger mode; in wal mode the publication, with REPLICA IDENTITY FULL so
-- updates carry the old row (changes, scope moves) and deletes the whole row.
create function pgfeed.attach(table_name regclass) returns void
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  w    pgfeed.watched;
  mode text := (select c.mode from pgfeed.capture c);
  pub  text := pgfeed.publication();
begin
  select * into strict w from pgfeed.watched x where x.table_name = attach.table_name;
  if mode = 'wal' then
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
      'deferrable initially deferred for each row execute function pgfeed.capture(%L, %L, %L, %L)',
      table_name, w.entity, w.company_column, coalesce(w.user_column, ''), w.key_column
    );
  end if;
end
$$;

-- True when the table is attached to the current capture path as watched.
create function pgfeed.attached(table_name regclass) returns boolean
  language sql stable
  as $$
    select case (select mode from pgfeed.capture)
      when 'wal' then
        not exists (select 1 from pg_trigger t where t.tgrelid = table_name and t.tgname = 'pgfeed_capture')
        and (select relreplident from pg_class where oid = table_name) = 'f'
        and exists (select 1 from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
                     where p.pubname = pgfeed.publication() and r.prrelid = table_name)
      else exists (select 1 from pg_trigger t where t.tgrelid = table_name and t.tgname = 'pgfeed_capture')
    end
  $$;

-- As in 000001, but the table goes onto the current capture path (pgfeed.attach).
create or replace function pgfeed.watch(
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
  ) and pgfeed.attached(table_name) then
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

  insert into pgfeed.watched (table_name, entity, company_column, user_column, key_column)
  values (table_name, chosen, company_column, user_column, key_column)
  on conflict on constraint watched_pkey do update
    set entity = excluded.entity, company_column = excluded.company_column,
        user_column = excluded.user_column, key_column = excluded.key_column;
  perform pgfeed.attach(table_name);
  return chosen;
end
$$;

create or replace function pgfeed.unwatch(table_name regclass) returns void
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
end
$$;

-- Switches every watched table to `mode`'s capture path in one transaction.
-- Writers of a table wait for its switch (ALTER TABLE locks it), so each
-- transaction is captured by exactly one path. The publication must exist
-- before the slot is created (the service creates both, in that order).
create function pgfeed.set_capture(mode text) returns void
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  t regclass;
begin
  if (select c.mode from pgfeed.capture c) = mode then
    return;
  end if;
  update pgfeed.capture c set mode = set_capture.mode;
  for t in select w.table_name from pgfeed.watched w order by w.table_name loop
    perform pgfeed.attach(t);
  end loop;
end
$$;

-- The WAL capturer's append: one call per batch of decoded changes, in commit
-- order. Under the row lock on pgfeed.capture it drops what the log already
-- holds (a replay after a crash, or a capturer that lost the slot racing its
-- successor), draws ids for the rest in order, writes the events, moves the
-- applied position and sends one NOTIFY. The row lock is held until commit,
-- so ids are drawn in commit order, as the trigger path's advisory lock does.
--
-- Rows arrive as the text of a record literal of their table's row type
-- (each column's output, as pgoutput sends it), so to_jsonb() turns them into
-- exactly the JSON the capture trigger builds with to_jsonb(new).
create function pgfeed.wal_append(
  lsns      pg_lsn[],      -- commit LSN of each change's transaction
  seqs      int[],         -- the change's number within its transaction (1, 2, ...)
  rels      oid[],         -- the table
  ops       text[],        -- insert, update, delete, truncate
  new_rows  text[],        -- record literal of the new row (insert, update)
  old_rows  text[],        -- record literal of the old row (update, delete)
  times     timestamptz[], -- commit time of the change's transaction
  done_lsn  pg_lsn,        -- the position once this batch is applied
  done_seq  int,
  done_at   timestamptz
) returns bigint           -- the newest id written, or null
  language plpgsql
  set timezone = 'UTC'
  as $$
declare
  st        pgfeed.capture;
  convert   text;
  first_id  bigint;
  last_id   bigint;
  written   bigint;
  payload   text;
begin
  select * into st from pgfeed.capture for update;
  if (done_lsn, done_seq) <= (st.applied_lsn, st.applied_seq) then
    return null;
  end if;

  -- One conversion per table in the batch: record literal → row type → jsonb.
  select string_agg(format(
           'select u.i, to_jsonb(u.n::%1$s) as n, to_jsonb(u.o::%1$s) as o '
           'from unnest($1::oid[], $2::text[], $3::text[]) with ordinality as u(r, n, o, i) where u.r = %2$s',
           d.r::regclass, d.r), ' union all ')
    into convert
    from (select distinct r from unnest(rels) r) d;

  first_id := nextval('pgfeed.event_id_seq');
  execute format($q$
    with conv as (%s),
    changes as (
      select u.i, u.op, u.at, c.n, c.o, w.entity, w.company_column as cc, w.user_column as uc, w.key_column as kc
        from unnest($4::pg_lsn[], $5::int[], $1::oid[], $6::text[], $7::timestamptz[])
             with ordinality as u(lsn, seq, r, op, at, i)
        join conv c on c.i = u.i
        join pgfeed.watched w on w.table_name = u.r
       where (u.lsn, u.seq) > ($8, $9)
         and not (u.op = 'update' and c.n = c.o)        -- an UPDATE that changes nothing is not an event
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
      select $10 + row_number() over (order by i, sub) - 1, entity, op,
             row ->> cc, case when uc is null then null else row ->> uc end,
             coalesce(row ->> kc, ''), row, diff, at
        from events
      returning id
    )
    select count(*), max(id) from ins
  $q$, coalesce(convert, 'select null::bigint as i, null::jsonb as n, null::jsonb as o where false'))
  into written, last_id
  using rels, new_rows, old_rows, lsns, seqs, ops, times, st.applied_lsn, st.applied_seq, first_id;

  if written > 1 then
    perform setval('pgfeed.event_id_seq', last_id);
  end if;
  update pgfeed.capture set applied_lsn = done_lsn, applied_seq = done_seq, applied_at = coalesce(done_at, applied_at);

  if written > 0 then
    -- One notification per batch. A single small event travels whole, as a
    -- trigger's does; otherwise listeners read the log up to `through`.
    payload := case when written = 1 then (select pgfeed.event_json(e)::text from pgfeed.events e where e.id = last_id) end;
    if payload is null or octet_length(payload) > pgfeed.max_payload_bytes() then
      payload := json_build_object('through', last_id::text)::text;
    end if;
    perform pg_notify(pgfeed.channel(), payload);
  end if;
  return last_id;
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
  perform 1 from pgfeed.capture for update; -- ids in commit order, as wal_append
  insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes)
  values (nextval('pgfeed.event_id_seq'), 'pgfeed', 'reset', null, null, '', jsonb_build_object('reason', reason), null)
  returning * into ev;
  perform pg_notify(pgfeed.channel(), pgfeed.event_json(ev)::text);
  return ev.id;
end
$$;
