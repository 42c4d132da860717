-- Roles: autodebit_user calls the API, autodebit_admin also manages merchants; PUBLIC gets nothing.
\set VERBOSITY terse
CREATE ROLE app_backend LOGIN IN ROLE autodebit_user;
CREATE ROLE billing_admin LOGIN IN ROLE autodebit_admin;
CREATE ROLE outsider LOGIN;
SELECT autodebit_merchant_grant('SANDBOX_SUITE', 'app_backend');
SELECT a.status FROM test.authorize('hank', login => 'hank-wallet') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

-- no table, sequence or internal function is open to PUBLIC or to autodebit_user
SELECT count(*) AS public_grants FROM information_schema.role_table_grants
WHERE table_schema = 'autodebit' AND grantee = 'PUBLIC';
SELECT p.proname, has_function_privilege('autodebit_user', p.oid, 'EXECUTE') AS user_can,
	   has_function_privilege('outsider', p.oid, 'EXECUTE') AS outsider_can
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'autodebit' AND p.proname IN ('_exchange', '_call', '_random_id', '_check_keys')
ORDER BY 1;

-- every API function is SECURITY DEFINER with a pinned search_path
SELECT p.proname, p.prosecdef, p.proconfig
FROM pg_proc p WHERE p.proname LIKE 'autodebit\_%' AND p.pronamespace = 'public'::regnamespace
ORDER BY 1;

SET ROLE outsider;
SELECT test.err($$SELECT * FROM autodebit_pay('hank', 'order-7001', 100, 'USD', 'x')$$);
SELECT test.err($$SELECT * FROM autodebit.payments$$);
RESET ROLE;

SET ROLE app_backend;
SELECT order_ref, status FROM autodebit_pay('hank', 'order-7001', 100, 'USD', 'Role test');
SELECT count(*) AS visible_payments FROM autodebit.payments WHERE order_ref = 'order-7001';
SELECT test.err($$SELECT access_token_enc FROM autodebit.agreement$$);
SELECT test.err($$SELECT * FROM autodebit.payment$$);
SELECT test.err($$SELECT * FROM autodebit.exchange_log$$);
SELECT test.err($$SELECT autodebit._exchange(NULL::autodebit.merchant, 'pay', NULL, '{}')$$);
SELECT test.err($$SELECT * FROM autodebit_merchant_set('X', 'https://example.com', 'merchant-pkcs8.pem', 'x')$$);
SELECT test.err($$UPDATE autodebit.payment SET status = 'SUCCESS'$$);
RESET ROLE;

SET ROLE billing_admin;
SELECT client_id FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SUITE');
SELECT count(*) > 0 AS sees_log FROM autodebit.exchange_log;
SELECT test.err($$SELECT access_token_enc FROM autodebit.agreement$$);
RESET ROLE;

-- a hostile search_path cannot redirect the API's internals
CREATE SCHEMA evil;
CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT '\x00'::bytea $$;
GRANT USAGE ON SCHEMA evil TO app_backend;
SET ROLE app_backend;
SET search_path = evil, pg_catalog, public;   -- evil.sha256 now shadows pg_catalog's
SELECT encode(sha256('x'), 'hex') AS hijacked_here;
SELECT payment_request_id ~ '^ad_[0-9a-f]{40}_1$' AS real_hash FROM autodebit_pay('hank', 'order-7002', 100, 'USD', 'x');
RESET search_path;
RESET ROLE;
DROP SCHEMA evil CASCADE;
