-- Test helpers (schema "test") and the merchant used by the suite.
-- The sandbox acquirer runs for the whole suite; autodebit_test.* settings say where.
\set VERBOSITY terse
CREATE SCHEMA test;
GRANT USAGE ON SCHEMA test TO PUBLIC;   -- the helpers, for tests that SET ROLE
-- autodebit-notifyd logs in as a plain role that may only hand notifications over
CREATE ROLE notifyd LOGIN IN ROLE autodebit_notify;

-- Quote a string for sh -c.
CREATE FUNCTION test.shq(s text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT '''' || replace(s, '''', '''\''''') || '''' $$;

-- Run a shell command on the server and return its output (one text, lines joined by LF).
CREATE FUNCTION test.sh(cmd text) RETURNS text LANGUAGE plpgsql SET client_min_messages = warning AS $$
DECLARE
	out text;
BEGIN
	CREATE TEMP TABLE IF NOT EXISTS sh_out (line text);
	TRUNCATE sh_out;
	EXECUTE format('COPY sh_out FROM PROGRAM %L WITH (FORMAT csv, DELIMITER E''\x01'', QUOTE E''\x02'')', cmd);
	SELECT string_agg(line, E'\n') INTO out FROM sh_out;
	RETURN out;
END
$$;

-- Call a sandbox admin endpoint; returns its JSON answer.
CREATE FUNCTION test.sandbox(method text, path text, body text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT test.sh(format('curl -sS -X %s %s %s', method,
		CASE WHEN body IS NULL THEN '' ELSE '-H ''Content-Type: application/json'' --data-binary ' || test.shq(body) END,
		test.shq(current_setting('autodebit_test.gateway') || '/sandbox/admin/' || path)))::jsonb
$$;

-- Force the next N requests to an API to meet a fault.
CREATE FUNCTION test.fault(kind text, api text DEFAULT 'pay', n integer DEFAULT 1) RETURNS void
LANGUAGE sql AS $$
	SELECT test.sandbox('POST', 'faults', json_build_object('next', kind, 'api', api, 'count', n)::text);
	SELECT;
$$;

-- Successful debits the sandbox holds for one paymentRequestId prefix (the order's ids).
CREATE FUNCTION test.debits(order_ref text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*)
	FROM jsonb_array_elements(test.sandbox('GET', 'ledger')->'payments') e
	WHERE e->>'referenceOrderId' = order_ref AND e->>'status' = 'SUCCESS'
$$;

-- A user agreeing on the consent page: consult, follow authUrl with decision=agree.
-- Returns the redirect's authState and authCode.
CREATE FUNCTION test.authorize(customer_ref text, wallet text DEFAULT 'GCASH', login text DEFAULT NULL,
							   merchant text DEFAULT NULL, OUT auth_state text, OUT auth_code text)
LANGUAGE plpgsql AS $$
DECLARE
	url text;
	redirect text;
BEGIN
	SELECT c.auth_url INTO url
	FROM autodebit_consult(customer_ref, wallet, 'https://merchant.example/back', merchant => merchant) c;
	redirect := test.sh(format('curl -sSk -o /dev/null -w %s %s', test.shq('%{redirect_url}'),
		test.shq(url || '&decision=agree' || coalesce('&user=' || login, ''))));
	auth_state := substring(redirect from 'authState=([^&]+)');
	auth_code := substring(redirect from 'authCode=([^&]+)');
END
$$;

-- Where this server listens: its socket directory, or its TCP address.
CREATE FUNCTION test.pg_host() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''),
					current_setting('listen_addresses'))
$$;

-- Open a second session (dblink) to this database, for concurrency and cancel tests.
CREATE FUNCTION test.connstr() RETURNS text LANGUAGE sql AS $$
	SELECT format('dbname=%s port=%s host=%s', current_database(), current_setting('port'), test.pg_host())
$$;

-- The SQLSTATE and message of a statement's error ('no error' if none).
CREATE FUNCTION test.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- The same with the error's DETAIL.
CREATE FUNCTION test.err_detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || ' / ' || detail;
END
$$;

-- Wait until a condition (a boolean SQL expression) holds, up to a limit; true if it did.
-- For what happens asynchronously (notifications); never a statement about speed.
CREATE FUNCTION test.wait_for(cond text, limit_s numeric DEFAULT 20) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
	deadline timestamptz := clock_timestamp() + limit_s * interval '1 second';
BEGIN
	LOOP
		EXECUTE 'SELECT coalesce((' || cond || '), false)' INTO ok;
		IF ok OR clock_timestamp() > deadline THEN
			RETURN ok;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;

-- Every send journal record this extension instance wrote (read back from WAL).
CREATE FUNCTION test.journal() RETURNS TABLE (request_id text, api text, body jsonb, meta jsonb)
LANGUAGE sql AS $$
	SELECT j.request_id, j.api, j.body, j.meta
	FROM autodebit._journal_read((SELECT created_lsn FROM autodebit.journal_cursor), 10000000, 1024 * 1024 * 1024) j
	WHERE j.api IS NOT NULL
$$;

-- Row counts of every autodebit table, to show a failed call changed nothing.
CREATE FUNCTION test.counts() RETURNS text LANGUAGE sql AS $$
	SELECT format('merchants=%s sessions=%s agreements=%s payments=%s log=%s',
		(SELECT count(*) FROM autodebit.merchant), (SELECT count(*) FROM autodebit.consult_session),
		(SELECT count(*) FROM autodebit.agreement), (SELECT count(*) FROM autodebit.payment),
		(SELECT count(*) FROM autodebit.exchange_log))
$$;

-- The merchant for the suite.  A SANDBOX_ client id makes autodebit use /ams/sandbox/api/v1/.
SELECT client_id, gateway_url = current_setting('autodebit_test.gateway') AS gateway_ok,
	   private_key_file, key_version, app_id
FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
							'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'),
							app_id => 'APP_SUITE');

