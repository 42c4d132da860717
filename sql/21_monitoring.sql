-- Monitoring: autodebit.health answers what an operator asks, with thresholds; autodebit_metrics()
-- says the same to Prometheus; autodebit_run() prunes old runs, exchange log rows and events.
\set VERBOSITY terse
SELECT check_name, threshold FROM autodebit.health ORDER BY check_name;

-- an alarm in item_error turns its check to alert; a recent run keeps the runner's ok
SET client_min_messages = warning;
CALL autodebit_run();
RESET client_min_messages;
SELECT value AS alarms_before FROM autodebit.health WHERE check_name = 'alarms' \gset
INSERT INTO autodebit.item_error (kind, ref, sqlstate, message) VALUES ('payment', 'mon-1', 'ZD504', 'test alarm');
SELECT value - :alarms_before AS new_alarms, status FROM autodebit.health WHERE check_name = 'alarms';
SELECT check_name, status FROM autodebit.health
WHERE check_name IN ('seconds_since_last_run', 'runs_unfinished') ORDER BY 1;
DELETE FROM autodebit.item_error WHERE ref = 'mon-1';
SELECT value - :alarms_before AS new_alarms FROM autodebit.health WHERE check_name = 'alarms';

-- the Prometheus text: HELP and TYPE before each metric, one sample line each, names in the
-- autodebit_ namespace
SELECT count(*) FILTER (WHERE l ~ '^# HELP autodebit_[a-z_]+ ') AS help_lines,
	   count(*) FILTER (WHERE l ~ '^# TYPE autodebit_[a-z_]+ gauge$') AS type_lines,
	   count(*) FILTER (WHERE l ~ '^autodebit_[a-z_]+(\{status="[A-Z]+"\})? -?[0-9.e+]+$') > 0 AS samples,
	   count(*) FILTER (WHERE l !~ '^(# (HELP|TYPE) autodebit_|autodebit_)' AND l <> '') AS other_lines,
	   (SELECT count(*) FROM autodebit.health) + 1 AS metrics
FROM regexp_split_to_table(autodebit_metrics(), E'\n') l;
SELECT regexp_replace(l, ' [0-9.e+-]+$', ' N') AS sample FROM regexp_split_to_table(autodebit_metrics(), E'\n') l
WHERE l ~ '^autodebit_(alarms|payments_open) ' ORDER BY 1;

-- only admins read it
CREATE ROLE mon_user LOGIN IN ROLE autodebit_user;
SET ROLE mon_user;
SELECT test.err($$SELECT * FROM autodebit.health$$);
SELECT test.err($$SELECT autodebit_metrics()$$);
RESET ROLE;

-- retention: runs, exchange log rows and events past their settings are deleted by the runner
INSERT INTO autodebit.run (pid, backend_start, started_at, finished_at)
VALUES (1, now() - interval '200 days', now() - interval '200 days', now() - interval '200 days');
INSERT INTO autodebit.exchange_log (at, api, outcome) VALUES (now() - interval '200 days', 'pay', 'S');
INSERT INTO autodebit.events (occurred_at, merchant_id, kind, object, object_id, data)
SELECT now() - interval '40 days', id, 'payment.succeeded', 'payment', 0, '{}' FROM autodebit.merchant LIMIT 1;
SELECT (SELECT count(*) FROM autodebit.run WHERE started_at < now() - interval '100 days') AS old_runs,
	   (SELECT count(*) FROM autodebit.exchange_log WHERE at < now() - interval '100 days') AS old_log,
	   (SELECT count(*) FROM autodebit.events WHERE occurred_at < now() - interval '31 days') AS old_events;
SET client_min_messages = warning;
CALL autodebit_run();
RESET client_min_messages;
SELECT (SELECT count(*) FROM autodebit.run WHERE started_at < now() - interval '100 days') AS old_runs,
	   (SELECT count(*) FROM autodebit.exchange_log WHERE at < now() - interval '100 days') AS old_log,
	   (SELECT count(*) FROM autodebit.events WHERE occurred_at < now() - interval '31 days') AS old_events;

-- a step of a run that raises (here: the admin may no longer call the token refresh) is in
-- item_error and the server log with the run's id, and the run goes on and finishes
CREATE ROLE mon_ops LOGIN IN ROLE autodebit_admin;
REVOKE EXECUTE ON FUNCTION autodebit._refresh_expiring() FROM autodebit_admin;
SET ROLE mon_ops;
SET client_min_messages = error;
CALL autodebit_run();
RESET client_min_messages;
RESET ROLE;
GRANT EXECUTE ON FUNCTION autodebit._refresh_expiring() TO autodebit_admin;
SELECT e.kind, e.ref = 'agreements of run ' || r.id AS names_the_run, e.sqlstate, r.finished_at IS NOT NULL AS run_finished
FROM autodebit.item_error e, (SELECT max(id) AS id, max(finished_at) AS finished_at FROM autodebit.run) r
WHERE e.kind = 'step' ORDER BY e.id DESC LIMIT 1;
SELECT pg_read_file(current_setting('autodebit_test.log_file')) ~
	   ('autodebit: step agreements of run ' || (SELECT max(id) FROM autodebit.run) || ' was skipped') AS logged_with_run_id;
