-- Notifications from the acquirer: end to end through autodebit-notifyd, and directly:
-- replays, out-of-order older states, bad signatures, orphans.
\set VERBOSITY terse

-- a notification signed by the openssl command line with the sandbox's (the acquirer's) key
CREATE FUNCTION test.acquirer_signature(path text, client_id text, request_time text, body text)
RETURNS text LANGUAGE sql AS $$
	SELECT 'algorithm=RSA256,keyVersion=1,signature=' || test.sh(format(
		'printf %%s %s | openssl dgst -sha256 -sign %s | base64 -w0 | sed -e s/+/%%2B/g -e s_/_%%2F_g -e s/=/%%3D/g',
		test.shq('POST ' || path || E'\n' || client_id || '.' || request_time || '.' || body),
		test.shq(current_setting('autodebit_test.sandbox_key_file'))))
$$;
-- notifications about this test's orders
CREATE FUNCTION test.notes() RETURNS TABLE (kind text, notify_type text, outcome text) LANGUAGE sql AS $$
	SELECT kind, notify_type, outcome FROM autodebit.notification ORDER BY id
$$;

-- the merchant's notify URLs point at autodebit-notifyd
SELECT client_id, payment_notify_url LIKE 'http://127.0.0.1:%/notify/payment' AS notify_ok
FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SUITE',
	payment_notify_url => current_setting('autodebit_test.notify_url') || 'payment',
	auth_notify_url => current_setting('autodebit_test.notify_url') || 'auth');

-- AUTHCODE_CREATED: the agreement exists before the app calls apply_token; the app's call then
-- finds the auth_state used (the first of the two to arrive wins)
CREATE TEMP TABLE t AS SELECT * FROM test.authorize('nina', login => 'nina-wallet', merchant => 'SANDBOX_SUITE');
SELECT test.wait_for($$EXISTS (SELECT FROM autodebit.agreement WHERE customer_ref = 'nina')$$) AS arrived;
SELECT customer_ref, status, user_login_id FROM autodebit.agreements WHERE customer_ref = 'nina';
SELECT test.err(format('SELECT * FROM autodebit_apply_token(%L, %L)', (SELECT auth_state FROM t), (SELECT auth_code FROM t)));
SELECT * FROM test.notes();

-- notifyPayment: a payment in process is settled by the acquirer's notification, without an inquiry
SELECT status FROM autodebit_pay('nina', 'order-11001', 9003, 'PHP', 'Notified', merchant => 'SANDBOX_SUITE');
SELECT test.wait_for($$(SELECT status = 'SUCCESS' FROM autodebit.payment WHERE order_ref = 'order-11001')$$) AS arrived;
SELECT status, result_code FROM autodebit.payments WHERE order_ref = 'order-11001';
SELECT count(*) AS inquiries FROM autodebit.exchange_log l JOIN autodebit.payment p ON p.payment_request_id = l.request_id
WHERE p.order_ref = 'order-11001' AND l.api = 'inquiryPayment';

-- a receiver that fails answers an error status, and the acquirer sends again until acknowledged
ALTER FUNCTION autodebit_handle_notification(text, text, text, text, bytea) RENAME TO autodebit_handle_notification_away;
SELECT status FROM autodebit_pay('nina', 'order-11002', 9003, 'PHP', 'Notified late', merchant => 'SANDBOX_SUITE');
-- the sandbox settles it after 500 ms and tries to tell us; the receiver refuses (twice at least)
SELECT test.wait_for($$(SELECT count(*) >= 2 FROM regexp_split_to_table(
	pg_read_file(current_setting('autodebit_test.notifyd_log')), E'\n') l
	WHERE l ~ '/notify/payment client=SANDBOX_SUITE -> 503')$$) AS refused;
SELECT status AS before_receiver_is_back FROM autodebit.payments WHERE order_ref = 'order-11002';
ALTER FUNCTION autodebit_handle_notification_away(text, text, text, text, bytea) RENAME TO autodebit_handle_notification;
SELECT test.wait_for($$(SELECT status = 'SUCCESS' FROM autodebit.payment WHERE order_ref = 'order-11002')$$) AS arrived;
SELECT status AS after FROM autodebit.payments WHERE order_ref = 'order-11002';
SELECT (n->>'attempts')::int >= 2 AS sent_again, n->>'acknowledged' AS acknowledged
FROM jsonb_array_elements(test.sandbox('GET', 'notifications')) n,
	 autodebit.payments p
