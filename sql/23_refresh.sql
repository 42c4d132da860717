-- Tokens refreshed by autodebit_run(): all the expiring ones of a merchant in one concurrent
-- batch (issue 14, P4), each answer applied on its own: new tokens sealed and usable, a refused
-- refresh token makes its agreement EXPIRED, every call in the exchange log.
\set ECHO none
SET client_min_messages = warning;
SELECT 1 FROM autodebit_merchant_set('SANDBOX_REFRESH', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_REFRESH');
\set ECHO all
-- twelve customers, their tokens due: the sandbox's live 30 days, the refresh window is 30 days
SET autodebit.token_refresh_window = 2592000;
SELECT count(*) AS agreements
FROM generate_series(1, 12) i,
	 LATERAL test.authorize('rf-' || i, login => 'rf-wallet-' || i, merchant => 'SANDBOX_REFRESH') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
CREATE TEMP TABLE rf_before AS
	SELECT id, customer_ref, access_token_fp, access_token_expires_at FROM autodebit.agreement
	WHERE customer_ref LIKE 'rf-%';
SELECT coalesce(max(id), 0) AS log_mark FROM autodebit.exchange_log \gset
-- one user revokes in the wallet: the acquirer will refuse that refresh token
SELECT test.sandbox('POST', 'revoke', '{"userLoginId":"rf-wallet-3"}')->'revoked' AS revoked;

SET client_min_messages = error;
CALL autodebit_run();
RESET client_min_messages;

-- eleven new tokens (expiring no sooner: the sandbox's times are whole seconds); the revoked
-- one EXPIRED with the acquirer's reason
RESET autodebit.token_refresh_window;
SELECT count(*) FILTER (WHERE g.access_token_fp <> b.access_token_fp
						 AND g.access_token_expires_at >= b.access_token_expires_at) AS refreshed,
	   count(*) FILTER (WHERE g.status = 'EXPIRED') AS expired,
	   string_agg(g.customer_ref || ': ' || g.end_reason, '; ') FILTER (WHERE g.status = 'EXPIRED') AS why
FROM autodebit.agreement g JOIN rf_before b USING (id);
-- every refresh is in the exchange log: eleven S, one F
SELECT outcome, result_code, count(*) FROM autodebit.exchange_log
WHERE id > :log_mark AND api = 'applyToken'
  AND merchant_id = (SELECT id FROM autodebit.merchant WHERE client_id = 'SANDBOX_REFRESH')
GROUP BY 1, 2 ORDER BY 1;
-- the new tokens work (sealed under each agreement's own associated data)
SELECT status FROM autodebit_pay('rf-1', 'rf-order-1', 100, 'USD', 'after refresh', merchant => 'SANDBOX_REFRESH');
SELECT status FROM autodebit_pay('rf-12', 'rf-order-12', 100, 'USD', 'after refresh', merchant => 'SANDBOX_REFRESH');
-- and the refused one cannot pay
SELECT test.err($$SELECT * FROM autodebit_pay('rf-3', 'rf-order-3', 100, 'USD', 'after refresh', merchant => 'SANDBOX_REFRESH')$$);
-- one run refreshes no more than autodebit.refresh_batch_size a merchant; the next run goes on
UPDATE autodebit.agreement SET access_token_expires_at = now() + interval '1 minute'
WHERE customer_ref LIKE 'rf-%' AND status = 'ACTIVE';
CREATE TEMP TABLE rf_second AS
	SELECT id, access_token_fp FROM autodebit.agreement WHERE customer_ref LIKE 'rf-%' AND status = 'ACTIVE';
SET autodebit.refresh_batch_size = 4;
SET client_min_messages = error;
CALL autodebit_run();
RESET client_min_messages;
SELECT count(*) FILTER (WHERE g.access_token_fp <> s.access_token_fp) AS refreshed_this_run, count(*) AS due
FROM autodebit.agreement g JOIN rf_second s USING (id);
RESET autodebit.refresh_batch_size;
