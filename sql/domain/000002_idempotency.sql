-- Answers of write requests that carried an Idempotency-Key, so a retried
-- request gets the first answer instead of writing twice. Keys are per token
-- subject and kept for 24 hours (src/domain/writes.ts).
create table idempotency_keys (
  subject     text        not null,
  key         text        not null,
  fingerprint text        not null,
  response    jsonb,
  created_at  timestamptz not null default now(),
  primary key (subject, key)
);
create index idempotency_keys_created_at on idempotency_keys (created_at);
