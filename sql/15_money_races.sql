-- More ways money went missing or was misrecorded (issue 8, found by a review of the fix): an
-- orphan whose agreement rolled back with it, a refund and a cancel in rolled-back
-- transactions, a queued payment a rolled-back sync pay had sent, cancels without a clear
-- answer, a signed decline naming no request, an amount the acquirer holds that we did not
-- record, a run that raised in a backend that lives on, and a sync pay for an order a run is
-- sending.
\set VERBOSITY terse
SET client_min_messages = warning;
SET autodebit.order_close_grace = '1s';
SELECT test.sandbox('POST', 'faults', '{"clear":true}') IS NOT NULL AS cleared;
SELECT a.status FROM test.authorize('xena', login => 'xena-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
CALL autodebit_run();		-- settle what earlier files left open

-- A. authorize and pay in one transaction that rolls back: the agreement is gone with it, the
--    debit is not; it is adopted without an agreement and given back
-- (the authCode stays out of the statement text: the server log is checked for it in 99_canary)
CREATE TEMP TABLE yuri AS SELECT * FROM test.authorize('yuri', login => 'yuri-wallet', merchant => 'SANDBOX_SUITE');
BEGIN;
SELECT a.status FROM yuri t, LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT status FROM autodebit_pay('yuri', 'mr-a', 800, 'USD', 'Rolled back with its agreement', merchant => 'SANDBOX_SUITE');
ROLLBACK;
SELECT test.debits('mr-a') AS debits_before;
SELECT pg_sleep(1.1);
SELECT orphans_adopted, items_failed FROM autodebit_reconcile();
SELECT status, is_orphan, agreement_id IS NULL AS no_agreement FROM autodebit.payment WHERE order_ref = 'mr-a';
SELECT test.debits('mr-a') AS debits_after;

-- B. pay and refund all of it in one transaction that rolls back: both are adopted, and the
--    rows say what the acquirer holds (nothing)
BEGIN;
SELECT payment_request_id AS prid_b FROM autodebit_pay('xena', 'mr-b', 900, 'USD', 'Paid and refunded, rolled back', merchant => 'SANDBOX_SUITE') \gset
SELECT status FROM autodebit_refund(:'prid_b', 900);
ROLLBACK;
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT test.err('SELECT autodebit_reconcile()');
SELECT p.status, p.refunded_minor, r.status AS refund_status, r.amount_minor AS refunded
FROM autodebit.payment p LEFT JOIN autodebit.refund r ON r.payment_row_id = p.id
WHERE p.order_ref = 'mr-b' ORDER BY r.seq;
SELECT test.net('mr-b') AS acquirer_holds;

-- C. a queued payment a sync pay sent in a transaction that rolled back: cancelling it asks
--    the acquirer, which held the debit
SELECT status FROM autodebit_pay('xena', 'mr-c', 1000, 'USD', 'Queued, sent, rolled back', merchant => 'SANDBOX_SUITE', deferred => true);
BEGIN;
SELECT status FROM autodebit_pay('xena', 'mr-c', 1000, 'USD', 'Queued, sent, rolled back', merchant => 'SANDBOX_SUITE');
ROLLBACK;
SELECT status, sent_at IS NULL AS looks_unsent, test.debits('mr-c') AS debits FROM autodebit.payment WHERE order_ref = 'mr-c';
SELECT status FROM autodebit_cancel((SELECT payment_request_id FROM autodebit.payment WHERE order_ref = 'mr-c'));
SELECT test.debits('mr-c') AS debits_after_cancel;
-- and one that never went out is cancelled without a debit ever happening
SELECT status FROM autodebit_pay('xena', 'mr-c2', 1000, 'USD', 'Queued only', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT status FROM autodebit_cancel((SELECT payment_request_id FROM autodebit.payment WHERE order_ref = 'mr-c2'));
CALL autodebit_run();
SELECT status, test.debits('mr-c2') AS debits FROM autodebit.payment WHERE order_ref = 'mr-c2';

-- D. a cancel without a clear answer is not an error that rolls the decision back: it is kept
--    and carried out by reconcile
SELECT payment_request_id AS prid_d1 FROM autodebit_pay('xena', 'mr-d1', 1100, 'USD', 'Cancel answered U', merchant => 'SANDBOX_SUITE') \gset
SELECT payment_request_id AS prid_d2 FROM autodebit_pay('xena', 'mr-d2', 1200, 'USD', 'Cancel not carried out', merchant => 'SANDBOX_SUITE') \gset
SELECT test.fault('unknown', 'cancel');
SELECT status, cancel_wanted FROM autodebit_cancel(:'prid_d1');
SELECT test.fault('http500', 'cancel');
SELECT status, cancel_wanted FROM autodebit_cancel(:'prid_d2');
UPDATE autodebit.payment SET next_check_at = now() WHERE order_ref IN ('mr-d1', 'mr-d2');
SELECT test.err('SELECT autodebit_reconcile()');
SELECT order_ref, status FROM autodebit.payment WHERE order_ref IN ('mr-d1', 'mr-d2') ORDER BY order_ref;
SELECT test.debits('mr-d1') AS debits_d1, test.debits('mr-d2') AS debits_d2;

-- E. a cancel in a transaction that rolls back still returned the money: reconcile finds it
SELECT payment_request_id AS prid_e FROM autodebit_pay('xena', 'mr-e', 1300, 'USD', 'Cancel rolled back', merchant => 'SANDBOX_SUITE') \gset
BEGIN;
SELECT status FROM autodebit_cancel(:'prid_e');
ROLLBACK;
SELECT status FROM autodebit.payment WHERE order_ref = 'mr-e';
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT status, test.debits('mr-e') AS debits FROM autodebit.payment WHERE order_ref = 'mr-e';

-- F. a signed decline that names no request (one recorded elsewhere) is not a definite
--    failure: UNKNOWN, and the inquiry finds the debit; no second attempt is minted
SELECT test.fault('foreignfail', 'pay');
SELECT attempt, status FROM autodebit_pay('xena', 'mr-f', 1400, 'USD', 'Foreign decline', merchant => 'SANDBOX_SUITE');
SELECT attempt, status FROM autodebit_pay('xena', 'mr-f', 1400, 'USD', 'Foreign decline', merchant => 'SANDBOX_SUITE');
SELECT count(*) AS attempts, test.debits('mr-f') AS debits FROM autodebit.payment WHERE order_ref = 'mr-f';

-- G. the acquirer holds another amount than the one we sent under the same id (a rolled-back
--    pay of 500, then a pay of 600): the row says what the acquirer holds, and an operator hears
BEGIN;
SELECT status FROM autodebit_pay('xena', 'mr-g', 500, 'USD', 'Changed amount', merchant => 'SANDBOX_SUITE');
ROLLBACK;
SELECT status FROM autodebit_pay('xena', 'mr-g', 600, 'USD', 'Changed amount', merchant => 'SANDBOX_SUITE');
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT status, amount_minor FROM autodebit.payment WHERE order_ref = 'mr-g';
SELECT sqlstate, message FROM autodebit.item_error
WHERE ref = (SELECT payment_request_id FROM autodebit.payment WHERE order_ref = 'mr-g');

-- H. a run that raised (statement_timeout) in a backend that lives on: the next run there
--    recovers what it left SENDING, and reconcile settles it
SELECT dblink_connect('r1', test.connstr());
SELECT status FROM autodebit_pay('xena', 'mr-h', 1500, 'USD', 'Run timed out', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT test.fault('latency=1:1500', 'pay');
SELECT dblink_exec('r1', 'SET statement_timeout = ''500ms''');
SELECT dblink_exec('r1', 'CALL autodebit_run()', false) AS timed_out, dblink_error_message('r1') LIKE '%statement timeout%' AS why;
SELECT dblink_exec('r1', 'RESET statement_timeout');
SELECT status FROM autodebit.payment WHERE order_ref = 'mr-h';
SELECT pg_sleep(1.6);
SELECT dblink_exec('r1', 'CALL autodebit_run()');
SELECT status, test.debits('mr-h') AS debits FROM autodebit.payment WHERE order_ref = 'mr-h';

-- I. a sync pay for an order a run is sending right now returns at once and does not hold
--    up the run's batch while the caller's transaction stays open
SELECT status FROM autodebit_pay('xena', 'mr-i', 1600, 'USD', 'Being sent by a run', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT test.fault('latency=1:1000', 'pay');
SELECT dblink_send_query('r1', 'CALL autodebit_run()');
SELECT test.wait_for($$(SELECT status = 'SENDING' FROM autodebit.payment WHERE order_ref = 'mr-i')$$, 10) AS in_flight;
BEGIN;
SELECT status FROM autodebit_pay('xena', 'mr-i', 1600, 'USD', 'Being sent by a run', merchant => 'SANDBOX_SUITE');
SELECT test.wait_for($$dblink_is_busy('r1') = 0$$, 10) AS run_finished_meanwhile;
COMMIT;
SELECT * FROM dblink_get_result('r1') AS t(x text);
SELECT status, test.debits('mr-i') AS debits FROM autodebit.payment WHERE order_ref = 'mr-i';
SELECT dblink_disconnect('r1');

-- J. a signed answer holding a number no decoder can hold is UNKNOWN, not an error
SELECT test.fault('bignum', 'pay');
SELECT test.err($$SELECT autodebit_pay('xena', 'mr-j', 1700, 'USD', 'Big number', merchant => 'SANDBOX_SUITE')$$) AS error;
SELECT status FROM autodebit.payment WHERE order_ref = 'mr-j';

-- nothing in this file is left open
SELECT pg_sleep(1.1);
SELECT test.err('SELECT autodebit_reconcile()');
SELECT order_ref, status, cancel_wanted FROM autodebit.payment
WHERE order_ref LIKE 'mr-%' AND (status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
	  OR (cancel_wanted IS NOT NULL AND status = 'SUCCESS' AND refunded_minor < amount_minor));
RESET autodebit.order_close_grace;
