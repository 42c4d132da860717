-- Secrets and outsiders' input: autodebit-notifyd as a plain role logs no token or authCode;
-- secrets nested anywhere in a notification are not stored; API users are not shown key
-- paths; a data key rotation keeps TOKEN_CANCELED working and old keys can be retired;
-- URLs, paths and bodies from outsiders are checked.
\set VERBOSITY terse
SELECT regexp_replace(current_setting('autodebit_test.log_file'), '/log/postgresql.log$', '') AS work,
	   current_setting('autodebit.key_directory') AS keydir,
	   current_setting('autodebit_test.notify_url') AS notify_url \gset
CREATE ROLE sec_user LOGIN IN ROLE autodebit_user;

-- every error field, for checking what a caller is shown
CREATE FUNCTION test.err_all(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	m text;
	d text;
	h text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
		h = PG_EXCEPTION_HINT;
	RETURN st || ': ' || m || ' / ' || coalesce(d, '') || ' / ' || coalesce(h, '');
END
$$;
GRANT EXECUTE ON FUNCTION test.err_all(text) TO PUBLIC;

-- POST a notification to autodebit-notifyd, signed with the acquirer's key unless signature is
-- given; the body goes through files (it may be larger than a command line); returns
-- "<HTTP status> <answer>".
CREATE FUNCTION test.post_notification(path text, client_id text, rtime text, body text,
		signature text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	dir text := regexp_replace(current_setting('autodebit_test.log_file'), '/log/postgresql.log$', '');
BEGIN
	EXECUTE format('COPY (SELECT translate(encode(convert_to(%L, ''UTF8''), ''base64''), E''\n'', '''')) TO PROGRAM %L',
		body, 'base64 -d > ' || dir || '/n-body');
	EXECUTE format('COPY (SELECT translate(encode(convert_to(%L, ''UTF8''), ''base64''), E''\n'', '''')) TO PROGRAM %L',
		'POST ' || path || E'\n' || client_id || '.' || rtime || '.' || body, 'base64 -d > ' || dir || '/n-msg');
	IF signature IS NULL THEN
		signature := 'algorithm=RSA256,keyVersion=1,signature=' || test.sh(format(
			'openssl dgst -sha256 -sign %s %s | base64 -w0 | sed -e s/+/%%2B/g -e s_/_%%2F_g -e s/=/%%3D/g',
			test.shq(current_setting('autodebit_test.sandbox_key_file')), test.shq(dir || '/n-msg')));
	END IF;
	RETURN regexp_replace(test.sh(format('curl -sS -w '' %%{http_code}'' -X POST -H %s -H %s -H %s --data-binary @%s %s',
		test.shq('Client-Id: ' || client_id), test.shq('Request-Time: ' || rtime),
		test.shq('Signature: ' || signature), test.shq(dir || '/n-body'),
		test.shq(rtrim(current_setting('autodebit_test.notify_url'), '/') || substr(path, length('/notify') + 1)))),
		'^(.*) ([0-9]{3})$', '\2 \1');
END
$$;

-- 1. autodebit-notifyd logs in as a plain role; the notifications of the suite so far (10_,
-- 16_: TOKEN_CANCELED with live access tokens, AUTHCODE_CREATED with authCodes) went through it
SELECT rolsuper, pg_has_role('notifyd', 'autodebit_notify', 'MEMBER') AS notify_member
FROM pg_roles WHERE rolname = 'notifyd';
SELECT count(*) AS applied_through_notifyd FROM autodebit.notification
WHERE notify_type IN ('TOKEN_CANCELED', 'AUTHCODE_CREATED') AND outcome = 'applied';
SELECT pg_read_file(current_setting('autodebit_test.log_file')) ~ ('sbx' || '_(at|rt|ac)_') AS server_log_has_secret,
	   pg_read_file(current_setting('autodebit_test.log_file')) ~ 'user=notifyd|autodebit_inbox' AS notifyd_statements_logged;
SELECT count(*) AS false_warnings FROM regexp_split_to_table(pg_read_file(current_setting('autodebit_test.notifyd_log')), E'\n') l
WHERE l ~ 'could not turn off';

-- 2. secrets nested anywhere are not stored: tokens, codes, secrets by any name, at any depth
CREATE TEMP TABLE nb AS SELECT '/notify/auth' AS path, '1764000000901' AS rtime,
	'{"authorizationNotifyType":"TOKEN_CANCELED","accessToken":"secret-value-1","reason":"nested",'
	'"extra":{"refreshToken":"secret-value-2","deeper":[{"authCode":"secret-value-3",'
	'"clientSecret":"secret-value-4","password":"secret-value-5","accessTokenExpiryTime":"2030-01-01T00:00:00Z",'
	'"resultCode":"SUCCESS"}]}}'::text AS body;
SELECT autodebit_handle_notification(path, 'SANDBOX_SUITE', rtime,
		test.acquirer_signature(path, 'SANDBOX_SUITE', rtime, body), body) = autodebit._ack() AS acknowledged FROM nb;
SELECT body::text ~ 'secret-value' AS stored_secret, body #> '{extra,deeper,0}' AS kept, body->>'reason' AS reason
FROM autodebit.notification WHERE ref IS NULL AND body->>'reason' = 'nested';

-- 3. an API user is not shown where the keys live (a superuser-only setting)
SELECT test.sh(format('cp -p %1$s/merchant-pkcs8.pem %1$s/gone.pem', :'keydir'));
SELECT client_id FROM autodebit_merchant_set('SANDBOX_GONE', current_setting('autodebit_test.gateway'),
	'gone.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_GONE');
SELECT test.sh(format('rm %s/gone.pem', :'keydir'));
SELECT pg_sleep(1.1);		-- a cached key file is looked at again within a second
SELECT autodebit_merchant_grant('SANDBOX_GONE', 'sec_user');
SET ROLE sec_user;
SELECT position(:'keydir' in e) = 0 AS no_path, split_part(e, ' / ', 1) AS error
FROM test.err_all($$SELECT * FROM autodebit_consult('gone-a', 'GCASH', 'https://merchant.example/back',
	merchant => 'SANDBOX_GONE')$$) e;
-- uncaught, the error reaches the server log, which has the path for the operator
SELECT * FROM autodebit_consult('gone-b', 'GCASH', 'https://merchant.example/back', merchant => 'SANDBOX_GONE');
RESET ROLE;
SELECT pg_read_file(current_setting('autodebit_test.log_file')) ~ ('Looked for "' || :'keydir' || '/gone.pem"') AS log_has_path;

-- 4. data key rotation: agreements sealed under data-1.key keep working under data-2.key
-- (the suite's merchant must have its notify URLs: earlier files register it without them)
SELECT client_id, auth_notify_url IS NOT NULL AS notified FROM autodebit_merchant_set('SANDBOX_SUITE',
	current_setting('autodebit_test.gateway'), 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'),
	app_id => 'APP_SUITE', payment_notify_url => current_setting('autodebit_test.notify_url') || 'payment',
	auth_notify_url => current_setting('autodebit_test.notify_url') || 'auth');
SELECT a.status FROM unnest(ARRAY['rot-a', 'rot-b']) c,
	 LATERAL test.authorize(c, login => c || '-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT test.sh(format('openssl rand -hex 32 > %1$s/data-2.key && chmod 600 %1$s/data-2.key', :'keydir'));
ALTER SYSTEM SET autodebit.data_key_version = 2;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);				-- a backend reads the new setting before its next statement
SELECT current_setting('autodebit.data_key_version') AS data_key_version;
-- the user cancels in the wallet: TOKEN_CANCELED (through autodebit-notifyd, whose backend now
-- seals under key 2) finds the agreement whose token and fingerprint are under key 1
SELECT test.sandbox('POST', 'revoke', '{"userLoginId":"rot-a-wallet","reason":"rotation test"}')->>'revoked' AS revoked;
SELECT test.wait_for($$(SELECT status <> 'ACTIVE' FROM autodebit.agreement WHERE customer_ref = 'rot-a')$$, 10) AS arrived;
SELECT customer_ref, status FROM autodebit.agreements WHERE customer_ref = 'rot-a';
SELECT outcome FROM autodebit.notification WHERE notify_type = 'TOKEN_CANCELED' ORDER BY id DESC LIMIT 1;
-- re-seal every stored token under key 2, then retire key 1
SELECT key_version, agreement_tokens > 0 AS agreements, payment_tokens > 0 AS payments
FROM autodebit.data_key_use ORDER BY 1;
SELECT autodebit_reseal_tokens(1) = 2 AS one_agreement_and_one_payment_a_call;
SELECT test.err('SELECT autodebit_reseal_tokens(0)');
DO $$ BEGIN WHILE autodebit_reseal_tokens() > 0 LOOP END LOOP; END $$;
SELECT key_version FROM autodebit.data_key_use ORDER BY 1;
SELECT items_failed FROM autodebit_reconcile();
SELECT test.sh(format('mv %1$s/data-1.key %1$s/data-1.key.retired', :'keydir'));
SELECT pg_sleep(1.1);
-- without data-1.key: an old agreement pays (its token re-sealed), and its TOKEN_CANCELED applies
SELECT status FROM autodebit_pay('rot-b', 'rot-order-1', 100, 'USD', 'After the rotation', merchant => 'SANDBOX_SUITE');
SELECT test.sandbox('POST', 'revoke', '{"userLoginId":"rot-b-wallet","reason":"after retirement"}')->>'revoked' AS revoked;
SELECT test.wait_for($$(SELECT status <> 'ACTIVE' FROM autodebit.agreement WHERE customer_ref = 'rot-b')$$, 10) AS arrived;
SELECT customer_ref, status FROM autodebit.agreements WHERE customer_ref = 'rot-b';
-- a missing data key tells an operator to restore it, not to make a new one
SELECT split_part(e, ' / ', 1) AS error, split_part(e, ' / ', 3) ~ '^If this database was restored' AS hint_restore
FROM test.err_all(format('SELECT autodebit._reseal(%L::bytea, %L)', '\x010001' || repeat('00', 40), 'x')) e;
SELECT test.sh(format('mv %1$s/data-1.key.retired %1$s/data-1.key', :'keydir'));

-- 5. URLs that reach the wallet, a redirect or a header: https (http only to loopback), a real
-- host, no user info, no control, space or line-separator characters
SELECT u AS auth_redirect_url,
	   test.err(format('SELECT * FROM autodebit_consult(%L, %L, %L, merchant => %L)', 'url-x', 'GCASH', u, 'SANDBOX_SUITE')) AS err
FROM unnest(ARRAY['http://merchant.example/back', 'data:text/html,hi', 'javascript:alert(1)',
	'https://merchant.example/back' || U&'\2028' || 'x', 'https://merchant.example/a b',
	'https://user@merchant.example/', 'https:///nohost', 'https://-bad-.example/', 'ftp://merchant.example/']) u;
SELECT count(*) AS accepted FROM unnest(ARRAY['https://merchant.example/back?x=1#y', 'http://127.0.0.1:8080/back',
	'https://merchant.example:8443/back']) u,
	LATERAL autodebit_consult('url-ok', 'GCASH', u, merchant => 'SANDBOX_SUITE') c WHERE c.auth_url IS NOT NULL;
SELECT arg, u AS url, test.err(format('SELECT * FROM autodebit_merchant_set(%L, %L, %L, %L, %s => %L)', 'SANDBOX_URLS',
		current_setting('autodebit_test.gateway'), 'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'),
		arg, u)) AS err
FROM unnest(ARRAY['payment_notify_url', 'auth_notify_url']) arg,
	 unnest(ARRAY[E'https://merchant.example/n\r\nX-Injected: 1', 'javascript:alert(1)', 'http://merchant.example/notify']) u
ORDER BY 1, 2;
SELECT count(*) AS registered FROM autodebit.merchant WHERE client_id = 'SANDBOX_URLS';

-- 6. the receiver's log line escapes what it did not choose: %0a in a path forges no line
SELECT test.post_notification('/notify/x%0aFORGED-LINE', 'SANDBOX_SUITE', '1764000000902', '{}', 'x') AS answer;
SELECT count(*) FILTER (WHERE l LIKE 'FORGED-LINE%') AS forged_lines,
	   count(*) FILTER (WHERE l ~ '/notify/x\\x0aFORGED-LINE') AS escaped_lines
FROM regexp_split_to_table(pg_read_file(current_setting('autodebit_test.notifyd_log')), E'\n') l;

-- 7. a signed body the database cannot store (\u0000, 200 kB of nesting, not UTF-8) is verified
-- first, then refused for good (HTTP 400, resultStatus F) and recorded; a replay is the same
SELECT test.post_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000903',
	'{"notifyType":"PAYMENT_RESULT","paymentRequestId":"nul-1","result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"a\u0000b"}}') AS answer;
SELECT test.post_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000903',
	'{"notifyType":"PAYMENT_RESULT","paymentRequestId":"nul-1","result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"a\u0000b"}}') AS replay;
