-- Money under faults (issue 8): each case is a way the torture run once lost, doubled or
-- misrecorded money.  Each asserts what the acquirer's ledger holds, not only our rows.
\set VERBOSITY terse
SET client_min_messages = warning;
SET autodebit.order_close_grace = '1s';
SELECT client_id FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SUITE');
SELECT a.status FROM test.authorize('tess', login => 'tess-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT a.status FROM test.authorize('uma', login => 'uma-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
-- what earlier files left open is settled first, so the counts below are this file's
CALL autodebit_run();
SELECT test.sandbox('POST', 'faults', '{"clear":true}') IS NOT NULL AS cleared;

-- Net debits the acquirer holds for an order: successful payments, less what was refunded.
CREATE FUNCTION test.net(order_ref text) RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum((e->>'amount')::bigint - coalesce((e->>'refunded')::bigint, 0)), 0)
	FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
	WHERE e->>'referenceOrderId' = order_ref AND e->>'status' = 'SUCCESS'
$$;

---------------------------------------------------------------------------
-- 1. A pay that waits on reconcile's row lock while reconcile learns SUCCESS returns that
--    payment; it never mints a second attempt (a second debit).
---------------------------------------------------------------------------
SELECT test.fault('unknown', 'pay');
SELECT attempt, status FROM autodebit_pay('tess', 'mf-1', 1000, 'USD', 'Waits on reconcile', merchant => 'SANDBOX_SUITE');
SELECT payment_request_id AS prid1 FROM autodebit.payments WHERE order_ref = 'mf-1' \gset
SELECT dblink_connect('rec', test.connstr()), dblink_connect('payer', test.connstr());
-- reconcile (here its inquiry, which takes the same row lock) holds the row in an open transaction
SELECT dblink_exec('rec', 'BEGIN');
SELECT * FROM dblink('rec', format('SELECT status FROM autodebit_inquire(%L)', :'prid1')) AS t(status text);
SELECT dblink_send_query('payer', $$SELECT attempt, status FROM autodebit_pay('tess', 'mf-1', 1000, 'USD', 'Waits on reconcile', merchant => 'SANDBOX_SUITE')$$);
SELECT pg_sleep(0.3);
SELECT dblink_is_busy('payer') AS payer_waits;
SELECT dblink_exec('rec', 'COMMIT');
SELECT * FROM dblink_get_result('payer') AS t(attempt int, status text);
SELECT * FROM dblink_get_result('payer') AS t(attempt int, status text);
SELECT count(*) AS attempts FROM autodebit.payment WHERE order_ref = 'mf-1';
SELECT test.debits('mf-1') AS debits;

