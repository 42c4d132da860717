-- autodebit_run(): deferred payments after commit, batches in flight, two runs at once,
-- a run killed mid-batch, schedules with a test clock, retries and dunning.
\set VERBOSITY terse
SET client_min_messages = warning;			-- autodebit_run's NOTICE progress lines carry timings
SET autodebit.order_close_grace = '1s';
-- no notify URL here: a notification would settle payments before their answers arrive,
-- which is right, but would hide the in-flight state this file looks at
SELECT client_id, payment_notify_url FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SUITE');
SELECT a.status FROM test.authorize('omar', login => 'omar-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
-- a queue left by earlier tests would be sent by the first run; settle it first
CALL autodebit_run();

-- deferred, then ROLLBACK: never sent
BEGIN;
SELECT status FROM autodebit_pay('omar', 'order-12001', 300, 'USD', 'Rolled back', merchant => 'SANDBOX_SUITE', deferred => true);
ROLLBACK;
CALL autodebit_run();
SELECT test.debits('order-12001') AS debits, count(*) AS rows FROM autodebit.payment WHERE order_ref = 'order-12001';

-- deferred, committed: the next run sends it
SELECT status FROM autodebit_pay('omar', 'order-12002', 300, 'USD', 'After commit', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT status, payments FROM autodebit.queue;
CALL autodebit_run();
SELECT status, result_code, claimed_run IS NOT NULL AS sent_by_a_run FROM autodebit.payment WHERE order_ref = 'order-12002';
SELECT claimed, sent, succeeded, failed, unknown, finished_at IS NOT NULL AS finished FROM autodebit.run ORDER BY id DESC LIMIT 1;
SELECT test.debits('order-12002') AS debits;

-- 500 queued payments, two runs at the same time: exactly 500 debits
DO $$
BEGIN
	FOR i IN 1..500 LOOP
		PERFORM autodebit_pay('omar', 'bulk-' || i, 100, 'USD', 'Bulk', merchant => 'SANDBOX_SUITE', deferred => true);
	END LOOP;
END
$$;
SELECT status, payments FROM autodebit.queue;
SELECT max(id) AS runs_before FROM autodebit.run \gset
SELECT test.sandbox('POST', 'faults', '{"spec":"latency=1:20@pay"}') IS NOT NULL AS slowed;
SELECT dblink_connect('r1', test.connstr()), dblink_connect('r2', test.connstr());
SELECT dblink_send_query('r1', 'CALL autodebit_run(50)'), dblink_send_query('r2', 'CALL autodebit_run(50)');
SELECT * FROM dblink_get_result('r1') AS t(x text);
SELECT * FROM dblink_get_result('r2') AS t(x text);
SELECT * FROM dblink_get_result('r1') AS t(x text);
SELECT * FROM dblink_get_result('r2') AS t(x text);
SELECT test.sandbox('POST', 'faults', '{"clear":true}') IS NOT NULL AS cleared;
SELECT count(*) AS succeeded FROM autodebit.payment WHERE order_ref LIKE 'bulk-%' AND status = 'SUCCESS';
SELECT count(*) AS debits, count(DISTINCT e->>'referenceOrderId') AS orders
FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
WHERE e->>'referenceOrderId' LIKE 'bulk-%' AND e->>'status' = 'SUCCESS';
SELECT count(*) AS runs, sum(claimed) AS claimed, sum(sent) AS sent FROM autodebit.run WHERE id > :runs_before;
SELECT dblink_disconnect('r1'), dblink_disconnect('r2');

-- a run killed mid-batch: what was in flight becomes UNKNOWN, the next run resolves it,
-- and then the database and the sandbox ledger agree
DO $$
BEGIN
	FOR i IN 1..20 LOOP
		PERFORM autodebit_pay('omar', 'killed-' || i, 100, 'USD', 'Killed run', merchant => 'SANDBOX_SUITE', deferred => true);
	END LOOP;
END
$$;
SELECT test.sandbox('POST', 'faults', '{"spec":"latency=1:3000@pay"}') IS NOT NULL AS slowed;
SELECT dblink_connect('victim', test.connstr());
SELECT pid AS victim_pid FROM dblink('victim', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_send_query('victim', 'CALL autodebit_run()');
SELECT test.wait_for($$(SELECT count(*) = 20 FROM autodebit.payment WHERE order_ref LIKE 'killed-%' AND status = 'SENDING')$$) AS in_flight;
SELECT pg_sleep(0.5);
SELECT pg_terminate_backend(:victim_pid);
SELECT dblink_disconnect('victim');
SELECT test.sandbox('POST', 'faults', '{"clear":true}') IS NOT NULL AS cleared;
SELECT status, count(*) FROM autodebit.payment WHERE order_ref LIKE 'killed-%' GROUP BY status;
SELECT pg_sleep(3);		-- the sandbox has applied them; its answers went nowhere
CALL autodebit_run();
SELECT recovered FROM autodebit.run ORDER BY id DESC LIMIT 1;
SELECT status, count(*) FROM autodebit.payment WHERE order_ref LIKE 'killed-%' GROUP BY status;
SELECT count(*) AS disagreements
FROM autodebit.payment p
FULL JOIN (SELECT e FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
		   WHERE e->>'referenceOrderId' LIKE 'killed-%') l ON l.e->>'paymentRequestId' = p.payment_request_id
WHERE (p.order_ref LIKE 'killed-%' OR l.e IS NOT NULL)
  AND (p.id IS NULL OR l.e IS NULL OR p.status <> l.e->>'status');

-- schedules on a test clock: monthly, anchored on the 31st
SELECT a.status FROM test.authorize('pia', login => 'pia-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SET autodebit.test_now = '2026-01-31 10:00+00';
SELECT id AS sid, status, every, next_due_at FROM autodebit_schedule('pia', 1500, 'USD', 'Monthly plan',
	starts_at => '2026-01-31 10:00+00', merchant => 'SANDBOX_SUITE') \gset
CALL autodebit_run();
SET autodebit.test_now = '2026-02-28 10:00+00';
CALL autodebit_run();
SET autodebit.test_now = '2026-03-31 10:00+00';
CALL autodebit_run();
SELECT period, due_at AT TIME ZONE 'UTC' AS due_utc, status FROM autodebit.schedule_period WHERE schedule_id = :sid ORDER BY period;
-- downtime until the end of June: every missed period is charged once
SET autodebit.test_now = '2026-06-30 10:00+00';
CALL autodebit_run();
CALL autodebit_run();
SELECT period, due_at AT TIME ZONE 'UTC' AS due_utc, status FROM autodebit.schedule_period WHERE schedule_id = :sid ORDER BY period;
SELECT count(*) AS debits, count(DISTINCT e->>'referenceOrderId') AS periods
FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
WHERE e->>'referenceOrderId' LIKE 'schedule-' || :sid || '-%' AND e->>'status' = 'SUCCESS';
-- pause: nothing is charged; resume: the next period after now is the next one charged
SELECT status FROM autodebit_schedule_pause(:sid);
SET autodebit.test_now = '2026-08-15 10:00+00';
CALL autodebit_run();
SELECT status, next_due_at AT TIME ZONE 'UTC' AS next_due FROM autodebit_schedule_resume(:sid);
SET autodebit.test_now = '2026-08-31 10:00+00';
CALL autodebit_run();
SELECT period, due_at AT TIME ZONE 'UTC' AS due_utc, status FROM autodebit.schedule_period WHERE schedule_id = :sid AND period >= 6 ORDER BY period;

-- without catch-up, a gap charges only the latest period
SET autodebit.test_now = '2026-01-10 00:00+00';
SELECT id AS sid2 FROM autodebit_schedule('pia', 700, 'USD', 'Weekly, no catch-up', every => '7 days',
	starts_at => '2026-01-10 00:00+00', merchant => 'SANDBOX_SUITE', catch_up => false) \gset
SET autodebit.test_now = '2026-02-01 00:00+00';
CALL autodebit_run();
SELECT period, status FROM autodebit.schedule_period WHERE schedule_id = :sid2 ORDER BY period;

-- dunning: a soft decline is retried on the plan (1 day, then 3 days), PAST_DUE meanwhile;
-- after the last attempt the schedule is SUSPENDED
SET autodebit.test_now = '2026-03-01 00:00+00';
SELECT id AS sid3 FROM autodebit_schedule('pia', 9001, 'USD', 'Always declined', starts_at => '2026-03-01 00:00+00',
	merchant => 'SANDBOX_SUITE', retry_plan => '{1 day,3 days}') \gset
CALL autodebit_run();
SELECT s.status, p.status AS period, p.failures, p.next_attempt_at AT TIME ZONE 'UTC' AS retry_at
FROM autodebit.schedule s JOIN autodebit.schedule_period p ON p.schedule_id = s.id WHERE s.id = :sid3;
SET autodebit.test_now = '2026-03-02 00:00+00';
CALL autodebit_run();
SELECT s.status, p.status AS period, p.failures, p.next_attempt_at AT TIME ZONE 'UTC' AS retry_at
FROM autodebit.schedule s JOIN autodebit.schedule_period p ON p.schedule_id = s.id WHERE s.id = :sid3;
SET autodebit.test_now = '2026-03-05 00:00+00';
CALL autodebit_run();
SELECT s.status, p.status AS period, p.failures, p.last_result_code
FROM autodebit.schedule s JOIN autodebit.schedule_period p ON p.schedule_id = s.id WHERE s.id = :sid3;
SELECT attempt, status, result_code FROM autodebit.payments WHERE order_ref = 'schedule-' || :sid3 || '-0' ORDER BY attempt;

-- recovery: a wallet short of money is PAST_DUE, then pays on the retry once topped up
SELECT test.sandbox('POST', 'users/pia-wallet', '{"balance":{"THB":"50"}}') IS NOT NULL AS short;
SET autodebit.test_now = '2026-04-01 00:00+00';
SELECT id AS sid4 FROM autodebit_schedule('pia', 100, 'THB', 'Short wallet', starts_at => '2026-04-01 00:00+00',
	merchant => 'SANDBOX_SUITE') \gset
CALL autodebit_run();
SELECT status FROM autodebit.schedules WHERE id = :sid4;
SELECT test.sandbox('POST', 'users/pia-wallet', '{"balance":{"THB":"100000"}}') IS NOT NULL AS topped_up;
SET autodebit.test_now = '2026-04-02 00:00+00';
CALL autodebit_run();
SELECT s.status, p.status AS period, p.failures FROM autodebit.schedule s
JOIN autodebit.schedule_period p ON p.schedule_id = s.id WHERE s.id = :sid4;
RESET autodebit.test_now;
RESET autodebit.order_close_grace;

-- the acquirer rate-limits (REQUEST_TRAFFIC_EXCEED_LIMIT): the run backs off and sends the
-- same request again; one debit
SELECT status FROM autodebit_pay('omar', 'order-12010', 300, 'USD', 'Throttled', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT test.fault('traffic', 'pay', 1);
CALL autodebit_run();
SELECT throttled AS throttled_once, sent >= 2 AS sent_again FROM autodebit.run ORDER BY id DESC LIMIT 1;
SELECT status, attempt FROM autodebit.payments WHERE order_ref = 'order-12010';
SELECT test.debits('order-12010') AS debits;
