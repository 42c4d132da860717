-- The seed's flow end to end: consult, the consent page, apply_token, pay, pay again, revoke.
\set VERBOSITY terse

-- consult: an unguessable auth_state and the consent page URL
CREATE TEMP TABLE c AS
	SELECT * FROM autodebit_consult('alice', 'GCASH', 'https://merchant.example/back');
SELECT length(auth_state) AS state_len, auth_state ~ '^[0-9a-f]+$' AS hex,
	   auth_url LIKE current_setting('autodebit_test.gateway') || '/sandbox/authorize?session=%' AS url_ok,
	   normal_url IS NOT NULL AS has_normal_url
FROM c;
SELECT customer_ref, customer_belongs_to, terminal_type, used_at IS NULL AS unused,
	   expires_at > now() + interval '50 minutes' AS expires_in_an_hour
FROM autodebit.consult_session WHERE auth_state = (SELECT auth_state FROM c);

-- the user agrees on the consent page; the wallet redirects with authCode and the same authState
CREATE TEMP TABLE r AS
	SELECT test.sh(format('curl -sS -o /dev/null -w %s %s', test.shq('%{redirect_url}'),
						  test.shq((SELECT auth_url FROM c) || '&decision=agree&user=alice-wallet'))) AS url;
SELECT url LIKE 'https://merchant.example/back?authCode=%&authState=' || (SELECT auth_state FROM c) AS redirect_ok FROM r;

-- apply_token stores the agreement; no token in what it returns
SELECT customer_ref, customer_belongs_to, terminal_type, status, user_login_id,
	   access_token_expires_at > now() AS token_live, refresh_token_expires_at > now() AS refresh_live
FROM autodebit_apply_token((SELECT auth_state FROM c),
						   (SELECT substring(url from 'authCode=([^&]+)') FROM r));
-- the tokens are sealed: 31 bytes of header, then ciphertext as long as the token
SELECT length(access_token_enc) > 31 AS sealed, get_byte(access_token_enc, 0) AS format,
	   length(access_token_fp) AS fp_len, refresh_token_enc IS NOT NULL AS has_refresh
FROM autodebit.agreement WHERE customer_ref = 'alice';
-- the same auth_state cannot be used twice
SELECT * FROM autodebit_apply_token((SELECT auth_state FROM c), 'another-code');

-- pay: SUCCESS, with Antom's paymentId
SELECT order_ref, attempt, amount_minor, currency, status, result_code, payment_id IS NOT NULL AS has_payment_id,
	   payment_time IS NOT NULL AS has_time, payment_request_id ~ '^ad_[0-9a-f]{40}_1$' AS derived_id
FROM autodebit_pay('alice', 'order-1001', 1999, 'PHP', 'Monthly plan, November');
SELECT test.debits('order-1001') AS debits;

-- pay again for the same order: the existing payment, no second call, no second debit
SELECT order_ref, attempt, status FROM autodebit_pay('alice', 'order-1001', 1999, 'PHP', 'Monthly plan, November');
SELECT count(*) AS pay_calls FROM autodebit.exchange_log WHERE api = 'pay';
SELECT test.debits('order-1001') AS debits;

-- what went over the wire: the body autodebit signed and sent (the token is a placeholder in storage)
SELECT request_body->'paymentMethod' AS payment_method, request_body->'order'->>'referenceOrderId' AS ref,
	   request_body->'paymentAmount' AS amount, request_body->>'appId' AS app_id,
	   request_body->'env' AS env
FROM autodebit.payment WHERE order_ref = 'order-1001';

-- revoke: the acquirer confirms, the agreement is REVOKED
SELECT customer_ref, status, end_reason FROM autodebit_revoke('alice');
-- and the next pay is refused with a clear error, without a call
SELECT * FROM autodebit_pay('alice', 'order-1002', 1999, 'PHP', 'Monthly plan, December');
SELECT count(*) AS pay_calls FROM autodebit.exchange_log WHERE api = 'pay';
SELECT api, outcome, result_code, http_status FROM autodebit.exchange_log ORDER BY id;

-- a declined authorization never reaches apply_token: the redirect carries an error instead
CREATE TEMP TABLE d AS SELECT * FROM autodebit_consult('bob', 'GCASH', 'https://merchant.example/back');
SELECT test.sh(format('curl -sS -o /dev/null -w %s %s', test.shq('%{redirect_url}'),
		test.shq((SELECT auth_url FROM d) || '&decision=decline'))) LIKE '%error=USER_DECLINED%' AS declined;
