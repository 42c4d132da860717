-- Every transport or protocol fault leaves the payment UNKNOWN: never SUCCESS, never FAIL.
-- Paying the order again re-sends the same request, and the wallet is debited once.
\set VERBOSITY terse
SELECT a.status FROM test.authorize('dave', login => 'dave-wallet') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

-- "times": libcurl re-sends once by itself when a reused connection closes without an answer
-- (the same bytes, so the same paymentRequestId); a reset must happen twice to reach us.
CREATE TEMP TABLE kinds (n int, kind text, applied boolean, times int);
INSERT INTO kinds VALUES (1, 'reset', true, 2), (2, 'http500', false, 1), (3, 'traffic', false, 1),
	(4, 'unknown', true, 1), (5, 'unsigned', true, 1), (6, 'badsig', true, 1), (7, 'truncate', true, 1);

-- each fault on the first send
SELECT k.kind, p.status, p.result_code, test.debits(p.order_ref) AS debits_so_far, k.applied
FROM kinds k,
	 LATERAL test.fault(k.kind, 'pay', k.times) f,
	 LATERAL autodebit_pay('dave', 'order-300' || k.n, 1200, 'HKD', 'Fault ' || k.kind) p
ORDER BY k.n;
SELECT test.sandbox('POST', 'faults', '{"clear":true}')->'next' AS faults_left;

-- why each was not believed
SELECT l.outcome, coalesce(l.result_code, l.error) AS reason
FROM autodebit.exchange_log l JOIN autodebit.payment p ON p.payment_request_id = l.request_id
WHERE p.order_ref LIKE 'order-300%' ORDER BY l.id;

-- pay again: the same id and body; the acquirer's idempotency gives one debit each
SELECT k.kind, p.attempt, p.status, test.debits(p.order_ref) AS debits
FROM kinds k, LATERAL autodebit_pay('dave', 'order-300' || k.n, 1200, 'HKD', 'Fault ' || k.kind) p
ORDER BY k.n;