SELECT left(a, 3) AS status, a ~ '"resultStatus": "F"' AS refused
FROM test.post_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000904',
	'{"notifyType":"PAYMENT_RESULT","x":' || repeat('[', 100000) || repeat(']', 100000) || '}') a;
SELECT autodebit_handle_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000907',
		'algorithm=RSA256,keyVersion=1,signature=' || test.sh(format(
			'printf %s | openssl dgst -sha256 -sign %s | base64 -w0 | sed -e s/+/%%2B/g -e s_/_%%2F_g -e s/=/%%3D/g',
			test.shq('POST /notify/payment\nSANDBOX_SUITE.1764000000907.{"a":"\377"}'),
			test.shq(current_setting('autodebit_test.sandbox_key_file')))),
		'\x7b2261223a22ff227d'::bytea)::jsonb #>> '{result,resultStatus}' AS not_utf8_answered;
SELECT kind, outcome, problem, body IS NULL AS no_body FROM autodebit.notification
WHERE outcome = 'rejected' ORDER BY id;
-- the same bodies unsigned are only 401, and recorded nowhere
SELECT left(test.post_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000905', '{"a":"\u0000"}',
	'algorithm=RSA256,keyVersion=1,signature=bm90IGEgc2lnbmF0dXJl'), 3) AS unsigned_status;
