-- Monitoring: what an operator asks, as a view and as Prometheus text.
-- Replayable: included in the install script and in every update script.

-- One row per check: its value, the threshold it is held against, and ok / alert.
CREATE OR REPLACE VIEW autodebit.health AS
	WITH c AS (
		SELECT 'payments_open' AS check_name, count(*)::double precision AS value, NULL::double precision AS threshold,
			   'payments QUEUED, SENDING, PROCESSING or UNKNOWN' AS what
		FROM autodebit.payment WHERE status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
		UNION ALL
		SELECT 'oldest_open_payment_seconds', coalesce(extract(epoch FROM now() - min(created_at)), 0), 3600,
			   'age of the oldest open payment (the runner and reconcile should settle it within the hour)'
		FROM autodebit.payment WHERE status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
		UNION ALL
		SELECT 'oldest_unknown_payment_seconds', coalesce(extract(epoch FROM now() - min(coalesce(sent_at, created_at))), 0),
			   extract(epoch FROM autodebit._setting('autodebit.cancel_unknown_after')::interval) * 2,
			   'age of the oldest UNKNOWN payment (reconcile gives it back after autodebit.cancel_unknown_after)'
		FROM autodebit.payment WHERE status = 'UNKNOWN'
		UNION ALL
		SELECT 'give_backs_waiting', count(*), 0, 'debits decided to be given back and not yet cancelled or refunded'
		FROM autodebit.payment WHERE cancel_wanted IS NOT NULL AND status = 'SUCCESS' AND refunded_minor < amount_minor
		UNION ALL
		SELECT 'journal_records_waiting', count(*), 100, 'send journal records read but not adopted yet'
		FROM autodebit.journal_retry
		UNION ALL
		SELECT 'alarms', count(*), 0, 'ZD503, ZD504 and ZD505 in autodebit.item_error: a person must look'
		FROM autodebit.item_error WHERE sqlstate IN ('ZD503', 'ZD504', 'ZD505')
		UNION ALL
		SELECT 'item_errors_last_hour', count(*), 10, 'items reconcile or the runner could not handle in the last hour'
		FROM autodebit.item_error WHERE at > now() - interval '1 hour'
		UNION ALL
		SELECT 'seconds_since_last_run', coalesce(extract(epoch FROM now() - max(started_at)), -1), 300,
			   'since the last autodebit_run() began (pg_cron calls it every minute; -1: never)'
		FROM autodebit.run
		UNION ALL
		SELECT 'runs_unfinished', count(*), 1, 'autodebit_run() calls begun over an hour ago and never finished'
		FROM autodebit.run WHERE finished_at IS NULL AND started_at < now() - interval '1 hour'
		UNION ALL
		SELECT 'tokens_expiring_without_refresh', count(*), 0,
			   'active agreements whose access token expires within 7 days and that no refresh token can renew'
		FROM autodebit.agreement
		WHERE status = 'ACTIVE' AND access_token_expires_at < now() + interval '7 days'
		  AND (refresh_token_enc IS NULL OR refresh_token_expires_at < access_token_expires_at)
		UNION ALL
		SELECT 'notifications_not_applied_last_day', count(*), 0,
			   'notifications of the last day recorded as orphan or rejected'
		FROM autodebit.notification WHERE outcome IN ('orphan', 'rejected') AND received_at > now() - interval '1 day')
	SELECT check_name, value, threshold,
		   CASE WHEN threshold IS NULL OR value <= threshold THEN 'ok' ELSE 'alert' END AS status, what
	FROM c;

-- The same checks, and open payments by status, in the Prometheus text exposition format (for a
-- textfile collector or postgres_exporter).
CREATE OR REPLACE FUNCTION autodebit_metrics() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT string_agg(line, E'\n' ORDER BY n) || E'\n' FROM (
		SELECT 1 AS n, h.check_name AS k,
			   format(E'# HELP autodebit_%1$s %2$s\n# TYPE autodebit_%1$s gauge\nautodebit_%1$s %3$s',
					  h.check_name, h.what, h.value) AS line
		FROM autodebit.health h
		UNION ALL
		SELECT 2, NULL, E'# HELP autodebit_payments Payments by status.\n# TYPE autodebit_payments gauge'
		UNION ALL
		SELECT 3, NULL, string_agg(format('autodebit_payments{status="%s"} %s', s.status, s.n), E'\n' ORDER BY s.status)
		FROM (SELECT status, count(*) AS n FROM autodebit.payment GROUP BY status) s
	) m
$$;

-- Delete runs and exchange log rows older than their retention settings (autodebit_run() calls it).
CREATE OR REPLACE FUNCTION autodebit._prune_history() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	runs integer;
	logged integer;
BEGIN
	DELETE FROM autodebit.run
	WHERE finished_at < now() - autodebit._setting('autodebit.run_retention')::interval;
	GET DIAGNOSTICS runs = ROW_COUNT;
	DELETE FROM autodebit.exchange_log
	WHERE at < now() - autodebit._setting('autodebit.exchange_log_retention')::interval;
	GET DIAGNOSTICS logged = ROW_COUNT;
	RETURN runs + logged;
END
$$;
