-- A slow acquirer is interrupted promptly by statement_timeout and by query cancel,
-- with PostgreSQL's own errors; the request that went out is not lost.
\set VERBOSITY terse
SELECT a.status FROM test.authorize('erin', login => 'erin-wallet') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

-- statement_timeout: the acquirer applies the debit, then answers 3 s later
SELECT test.fault('latency=1:3000');
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '300ms';
SELECT status FROM autodebit_pay('erin', 'order-4001', 800, 'SGD', 'Timed out');
RESET statement_timeout;
-- stopped long before the answer would have come (the timeout is 300 ms; the answer takes 3 s)
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 seconds' AS interrupted_early;
-- the statement rolled back, but the debit happened and the journal has the request
SELECT count(*) AS rows FROM autodebit.payment WHERE order_ref = 'order-4001';
SELECT test.debits('order-4001') AS debits;
SELECT count(*) AS journaled FROM test.journal() WHERE body->'order'->>'referenceOrderId' = 'order-4001';
-- paying again re-sends the same id: the acquirer answers with the original debit
SELECT attempt, status FROM autodebit_pay('erin', 'order-4001', 800, 'SGD', 'Timed out');
SELECT test.debits('order-4001') AS debits;

-- autodebit.timeout_ms: past it the outcome is unknown, and recorded as such
SELECT test.fault('latency=1:2000');
SET autodebit.timeout_ms = 300;
SELECT attempt, status, result_message LIKE 'Timeout was reached%' AS timed_out
FROM autodebit_pay('erin', 'order-4002', 800, 'SGD', 'Curl timeout');
RESET autodebit.timeout_ms;
SELECT pg_sleep(2);
SELECT attempt, status FROM autodebit_pay('erin', 'order-4002', 800, 'SGD', 'Curl timeout');
SELECT test.debits('order-4002') AS debits;

-- query cancel from another session
SELECT dblink_connect('victim', test.connstr());
SELECT pid AS victim_pid FROM dblink('victim', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT test.fault('latency=1:3000');
SELECT clock_timestamp() AS t0 \gset
SELECT dblink_send_query('victim', $$SELECT status FROM autodebit_pay('erin', 'order-4003', 800, 'SGD', 'Cancelled')$$);
SELECT pg_sleep(0.3);
SELECT pg_cancel_backend(:victim_pid);
SELECT * FROM dblink_get_result('victim', false) AS t(status text);
SELECT split_part(dblink_error_message('victim'), E'\n', 1) AS error;
SELECT * FROM dblink_get_result('victim', false) AS t(status text);  -- end of the async query
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 seconds' AS interrupted_early;
-- the cancelled backend is healthy and its next call works
SELECT * FROM dblink('victim', $$SELECT status FROM autodebit_pay('erin', 'order-4003', 800, 'SGD', 'Cancelled')$$) AS t(status text);
SELECT dblink_disconnect('victim');
SELECT test.debits('order-4003') AS debits;
