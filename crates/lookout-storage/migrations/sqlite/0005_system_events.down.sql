DROP INDEX system_events_by_at;
DROP TABLE system_events;
