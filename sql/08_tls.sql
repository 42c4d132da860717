-- TLS: https is always verified.  A gateway whose certificate is not trusted gives no answer
-- autodebit believes; naming its CA in autodebit.ca_file (superuser only) makes it work.
\set VERBOSITY terse
SELECT current_setting('autodebit_test.tls_gateway') LIKE 'https://127.0.0.1:%' AS https;
SELECT client_id FROM autodebit_merchant_set('SANDBOX_TLS', current_setting('autodebit_test.tls_gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_TLS');

-- untrusted self-signed certificate: the call is not believed, nothing is recorded
SELECT test.err_detail($$SELECT * FROM autodebit_consult('tina', 'GCASH', 'https://merchant.example/back', merchant => 'SANDBOX_TLS')$$);
SELECT count(*) AS sessions FROM autodebit.consult_session WHERE customer_ref = 'tina';

-- ca_file is superuser-only
CREATE ROLE tls_user LOGIN IN ROLE autodebit_user;
SET ROLE tls_user;
SELECT test.err($$SET autodebit.ca_file = '/tmp/anything.pem'$$);
RESET ROLE;
DROP ROLE tls_user;

-- trusting the sandbox's certificate: the whole flow works over https
SELECT set_config('autodebit.ca_file', current_setting('autodebit_test.tls_ca_file'), false) IS NOT NULL AS ca_set;
SELECT a.status FROM test.authorize('tina', merchant => 'SANDBOX_TLS') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT status FROM autodebit_pay('tina', 'order-9001', 100, 'USD', 'Over TLS', merchant => 'SANDBOX_TLS');
RESET autodebit.ca_file;
