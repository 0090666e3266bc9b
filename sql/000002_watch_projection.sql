-- Public projections of tables watched from SQL (`pgfeed watch <table>
-- --public-columns ...`, or pgfeed.set_public_columns): the columns anonymous
-- public streams and snapshots may show of a row. A watched table without an
-- entry here is never public. Registered entities declare theirs in code
-- (EntityDefinition.public) and need none.
--
-- pgfeed.watch() is left as it is: the projection is set apart, and goes with
-- the table when it is unwatched (on delete cascade).

create table pgfeed.watch_public (
  table_name regclass primary key references pgfeed.watched (table_name) on delete cascade,
  columns    text[]   not null check (cardinality(columns) > 0)
);

-- Sets the public columns of a watched table (snake_case names, as in the
-- table); null or an empty array makes it not public again.
create function pgfeed.set_public_columns(table_name regclass, columns text[]) returns void
  language plpgsql
  as $$
#variable_conflict use_variable
declare
  col text;
begin
  if not exists (select 1 from pgfeed.watched w where w.table_name = set_public_columns.table_name) then
    raise exception 'pgfeed.set_public_columns: table % is not watched (pgfeed.watch it first)', table_name
      using errcode = 'undefined_object';
  end if;
  -- Sent at commit, after what follows: running instances read the projection again (pgfeed.catalog_channel).
  perform pgfeed.catalog_changed(table_name);
  if columns is null or cardinality(columns) = 0 then
    delete from pgfeed.watch_public p where p.table_name = set_public_columns.table_name;
    return;
  end if;
  foreach col in array columns loop
    if not exists (
      select 1 from pg_attribute a
       where a.attrelid = table_name and a.attname = col and a.attnum > 0 and not a.attisdropped
    ) then
      raise exception 'pgfeed.set_public_columns: table % has no column "%"', table_name, col
        using errcode = 'undefined_column';
    end if;
  end loop;
  insert into pgfeed.watch_public (table_name, columns)
  values (table_name, (select array_agg(distinct c order by c) from unnest(columns) c))
  on conflict on constraint watch_public_pkey do update set columns = excluded.columns;
end
$$;
