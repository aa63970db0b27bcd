DROP INDEX monitor_hourly_by_hour;
DROP INDEX user_feedback_by_received;
DROP INDEX attachments_by_received;
DROP INDEX logs_by_received;
DROP INDEX check_ins_by_received;
DROP INDEX transactions_by_received;
