-- A row whose company, user or key changes leaves its old scope and enters
-- the new one: the capture trigger writes a delete (the row before, with the
-- old company, user and key) and then a create (the row after, with the new
-- ones), each its own event with its own id, instead of one update that the
-- old scope would never see and the new scope could not place.

create or replace function pgfeed.capture() returns trigger
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
  diff        jsonb;
begin
  if tg_op = 'UPDATE' then
    new_row := to_jsonb(new);
    old_row := to_jsonb(old);
    if new_row = old_row then
      return null; -- an UPDATE that changes nothing is not an event
    end if;
  end if;
  -- Taken before any id is drawn: see docs/ordering.md.
  perform pg_advisory_xact_lock(pgfeed.commit_lock_key());
  if tg_op = 'INSERT' then
    perform pgfeed.append(entity, 'insert', to_jsonb(new), null, company_col, user_col, key_col);
  elsif tg_op = 'DELETE' then
    perform pgfeed.append(entity, 'delete', to_jsonb(old), null, company_col, user_col, key_col);
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

-- Writes one event to the log and NOTIFYs it. Callers hold the commit-order lock.
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
    row_json ->> key_col,
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
