-- Money invariants: one debit per order across rollbacks, declines and pending results.
\set VERBOSITY terse
SELECT a.status FROM test.authorize('carol', login => 'carol-wallet') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

-- pay, ROLLBACK, pay again: the same paymentRequestId goes out twice, the wallet is debited once
BEGIN;
SELECT attempt, status FROM autodebit_pay('carol', 'order-2001', 500, 'USD', 'Box of tea');
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM autodebit.payment WHERE order_ref = 'order-2001';
SELECT test.debits('order-2001') AS debits;
SELECT attempt, status, payment_request_id ~ '_1$' AS first_id FROM autodebit_pay('carol', 'order-2001', 500, 'USD', 'Box of tea');
SELECT test.debits('order-2001') AS debits;
-- the rolled-back send is in the journal, which a rollback cannot erase: two lines, one id
SELECT count(*) AS journal_lines, count(DISTINCT request_id) AS ids,
	   bool_and(body->'paymentMethod'->>'paymentMethodId' = '@@autodebit_secret@@') AS no_token
FROM test.journal() WHERE body->'order'->>'referenceOrderId' = 'order-2001';

-- a definite failure is recorded (not raised) and the next try is a new attempt with a new id
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2002', 9001, 'USD', 'Declined tea');
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2002', 9001, 'USD', 'Declined tea');
SELECT count(DISTINCT payment_request_id) AS ids, test.debits('order-2002') AS debits
FROM autodebit.payment WHERE order_ref = 'order-2002';
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2003', 9005, 'USD', 'Risky tea');

-- PAYMENT_IN_PROCESS is not final: PROCESSING, then the same request again settles it
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2004', 9003, 'USD', 'Slow tea');
SELECT pg_sleep(0.7);
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2004', 9003, 'USD', 'Slow tea');
SELECT count(DISTINCT request_id) AS ids_sent FROM autodebit.exchange_log l
	JOIN autodebit.payment p ON p.payment_request_id = l.request_id WHERE p.order_ref = 'order-2004';
SELECT test.debits('order-2004') AS debits;
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2005', 9004, 'USD', 'Slow no tea');
SELECT pg_sleep(0.7);
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2005', 9004, 'USD', 'Slow no tea');

-- an unfinished payment cannot be re-sent with other details
SELECT attempt, status FROM autodebit_pay('carol', 'order-2006', 9003, 'USD', 'Pending tea');
SELECT test.err($$SELECT autodebit_pay('carol', 'order-2006', 9100, 'USD', 'Pending tea')$$);

-- deferred: QUEUED in the caller's transaction, nothing sent; a later pay sends it
SELECT count(*) AS pay_calls_before FROM autodebit.exchange_log WHERE api = 'pay' \gset
SELECT attempt, status FROM autodebit_pay('carol', 'order-2007', 700, 'USD', 'Later tea', deferred => true);
SELECT count(*) - :pay_calls_before AS new_pay_calls FROM autodebit.exchange_log WHERE api = 'pay';
SELECT test.debits('order-2007') AS debits;
SELECT attempt, status FROM autodebit_pay('carol', 'order-2007', 700, 'USD', 'Later tea');
SELECT test.debits('order-2007') AS debits;

-- the schema itself refuses a second SUCCESS for one order and a non-positive amount
SELECT test.err($$INSERT INTO autodebit.payment (merchant_id, payment_request_id, order_ref, attempt, customer_ref,
		customer_belongs_to, agreement_id, amount_minor, currency, description, status, request_body, token_enc, token_aad)
	SELECT merchant_id, 'manual', order_ref, 9, customer_ref, customer_belongs_to, agreement_id, amount_minor,
		currency, description, 'SUCCESS', request_body, token_enc, token_aad
	FROM autodebit.payment WHERE order_ref = 'order-2001'$$);
SELECT test.err($$UPDATE autodebit.payment SET amount_minor = 0 WHERE order_ref = 'order-2001'$$);

-- the sandbox ledger and the payment table agree on every order of this file
SELECT p.order_ref, p.status, e->>'status' AS acquirer_status
FROM autodebit.payment p
LEFT JOIN LATERAL (SELECT e FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
				   WHERE e->>'paymentRequestId' = p.payment_request_id) l ON true
WHERE p.order_ref LIKE 'order-20%' ORDER BY p.order_ref, p.attempt;

-- a rolled-back send, then the same order with another amount: the acquirer refuses the reused id
-- (REPEAT_REQ_INCONSISTENT); that is not a definite failure, since the first request debited
BEGIN;
SELECT status FROM autodebit_pay('carol', 'order-2008', 500, 'USD', 'Changed mind');
ROLLBACK;
SELECT attempt, status, result_code FROM autodebit_pay('carol', 'order-2008', 600, 'USD', 'Changed mind');
SELECT test.err($$SELECT autodebit_pay('carol', 'order-2008', 700, 'USD', 'Changed mind')$$);
SELECT test.debits('order-2008') AS debits;