SELECT count(*) AS rejected FROM autodebit.notification WHERE outcome = 'rejected';

-- 8. before the signature verifies, an unknown client id and a known one are answered alike
SELECT test.post_notification('/notify/payment', 'NO_SUCH_CLIENT', '1764000000906', '{}',
		   'algorithm=RSA256,keyVersion=1,signature=bm90IGEgc2lnbmF0dXJl')
	 = test.post_notification('/notify/payment', 'SANDBOX_SUITE', '1764000000906', '{}',
		   'algorithm=RSA256,keyVersion=1,signature=bm90IGEgc2lnbmF0dXJl') AS same_answer,
	   test.post_notification('/notify/payment', 'NO_SUCH_CLIENT', '1764000000906', '{}',
		   'algorithm=RSA256,keyVersion=1,signature=bm90IGEgc2lnbmF0dXJl') AS answer;
SELECT test.err($$SELECT autodebit_handle_notification('/notify/payment', 'NO_SUCH_CLIENT', '1', 'x', '{}')$$)
	 = test.err($$SELECT autodebit_handle_notification('/notify/payment', 'SANDBOX_SUITE', '1', 'x', '{}')$$) AS same_error,
	   test.err($$SELECT autodebit_handle_notification('/notify/payment', 'BAD CLIENT ID', '1', 'x', '{}')$$) AS error;
