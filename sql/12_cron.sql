-- Under real pg_cron (1.4, preloaded in this instance): a job calling autodebit_run() every
-- minute sends a deferred payment within two minutes.
\set VERBOSITY terse
SELECT a.status FROM test.authorize('quinn', login => 'quinn-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
CREATE EXTENSION pg_cron;
SELECT extversion FROM pg_extension WHERE extname = 'pg_cron';
SELECT cron.schedule('autodebit', '* * * * *', 'CALL autodebit_run()') > 0 AS scheduled;
SELECT status FROM autodebit_pay('quinn', 'order-13001', 4500, 'USD', 'Sent by pg_cron', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT test.wait_for($$(SELECT status = 'SUCCESS' FROM autodebit.payment WHERE order_ref = 'order-13001')$$, 130) AS sent_by_cron;
SELECT test.debits('order-13001') AS debits;
SELECT status, command FROM cron.job_run_details WHERE status = 'succeeded' LIMIT 1;
SELECT cron.unschedule('autodebit');
