-- Wire fidelity (what the official SDKs send and Antom's docs require): no Expect header
-- whatever libcurl's version, pay's settlementStrategy and the agreement's OS, refunds' own
-- notify URL, both single-payment limit codes, and the SDKs' Request-Time forms.
\set VERBOSITY terse

-- no "Expect: 100-continue": Debian 12's libcurl adds it from 1 MiB of body (older ones from
-- 1 KiB); the sandbox counts the requests that carry one.  A 1.1 MB consult (refused as too
-- large, so its outcome is unknown) is the body that would carry it.
SELECT coalesce((test.sandbox('GET', 'stats')->'requests'->>'with_expect_header')::int, 0) AS expect_before \gset
SELECT test.err(format('SELECT autodebit._exchange(m, %L, NULL, %L::jsonb) FROM autodebit.merchant m WHERE m.client_id = %L',
	'consult', json_build_object('authState', repeat('x', 1100000))::text, 'SANDBOX_SUITE')) ~ '^no error' AS sent;
SELECT coalesce((test.sandbox('GET', 'stats')->'requests'->>'with_expect_header')::int, 0) - :expect_before
	AS requests_with_expect_header;

-- settlementStrategy.settlementCurrency: a merchant setting, sent in pay when set; the sandbox
-- of a merchant that settles in USD and SGD refuses a pay without it
SELECT client_id, settlement_currency FROM autodebit_merchant_set('SANDBOX_SETTLE',
	current_setting('autodebit_test.settle_gateway'), 'merchant-pkcs8.pem',
	current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SETTLE');
SELECT a.status FROM test.authorize('wire-a', login => 'wire-a-wallet', merchant => 'SANDBOX_SETTLE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT status, result_code FROM autodebit_pay('wire-a', 'wire-order-1', 500, 'USD', 'no settlement currency',
	merchant => 'SANDBOX_SETTLE');
SELECT result_message FROM autodebit.payments WHERE order_ref = 'wire-order-1';
SELECT client_id, settlement_currency FROM autodebit_merchant_set('SANDBOX_SETTLE',
	current_setting('autodebit_test.settle_gateway'), 'merchant-pkcs8.pem',
	current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SETTLE', settlement_currency => 'SGD');
SELECT status, result_code FROM autodebit_pay('wire-a', 'wire-order-2', 500, 'USD', 'settles in SGD',
	merchant => 'SANDBOX_SETTLE');
SELECT request_body->'settlementStrategy' AS sent FROM autodebit.payment WHERE order_ref = 'wire-order-2';
SELECT test.err($$SELECT * FROM autodebit_merchant_set('SANDBOX_SETTLE', current_setting('autodebit_test.settle_gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), settlement_currency => 'XXX')$$);

-- the terminal and OS of an APP (or WAP) authorization go into pay's env and order.env
-- (with a merchant that has no auth notify URL: the app's apply_token is the only one)
SELECT c.auth_url IS NOT NULL AS consulted FROM autodebit_consult('wire-b', 'GCASH', 'https://merchant.example/back',
	terminal_type => 'APP', os_type => 'IOS', merchant => 'SANDBOX_SETTLE') c;
SELECT a.status, a.os_type FROM (SELECT * FROM autodebit.consult_session WHERE customer_ref = 'wire-b') s,
	LATERAL (SELECT substring(test.sh(format('curl -sSk -o /dev/null -w %s %s', test.shq('%{redirect_url}'),
		test.shq(s.auth_url || '&decision=agree&user=wire-b-wallet'))) from 'authCode=([^&]+)') AS code) c,
	LATERAL autodebit_apply_token(s.auth_state, c.code) a;
SELECT status FROM autodebit_pay('wire-b', 'wire-order-3', 500, 'USD', 'from the app', merchant => 'SANDBOX_SETTLE');
SELECT request_body->'env' AS env, request_body->'order'->'env' AS order_env
FROM autodebit.payment WHERE order_ref = 'wire-order-3';

-- refunds have their own notify URL (else the payment one)
SELECT client_id, refund_notify_url IS NOT NULL AS has_refund_url FROM autodebit_merchant_set('SANDBOX_SETTLE',
	current_setting('autodebit_test.settle_gateway'), 'merchant-pkcs8.pem',
	current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SETTLE', settlement_currency => 'SGD',
	payment_notify_url => 'https://merchant.example/notify/payment',
	refund_notify_url => 'https://merchant.example/notify/refund');
SELECT status FROM autodebit_pay('wire-a', 'wire-order-4', 700, 'USD', 'to refund', merchant => 'SANDBOX_SETTLE');
SELECT r.status FROM autodebit.payments p, LATERAL autodebit_refund(p.payment_request_id, 100) r
WHERE p.order_ref = 'wire-order-4';
SELECT j.body->>'refundNotifyUrl' AS refund_notify_url_sent
FROM test.journal() j JOIN autodebit.refunds r ON r.refund_request_id = j.request_id
JOIN autodebit.payments p ON p.payment_request_id = r.payment_request_id
WHERE j.api = 'refund' AND p.order_ref = 'wire-order-4';

-- both single-payment limit codes are declines the dunning retries later
SELECT p.order_ref, p.status, p.result_code, autodebit._retryable(p.result_code) AS retried_by_dunning
FROM (VALUES ('wire-order-5', 9006), ('wire-order-6', 9007)) v(o, amount),
	 LATERAL autodebit_pay('wire-a', v.o, v.amount, 'USD', 'limit', merchant => 'SANDBOX_SETTLE') p
ORDER BY 1;

-- notifications signed with either Request-Time form the SDKs send: epoch ms, and ISO 8601
SELECT rt, autodebit_handle_notification('/notify/payment', 'SANDBOX_SUITE', rt,
		test.acquirer_signature('/notify/payment', 'SANDBOX_SUITE', rt, b), b) = autodebit._ack() AS acknowledged
FROM (VALUES ('1764000000123'), ('2026-12-02T10:00:00+08:00')) v(rt),
	 LATERAL (SELECT format('{"notifyType":"PAYMENT_PENDING","paymentRequestId":"wire-time-%s"}', v.rt) AS b) x
ORDER BY 1;