WHERE p.order_ref = 'order-11002' AND n->>'paymentRequestId' = p.payment_request_id;

-- directly: a signed notification, its replay, an older state arriving late, a forged one
CREATE TEMP TABLE n AS SELECT
	'/notify/payment' AS path, '1764000000000' AS rtime,
	json_build_object('notifyType', 'PAYMENT_RESULT',
		'result', json_build_object('resultCode', 'USER_BALANCE_NOT_ENOUGH', 'resultStatus', 'F', 'resultMessage', 'late'),
		'paymentRequestId', (SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-11001'))::text AS body;
SELECT count(*) AS notes_before FROM autodebit.notification \gset
SELECT autodebit_handle_notification(path, 'SANDBOX_SUITE', rtime,
		test.acquirer_signature(path, 'SANDBOX_SUITE', rtime, body), body) AS ack FROM n;
SELECT status, result_code FROM autodebit.payments WHERE order_ref = 'order-11001';
SELECT kind, notify_type, outcome FROM autodebit.notification ORDER BY id DESC LIMIT 1;
-- the replay is acknowledged and recorded once
SELECT autodebit_handle_notification(path, 'SANDBOX_SUITE', rtime,
		test.acquirer_signature(path, 'SANDBOX_SUITE', rtime, body), body) = autodebit._ack() AS acknowledged FROM n;
SELECT count(*) - :notes_before AS new_notes FROM autodebit.notification;
-- forged: signed, then altered; or signed for another path; or not signed
SELECT test.err(format('SELECT autodebit_handle_notification(%L, %L, %L, %L, %L)', path, 'SANDBOX_SUITE', rtime,
		test.acquirer_signature(path, 'SANDBOX_SUITE', rtime, body), replace(body, 'late', 'LATE'))) FROM n;
SELECT test.err(format('SELECT autodebit_handle_notification(%L, %L, %L, %L, %L)', '/elsewhere', 'SANDBOX_SUITE', rtime,
		test.acquirer_signature(path, 'SANDBOX_SUITE', rtime, body), body)) FROM n;
SELECT test.err(format('SELECT autodebit_handle_notification(%L, %L, %L, NULL, %L)', path, 'SANDBOX_SUITE', rtime, body)) FROM n;
SELECT count(*) - :notes_before AS new_notes FROM autodebit.notification;
SELECT status FROM autodebit.payments WHERE order_ref = 'order-11001';
-- a notification about a payment we never made is kept as an orphan, not dropped
SELECT autodebit_handle_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000001',
		test.acquirer_signature('/notify/payment', 'SANDBOX_SUITE', '1764000000001', '{"notifyType":"PAYMENT_RESULT","result":{"resultStatus":"S","resultCode":"SUCCESS"},"paymentRequestId":"not-ours"}'),
		'{"notifyType":"PAYMENT_RESULT","result":{"resultStatus":"S","resultCode":"SUCCESS"},"paymentRequestId":"not-ours"}') = autodebit._ack() AS acknowledged;
SELECT kind, ref, outcome FROM autodebit.notification ORDER BY id DESC LIMIT 1;

-- TOKEN_CANCELED: the user cancels inside the wallet; the next pay is refused
SELECT test.sandbox('POST', 'revoke', '{"userLoginId":"nina-wallet","reason":"no longer wanted"}') AS revoked;
SELECT test.wait_for($$(SELECT status <> 'ACTIVE' FROM autodebit.agreement WHERE customer_ref = 'nina')$$) AS arrived;
SELECT status, end_reason FROM autodebit.agreements WHERE customer_ref = 'nina';
SELECT test.err($$SELECT * FROM autodebit_pay('nina', 'order-11003', 100, 'PHP', 'After cancel', merchant => 'SANDBOX_SUITE')$$);
-- the stored notification holds no token, only its fingerprint
SELECT body ? 'accessToken' AS has_token, access_token_fp IS NOT NULL AS has_fingerprint
FROM autodebit.notification WHERE notify_type = 'TOKEN_CANCELED';

SELECT kind, notify_type, outcome, count(*) FROM autodebit.notification GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
