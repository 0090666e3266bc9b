-- Pruning walks the log by id, so events_committed_at (000001) goes.
--
-- The index existed only for the pruner, yet every captured change paid for
-- it: one more index entry, and its WAL record, in the writer's transaction
-- (trigger mode) or the capturer's (wal mode). Ids follow commit order and
-- committed_at grows with them (to within clock jitter), so what has expired
-- is a prefix of the log: EventLog.prune walks the primary key from the oldest
-- event and stops at the first one not older than the retention.
--
-- DROP INDEX takes a brief exclusive lock on pgfeed.events (CONCURRENTLY
-- cannot run inside the migration's transaction): writers wait for it.

drop index if exists pgfeed.events_committed_at;
