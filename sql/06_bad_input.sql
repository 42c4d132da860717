-- Bad input: a specific SQLSTATE, a message a merchant understands, and no row changed.
\set VERBOSITY terse
SELECT a.status FROM test.authorize('gina', login => 'gina-wallet') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT test.counts() AS before \gset

CREATE TEMP TABLE cases (n serial, call text);
INSERT INTO cases (call) VALUES
	-- pay
	($$autodebit_pay('gina', 'o-1', 100, 'XXX', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 100, 'usd', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 0, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', -5, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', NULL, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 10.5, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 12345678901234567, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 150, 'IDR', 'd')$$),
	($$autodebit_pay('gina', repeat('x', 65), 100, 'USD', 'd')$$),
	($$autodebit_pay(repeat('c', 65), 'o-1', 100, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 100, 'USD', repeat('d', 257))$$),
	($$autodebit_pay('gina', '', 100, 'USD', 'd')$$),
	($$autodebit_pay('gina', E'o-\n1', 100, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 100, 'USD', 'd', customer_belongs_to => 'ALIPAY_MO')$$),
	($$autodebit_pay('nobody', 'o-1', 100, 'USD', 'd')$$),
	($$autodebit_pay('gina', 'o-1', 100, 'USD', 'd', customer_belongs_to => 'DANA')$$),
	($$autodebit_pay('gina', 'o-1', 100, 'USD', 'd', merchant => 'NO_SUCH_CLIENT')$$),
	-- consult
	($$autodebit_consult('gina', 'NOT_A_WALLET', 'https://m.example/back')$$),
	($$autodebit_consult('gina', 'GCASH', 'not a url')$$),
	($$autodebit_consult('gina', 'GCASH', 'https://m.example/back', terminal_type => 'WATCH')$$),
	($$autodebit_consult('gina', 'GCASH', 'https://m.example/back', terminal_type => 'APP')$$),
	($$autodebit_consult('gina', 'GCASH', 'https://m.example/back', os_type => 'BEOS')$$),
	($$autodebit_consult(NULL, 'GCASH', 'https://m.example/back')$$),
	-- apply_token
	($$autodebit_apply_token('no-such-state', 'code')$$),
	($$autodebit_apply_token(repeat('s', 257), 'code')$$),
	($$autodebit_apply_token('state', repeat('c', 129))$$),
	($$autodebit_apply_token('state', NULL)$$),
	-- revoke
	($$autodebit_revoke('nobody')$$),
	($$autodebit_revoke('gina', customer_belongs_to => 'NOT_A_WALLET')$$),
	-- merchant_set
	($$autodebit_merchant_set('BAD', 'ftp://127.0.0.1:1', 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'http://203.0.113.5:8080', 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'http://127.0.0.1.example.com:8080', 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com/ams/api', 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com', '../etc/passwd', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com', 'missing.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com', 'not-a-key.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com', 'world-readable.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com', 'merchant-pkcs8.pem', 'bm90IGEga2V5')$$),
	($$autodebit_merchant_set('BAD CLIENT', 'https://example.com', 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'))$$),
	($$autodebit_merchant_set('BAD', 'https://example.com', 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), key_version => 0)$$),
	-- lifecycle and schedules
	($$autodebit_inquire('no-such-payment')$$),
	($$autodebit_cancel('no-such-payment')$$),
	($$autodebit_refund('no-such-payment', 0)$$),
	($$autodebit_inquire_refund('no-such-refund')$$),
	($$autodebit_schedule('gina', 100, 'XXX', 'd')$$),
	($$autodebit_schedule('gina', 0, 'USD', 'd')$$),
	($$autodebit_schedule('gina', 100, 'USD', 'd', every => '30 seconds')$$),
	($$autodebit_schedule('nobody', 100, 'USD', 'd')$$),
	($$autodebit_schedule_pause(-1)$$),
	($$autodebit_handle_notification('/notify', 'NO_SUCH_CLIENT', '1', 'sig', '{}')$$);

-- each call beside its error (long arguments shortened, so the table stays readable)
SELECT regexp_replace(call, 'repeat\(''(.)'', (\d+)\)', '<\1 x \2>', 'g') AS call,
	   test.err('SELECT * FROM ' || call) AS error
FROM cases ORDER BY n;
SELECT test.counts() = :'before' AS nothing_changed;

-- a merchant key the acquirer does not know: the request is refused, nothing is recorded
SELECT client_id FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SUITE');
