-- The payment lifecycle: unknowns resolved by reconcile, orphans from a rollback adopted and
-- cancelled, cancel, refunds, and access tokens that expire.
\set VERBOSITY terse
SET autodebit.order_close_grace = '1s';		-- Antom closes payments after 60 s; the sandbox at once
SELECT a.status FROM test.authorize('kim', login => 'kim-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

-- each unknown kind, then autodebit_reconcile() finds out what really happened
CREATE TEMP TABLE unknowns (n int, kind text, times int);
INSERT INTO unknowns VALUES (1, 'reset', 2), (2, 'http500', 1), (3, 'unknown', 1), (4, 'badsig', 1), (5, 'truncate', 1);
SELECT u.kind, p.status
FROM unknowns u, LATERAL test.fault(u.kind, 'pay', u.times) f,
	 LATERAL autodebit_pay('kim', 'order-1000' || u.n, 700, 'USD', 'Unknown ' || u.kind, merchant => 'SANDBOX_SUITE') p
ORDER BY u.n;
SELECT pg_sleep(1.1);
SELECT inquired >= 5 AS inquired_all, still_open FROM autodebit_reconcile();
-- applied requests are SUCCESS; the one the acquirer never received (http500) is FAIL
SELECT u.kind, p.status, p.result_code, p.checks, test.debits(p.order_ref) AS debits
FROM unknowns u JOIN autodebit.payment p ON p.order_ref = 'order-1000' || u.n
ORDER BY u.n;

-- PAYMENT_IN_PROCESS that settles later: reconcile leaves it PROCESSING, then settles it
SELECT status FROM autodebit_pay('kim', 'order-10011', 9003, 'USD', 'Settles later', merchant => 'SANDBOX_SUITE');
SELECT still_open FROM autodebit_reconcile();
SELECT status, next_check_at > now() AS backing_off FROM autodebit.payment WHERE order_ref = 'order-10011';
SELECT pg_sleep(0.6);
UPDATE autodebit.payment SET next_check_at = now() WHERE order_ref = 'order-10011';  -- time passes
SELECT resolved FROM autodebit_reconcile();
SELECT status, result_code FROM autodebit.payments WHERE order_ref = 'order-10011';

-- pay inside a transaction that rolls back: the debit happened; reconcile adopts and cancels it
BEGIN;
SELECT status FROM autodebit_pay('kim', 'order-10020', 2500, 'USD', 'Rolled back', merchant => 'SANDBOX_SUITE');
ROLLBACK;
SELECT count(*) AS rows FROM autodebit.payment WHERE order_ref = 'order-10020';
SELECT test.debits('order-10020') AS debits_before;
SELECT pg_sleep(1.1);
SELECT orphans_adopted, orphans_cancelled FROM autodebit_reconcile();
SELECT order_ref, attempt, status, is_orphan, customer_ref FROM autodebit.payments WHERE order_ref = 'order-10020';
SELECT test.debits('order-10020') AS debits_after;
-- reconciling again adopts nothing more
SELECT orphans_adopted FROM autodebit_reconcile();
-- the order can be paid again, with a new attempt
SELECT attempt, status FROM autodebit_pay('kim', 'order-10020', 2500, 'USD', 'Rolled back', merchant => 'SANDBOX_SUITE');

-- the sandbox ledger and the payment table agree exactly, payment by payment (a payment the
-- acquirer never received is FAIL/ORDER_NOT_EXIST here and absent there)
CREATE TEMP TABLE ours AS
	SELECT payment_request_id, status, result_code FROM autodebit.payment
	WHERE merchant_id = (SELECT id FROM autodebit.merchant WHERE client_id = 'SANDBOX_SUITE');
CREATE TEMP TABLE theirs AS
	SELECT e->>'paymentRequestId' AS payment_request_id, e->>'status' AS status
	FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
	WHERE e->>'clientId' = 'SANDBOX_SUITE';
SELECT o.payment_request_id AS ours, o.status, t.payment_request_id AS theirs, t.status
FROM ours o FULL JOIN theirs t USING (payment_request_id)
WHERE o.status IS DISTINCT FROM t.status
  AND NOT (t.status IS NULL AND o.status = 'FAIL' AND o.result_code = 'ORDER_NOT_EXIST');
SELECT count(*) >= 7 AS payments_compared FROM ours o JOIN theirs t USING (payment_request_id);

-- cancel: the payment is closed and the money goes back
SELECT status FROM autodebit_pay('kim', 'order-10030', 900, 'USD', 'To cancel', merchant => 'SANDBOX_SUITE');
SELECT (test.sandbox('GET', 'users/kim-wallet')->'balance'->>'USD')::bigint AS balance \gset
SELECT status, cancel_time IS NOT NULL AS has_cancel_time
FROM autodebit_cancel((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-10030'));
SELECT (test.sandbox('GET', 'users/kim-wallet')->'balance'->>'USD')::bigint - :balance AS returned;
SELECT status FROM autodebit_cancel((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-10030'));

-- refunds: partial, several, never more than paid; a retry after rollback sends the same id
SELECT status, payment_request_id AS prid FROM autodebit_pay('kim', 'order-10040', 1200, 'USD', 'To refund', merchant => 'SANDBOX_SUITE') \gset
SELECT seq, amount_minor, status, refund_request_id ~ '^rf_[0-9a-f]{40}_1$' AS derived_id FROM autodebit_refund(:'prid', 500, 'damaged box');
SELECT seq, amount_minor, status FROM autodebit_refund(:'prid', 300);
SELECT test.err(format('SELECT * FROM autodebit_refund(%L, 500)', :'prid'));
BEGIN;
SELECT seq, amount_minor, status FROM autodebit_refund(:'prid', 100);
ROLLBACK;
SELECT seq, amount_minor, status FROM autodebit_refund(:'prid', 100);
SELECT refunded_minor FROM autodebit.payments WHERE payment_request_id = :'prid';
SELECT count(*) AS acquirer_refunds, sum((e->>'amount')::bigint) AS refunded
FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'refunds') e WHERE e->>'paymentRequestId' = :'prid';
SELECT status FROM autodebit_inquire_refund((SELECT refund_request_id FROM autodebit.refunds WHERE payment_request_id = :'prid' AND seq = 1));
-- a refund that is processing, then settles
SELECT status, payment_request_id AS prid2 FROM autodebit_pay('kim', 'order-10041', 9500, 'USD', 'Slow refund', merchant => 'SANDBOX_SUITE') \gset
SELECT status, result_code FROM autodebit_refund(:'prid2', 9003);
SELECT pg_sleep(0.6);
SELECT status FROM autodebit_inquire_refund((SELECT refund_request_id FROM autodebit.refunds WHERE payment_request_id = :'prid2'));
-- the schema refuses refunds beyond the amount paid even without the function
SELECT test.err(format($$UPDATE autodebit.payment SET refunded_minor = amount_minor + 1 WHERE payment_request_id = %L$$, :'prid'));
SELECT test.err($$SELECT * FROM autodebit_refund('no-such-payment', 100)$$);
SELECT test.err(format('SELECT * FROM autodebit_refund(%L, 100)',
	(SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-10030')));

-- inquire by hand
SELECT status FROM autodebit_inquire(:'prid');

-- tokens that expire: a sandbox whose access tokens live 3 s and refresh tokens 8 s
SELECT client_id FROM autodebit_merchant_set('SANDBOX_SHORT', current_setting('autodebit_test.short_gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SHORT');
SELECT a.status FROM test.authorize('lee', merchant => 'SANDBOX_SHORT') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT access_token_fp AS fp0 FROM autodebit.agreement WHERE customer_ref = 'lee' \gset
-- the token expires within autodebit.token_refresh_window (1 h): pay refreshes it first
SELECT attempt, status FROM autodebit_pay('lee', 'order-10050', 100, 'USD', 'Refreshed', merchant => 'SANDBOX_SHORT');
SELECT access_token_fp <> :'fp0' AS new_token FROM autodebit.agreement WHERE customer_ref = 'lee';
SELECT api, outcome FROM autodebit.exchange_log WHERE merchant_id = (SELECT id FROM autodebit.merchant WHERE client_id = 'SANDBOX_SHORT') ORDER BY id;
-- an explicit refresh
SELECT status FROM autodebit_refresh_token('lee', merchant => 'SANDBOX_SHORT');
-- the acquirer refuses the token (9002): pay refreshes once and tries again with a new id
SET autodebit.token_refresh_window = 0;
SELECT attempt, status, result_code FROM autodebit_pay('lee', 'order-10051', 9002, 'USD', 'Refused token', merchant => 'SANDBOX_SHORT');
SELECT count(*) AS attempts FROM autodebit.payments WHERE order_ref = 'order-10051';
RESET autodebit.token_refresh_window;
-- once the refresh token has expired too, pay says the user must authorize again
SELECT pg_sleep(8.5);
SELECT test.err($$SELECT * FROM autodebit_pay('lee', 'order-10052', 100, 'USD', 'Too late', merchant => 'SANDBOX_SHORT')$$);
SELECT agreements_expired FROM autodebit_reconcile();
SELECT status, end_reason FROM autodebit.agreements WHERE customer_ref = 'lee';
SELECT test.err($$SELECT * FROM autodebit_pay('lee', 'order-10052', 100, 'USD', 'Too late', merchant => 'SANDBOX_SHORT')$$);
RESET autodebit.order_close_grace;