---------------------------------------------------------------------------
-- 2. One bad item never stops reconcile or the runner.  A database an older version left with
--    a second acquirer debit for an order that is already SUCCESS: reconcile cancels the
--    duplicate instead of aborting on payment_one_success, and everything else still settles.
---------------------------------------------------------------------------
SELECT test.fault('unknown', 'pay');
SELECT attempt, status FROM autodebit_pay('tess', 'mf-2', 1100, 'USD', 'Doubled by an old bug', merchant => 'SANDBOX_SUITE');
SET session_replication_role = replica;		-- what the old version wrote, bypassing today's guards
UPDATE autodebit.payment SET status = 'FAIL' WHERE order_ref = 'mf-2' AND attempt = 1;
RESET session_replication_role;
SELECT attempt, status FROM autodebit_pay('tess', 'mf-2', 1100, 'USD', 'Doubled by an old bug', merchant => 'SANDBOX_SUITE');
SET session_replication_role = replica;
UPDATE autodebit.payment SET status = 'UNKNOWN', next_check_at = now() WHERE order_ref = 'mf-2' AND attempt = 1;
RESET session_replication_role;
SELECT test.debits('mf-2') AS acquirer_debits_before;
-- another open payment, and one whose merchant cannot sign any more (its key file is gone)
SELECT test.fault('unknown', 'pay');
SELECT status FROM autodebit_pay('uma', 'mf-2b', 1200, 'USD', 'Settles anyway', merchant => 'SANDBOX_SUITE');
SELECT client_id FROM autodebit_merchant_set('SANDBOX_BROKEN', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_BROKEN');
SELECT a.status FROM test.authorize('vic', login => 'vic-wallet', merchant => 'SANDBOX_BROKEN') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT test.fault('unknown', 'pay');
SELECT status FROM autodebit_pay('vic', 'mf-2c', 1300, 'USD', 'Broken merchant', merchant => 'SANDBOX_BROKEN');
UPDATE autodebit.merchant SET private_key_file = 'gone.pem' WHERE client_id = 'SANDBOX_BROKEN';
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT test.err('SELECT autodebit_reconcile()');	-- the duplicate's cancel, now that it is decided
SELECT order_ref, attempt, status FROM autodebit.payments WHERE order_ref LIKE 'mf-2%' ORDER BY order_ref, attempt;
SELECT test.net('mf-2') AS net_debits, test.debits('mf-2b') AS debits_2b;
-- the broken merchant's payment is left open, and why is on record for the operator
SELECT kind, ref = (SELECT payment_request_id FROM autodebit.payment WHERE order_ref = 'mf-2c') AS names_it,
	   sqlstate, message
FROM autodebit.item_error WHERE ref IN (SELECT payment_request_id FROM autodebit.payment WHERE order_ref = 'mf-2c')
ORDER BY id LIMIT 1;
-- and the runner goes on for everyone
SELECT status FROM autodebit_pay('uma', 'mf-2d', 1400, 'USD', 'Queued', merchant => 'SANDBOX_SUITE', deferred => true);
CALL autodebit_run();
SELECT status FROM autodebit.payments WHERE order_ref = 'mf-2d';
UPDATE autodebit.merchant SET private_key_file = 'merchant-pkcs8.pem' WHERE client_id = 'SANDBOX_BROKEN';
UPDATE autodebit.payment SET next_check_at = now() WHERE order_ref = 'mf-2c';
SELECT test.err('SELECT autodebit_reconcile()');
SELECT status FROM autodebit.payments WHERE order_ref = 'mf-2c';

---------------------------------------------------------------------------
-- 3. An orphan (rolled back after sending) is adopted and cancelled; a cancel without a clear
--    answer is retried until the acquirer answers, and the row then says what it says.
---------------------------------------------------------------------------
BEGIN;
SELECT status FROM autodebit_pay('tess', 'mf-3a', 1500, 'USD', 'Orphan, cancel applied but unanswered', merchant => 'SANDBOX_SUITE');
ROLLBACK;
BEGIN;
SELECT status FROM autodebit_pay('tess', 'mf-3b', 1600, 'USD', 'Orphan, cancel not carried out', merchant => 'SANDBOX_SUITE');
ROLLBACK;
SELECT test.debits('mf-3a') + test.debits('mf-3b') AS debits_before;
SELECT pg_sleep(1.1);
SELECT test.fault('unknown', 'cancel');		-- carried out, answer U
SELECT test.fault('http500', 'cancel');		-- not carried out
SELECT orphans_adopted FROM autodebit_reconcile();
SELECT order_ref, status, is_orphan FROM autodebit.payments WHERE order_ref LIKE 'mf-3%' ORDER BY order_ref;
UPDATE autodebit.payment SET next_check_at = now() WHERE order_ref LIKE 'mf-3%';
SELECT test.err('SELECT autodebit_reconcile()');
SELECT order_ref, status FROM autodebit.payments WHERE order_ref LIKE 'mf-3%' ORDER BY order_ref;
SELECT test.debits('mf-3a') AS debits_3a, test.debits('mf-3b') AS debits_3b;

---------------------------------------------------------------------------
-- 4. Refunds: one sent in a rolled-back transaction is adopted; one the acquirer never received
--    ends FAIL after the grace period (releasing its amount); REPEAT_REQ_INCONSISTENT is not
--    a definite failure, and the row ends saying what the acquirer refunded.
---------------------------------------------------------------------------
SELECT payment_request_id AS prid4 FROM autodebit_pay('tess', 'mf-4', 3000, 'USD', 'To refund', merchant => 'SANDBOX_SUITE') \gset
BEGIN;
SELECT seq, status FROM autodebit_refund(:'prid4', 500);
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM autodebit.refund WHERE payment_request_id = :'prid4';
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT seq, amount_minor, status, is_orphan FROM autodebit.refunds WHERE payment_request_id = :'prid4' ORDER BY seq;
SELECT refunded_minor FROM autodebit.payments WHERE payment_request_id = :'prid4';
-- never received (HTTP 500 before it was carried out)
SELECT test.fault('http500', 'refund');
SELECT seq, status FROM autodebit_refund(:'prid4', 700);
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT seq, amount_minor, status, result_code FROM autodebit.refunds WHERE payment_request_id = :'prid4' ORDER BY seq;
SELECT refunded_minor FROM autodebit.payments WHERE payment_request_id = :'prid4';
-- the id went out before with another amount (in a transaction that rolled back)
BEGIN;
SELECT seq, amount_minor FROM autodebit_refund(:'prid4', 300);
ROLLBACK;
SELECT seq, amount_minor, status, result_code FROM autodebit_refund(:'prid4', 200);
SELECT refunded_minor FROM autodebit.payments WHERE payment_request_id = :'prid4';
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT seq, amount_minor, status FROM autodebit.refunds WHERE payment_request_id = :'prid4' ORDER BY seq;
SELECT refunded_minor FROM autodebit.payments WHERE payment_request_id = :'prid4';
SELECT sum((e->>'amount')::bigint) AS acquirer_refunded
FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'refunds') e
WHERE e->>'paymentRequestId' = :'prid4' AND e->>'status' = 'SUCCESS';

