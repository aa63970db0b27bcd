-- Retention deletes the oldest rows of each project by `received_at`, in
-- batches. Without an index that leads with (project_id, received_at),
-- every batch read all of a project's rows and sorted them (EXPLAIN: "USE
-- TEMP B-TREE FOR ORDER BY"); with it, a batch reads only the rows it
-- deletes. Events have had this index since 0002.
CREATE INDEX transactions_by_received ON transactions(project_id, received_at);
CREATE INDEX check_ins_by_received ON check_ins(project_id, received_at);
CREATE INDEX logs_by_received ON logs(project_id, received_at);
CREATE INDEX attachments_by_received ON attachments(project_id, received_at);
CREATE INDEX user_feedback_by_received ON user_feedback(project_id, received_at);
-- Hourly uptime aggregates (1,000 monitors keep 2.4 million rows over
-- 100 days) were scanned whole to drop the hours past history_days.
CREATE INDEX monitor_hourly_by_hour ON monitor_hourly(hour);
