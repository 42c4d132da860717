-- Two sessions paying one order at once cause one debit.
\set VERBOSITY terse
SELECT a.status FROM test.authorize('frank', login => 'frank-wallet') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

SELECT dblink_connect('s1', test.connstr()), dblink_connect('s2', test.connstr());
-- the first call is slow (500 ms) so the second arrives while it is in flight
SELECT test.fault('latency=1:500');
SELECT dblink_send_query('s1', $$SELECT payment_request_id, status FROM autodebit_pay('frank', 'order-5001', 4200, 'MYR', 'Race')$$);
SELECT pg_sleep(0.1);
SELECT dblink_send_query('s2', $$SELECT payment_request_id, status FROM autodebit_pay('frank', 'order-5001', 4200, 'MYR', 'Race')$$);
CREATE TEMP TABLE answers AS
	SELECT 's1' AS session, * FROM dblink_get_result('s1') AS t(prid text, status text)
	UNION ALL
	SELECT 's2', * FROM dblink_get_result('s2') AS t(prid text, status text);
-- each async query ends with an empty result
SELECT count(*) AS leftovers FROM (
	SELECT * FROM dblink_get_result('s1') AS t(prid text, status text)
	UNION ALL SELECT * FROM dblink_get_result('s2') AS t(prid text, status text)) x;
SELECT session, status FROM answers ORDER BY session;
SELECT count(DISTINCT prid) AS ids FROM answers;
SELECT count(*) AS pay_calls FROM autodebit.exchange_log
WHERE request_id IN (SELECT prid FROM answers);
SELECT test.debits('order-5001') AS debits;

-- the same race inside explicit transactions that commit later
SELECT dblink_exec('s1', 'BEGIN'), dblink_exec('s2', 'BEGIN');
SELECT dblink_send_query('s1', $$SELECT status FROM autodebit_pay('frank', 'order-5002', 4200, 'MYR', 'Race 2')$$);
SELECT pg_sleep(0.1);
SELECT dblink_send_query('s2', $$SELECT status FROM autodebit_pay('frank', 'order-5002', 4200, 'MYR', 'Race 2')$$);
SELECT pg_sleep(0.2);
SELECT * FROM dblink_get_result('s1') AS t(status text);
SELECT * FROM dblink_get_result('s1') AS t(status text);
-- s2 waits for s1's transaction to end, then sees its payment
SELECT dblink_is_busy('s2') AS s2_waiting;
SELECT dblink_exec('s1', 'COMMIT');
SELECT * FROM dblink_get_result('s2') AS t(status text);
SELECT * FROM dblink_get_result('s2') AS t(status text);
SELECT dblink_exec('s2', 'COMMIT');
SELECT test.debits('order-5002') AS debits;
SELECT dblink_disconnect('s1'), dblink_disconnect('s2');