---------------------------------------------------------------------------
-- 5. Locks: deferred pays take no agreement lock (two invoice batches in opposite customer
--    order do not deadlock), and sync pays for one customer's different orders do not wait
--    for each other's transactions.
---------------------------------------------------------------------------
SELECT dblink_exec('rec', 'BEGIN'), dblink_exec('payer', 'BEGIN');
SELECT * FROM dblink('rec', $$SELECT status FROM autodebit_pay('tess', 'mf-5a', 100, 'USD', 'Batch A', merchant => 'SANDBOX_SUITE', deferred => true)$$) AS t(status text);
SELECT * FROM dblink('payer', $$SELECT status FROM autodebit_pay('uma', 'mf-5b', 100, 'USD', 'Batch B', merchant => 'SANDBOX_SUITE', deferred => true)$$) AS t(status text);
SELECT dblink_send_query('rec', $$SELECT status FROM autodebit_pay('uma', 'mf-5c', 100, 'USD', 'Batch A', merchant => 'SANDBOX_SUITE', deferred => true)$$);
SELECT dblink_send_query('payer', $$SELECT status FROM autodebit_pay('tess', 'mf-5d', 100, 'USD', 'Batch B', merchant => 'SANDBOX_SUITE', deferred => true)$$);
SELECT test.err($$SELECT * FROM dblink_get_result('rec') AS t(status text)$$) AS batch_a;
SELECT test.err($$SELECT * FROM dblink_get_result('payer') AS t(status text)$$) AS batch_b;
SELECT * FROM dblink_get_result('rec') AS t(status text);
SELECT * FROM dblink_get_result('payer') AS t(status text);
SELECT dblink_exec('rec', 'COMMIT'), dblink_exec('payer', 'COMMIT');
SELECT count(*) AS queued FROM autodebit.payment WHERE order_ref LIKE 'mf-5%' AND status = 'QUEUED';
-- sync: s1 pays order A for tess and keeps its transaction open; s2 pays order B for tess
SELECT dblink_exec('rec', 'BEGIN');
SELECT * FROM dblink('rec', $$SELECT status FROM autodebit_pay('tess', 'mf-5e', 100, 'USD', 'Open transaction', merchant => 'SANDBOX_SUITE')$$) AS t(status text);
SELECT dblink_send_query('payer', $$SELECT status FROM autodebit_pay('tess', 'mf-5f', 100, 'USD', 'Another order', merchant => 'SANDBOX_SUITE')$$);
SELECT test.wait_for($$dblink_is_busy('payer') = 0$$, 5) AS not_blocked;
SELECT dblink_exec('rec', 'COMMIT');
SELECT * FROM dblink_get_result('payer') AS t(status text);
SELECT * FROM dblink_get_result('payer') AS t(status text);
CALL autodebit_run();
SELECT count(*) AS paid FROM autodebit.payment WHERE order_ref LIKE 'mf-5%' AND status = 'SUCCESS';