-- Every private key encoding the official SDKs' users hold: PKCS#1 and PKCS#8, PEM and bare
-- base64; and the acquirer key as PEM as well as bare base64.  Each must sign a consult the
-- sandbox accepts and verify its answer.
CREATE TEMP TABLE key_forms (key_file text, acquirer_key text);
INSERT INTO key_forms VALUES
	('merchant-pkcs1.pem', current_setting('autodebit_test.acquirer_key_b64')),
	('merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64')),
	('merchant-pkcs1.b64', current_setting('autodebit_test.acquirer_key_b64')),
	('merchant-pkcs8.b64', pg_read_file(current_setting('autodebit_test.acquirer_key_pem_file')));
SELECT k.key_file, left(k.acquirer_key, 10) = '-----BEGIN' AS acquirer_pem,
	   (SELECT c.auth_url LIKE current_setting('autodebit_test.gateway') || '/sandbox/authorize?session=%'
		FROM autodebit_consult('key-test', 'GCASH', 'https://merchant.example/back', merchant => m.client_id) c) AS consult_ok
FROM key_forms k,
	 LATERAL autodebit_merchant_set('KEYTEST', current_setting('autodebit_test.gateway'), k.key_file,
									k.acquirer_key) m
ORDER BY k.key_file;
SELECT api, outcome, result_code, request_id IS NULL AS no_request_id
FROM autodebit.exchange_log l JOIN autodebit.merchant m ON m.id = l.merchant_id
WHERE m.client_id = 'KEYTEST' ORDER BY l.id;
DELETE FROM autodebit.exchange_log WHERE merchant_id = (SELECT id FROM autodebit.merchant WHERE client_id = 'KEYTEST');
DELETE FROM autodebit.consult_session WHERE customer_ref = 'key-test';
DELETE FROM autodebit.merchant WHERE client_id = 'KEYTEST';