---------------------------------------------------------------------------
-- 6. A signed answer is believed only for the request it names and while it is fresh.
---------------------------------------------------------------------------
SELECT status FROM autodebit_pay('tess', 'mf-6a', 700, 'USD', 'Genuine', merchant => 'SANDBOX_SUITE');
SELECT test.fault('replay', 'pay');		-- the genuine answer above, replayed verbatim
SELECT status, result_code FROM autodebit_pay('uma', 'mf-6b', 9001, 'USD', 'Declined, answer replayed', merchant => 'SANDBOX_SUITE');
SELECT test.fault('stale', 'pay');		-- a true answer, an hour old
SELECT status FROM autodebit_pay('uma', 'mf-6c', 700, 'USD', 'Stale answer', merchant => 'SANDBOX_SUITE');
SELECT l.outcome, l.error FROM autodebit.exchange_log l JOIN autodebit.payment p ON p.payment_request_id = l.request_id
WHERE p.order_ref IN ('mf-6b', 'mf-6c') ORDER BY p.order_ref, l.id;
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT order_ref, status, result_code FROM autodebit.payments WHERE order_ref IN ('mf-6b', 'mf-6c') ORDER BY order_ref;
SELECT test.debits('mf-6b') AS debits_6b, test.debits('mf-6c') AS debits_6c;

---------------------------------------------------------------------------
-- 7. Nothing a caller or the acquirer puts in a text stops other payments.
---------------------------------------------------------------------------
-- a description equal to the secret placeholder, in a batch with others
SELECT status FROM autodebit_pay('tess', 'mf-7a', 100, 'USD', '@@autodebit_secret@@', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT status FROM autodebit_pay('uma', 'mf-7b', 100, 'USD', '"@@autodebit_secret@@"', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT status FROM autodebit_pay('uma', 'mf-7c', 100, 'USD', 'Plain', merchant => 'SANDBOX_SUITE', deferred => true);
CALL autodebit_run();
SELECT order_ref, status, description FROM autodebit.payments WHERE order_ref IN ('mf-7a', 'mf-7b', 'mf-7c') ORDER BY order_ref;
SELECT count(*) AS acquirer_saw_description
FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
WHERE e->>'referenceOrderId' IN ('mf-7a', 'mf-7b') AND e->>'status' = 'SUCCESS';
-- signed answers no careful client may act on: after the request went out they are UNKNOWN
CREATE TEMP TABLE hostile (n int, kind text);
INSERT INTO hostile VALUES (1, 'deep'), (2, 'badutf8'), (3, 'badtime');
SELECT h.kind, test.err(format($$SELECT autodebit_pay('tess', 'mf-7h%s', 100, 'USD', 'Hostile answer', merchant => 'SANDBOX_SUITE')$$, h.n)) AS error
FROM hostile h, LATERAL test.fault(h.kind, 'pay') f ORDER BY h.n;
SELECT order_ref, status FROM autodebit.payments WHERE order_ref LIKE 'mf-7h%' ORDER BY order_ref;
SELECT p.order_ref, l.outcome, l.error FROM autodebit.exchange_log l JOIN autodebit.payment p ON p.payment_request_id = l.request_id
WHERE p.order_ref LIKE 'mf-7h%' ORDER BY p.order_ref, l.id;
-- in a batch too
SELECT status FROM autodebit_pay('tess', 'mf-7i', 100, 'USD', 'Batch, hostile answer', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT status FROM autodebit_pay('uma', 'mf-7j', 100, 'USD', 'Batch, fine', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT test.fault('deep', 'pay');
CALL autodebit_run(1);
-- the hostile answer was not believed; the run's reconcile then learnt the truth by inquiry
SELECT p.order_ref, l.api, l.outcome, l.error FROM autodebit.exchange_log l JOIN autodebit.payment p ON p.payment_request_id = l.request_id
WHERE p.order_ref IN ('mf-7i', 'mf-7j') ORDER BY p.order_ref, l.id;
SELECT order_ref, status FROM autodebit.payments WHERE order_ref IN ('mf-7i', 'mf-7j') ORDER BY order_ref;
-- no invalid UTF-8 was stored anywhere
SELECT l.result_message, l.error FROM autodebit.exchange_log l
WHERE l.request_id = (SELECT payment_request_id FROM autodebit.payment WHERE order_ref = 'mf-7h2');
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT order_ref, status FROM autodebit.payments WHERE order_ref LIKE 'mf-7%' ORDER BY order_ref;

SELECT dblink_disconnect('rec'), dblink_disconnect('payer');
RESET autodebit.order_close_grace;
