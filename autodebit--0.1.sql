-- autodebit 0.1: Antom Auto Debit from SQL.
-- Tables and internals live in schema autodebit; the API functions live in the
-- extension's schema.  See README.md for the API, DESIGN §4 for the invariants.

\echo Use "CREATE EXTENSION autodebit" to load this file. \quit

CREATE SCHEMA autodebit;
REVOKE ALL ON SCHEMA autodebit FROM PUBLIC;

-- Roles: merchants and keys are the admin's; consult/token/pay/revoke the user's.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autodebit_admin') THEN
		CREATE ROLE autodebit_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autodebit_user') THEN
		CREATE ROLE autodebit_user NOLOGIN;
	END IF;
END
$$;

---------------------------------------------------------------------------
-- Reference data
---------------------------------------------------------------------------

-- ISO 4217 currencies: minor units, and the multiple an amount must be (IDR: whole rupiah hundreds).
CREATE TABLE autodebit.currency (
	code			text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
	minor_unit		smallint NOT NULL CHECK (minor_unit BETWEEN 0 AND 4),
	minor_multiple	integer NOT NULL DEFAULT 1 CHECK (minor_multiple >= 1)
);
INSERT INTO autodebit.currency (code, minor_unit) VALUES
	('AED',2),('AFN',2),('ALL',2),('AMD',2),('ANG',2),('AOA',2),('ARS',2),('AUD',2),('AWG',2),
	('AZN',2),('BAM',2),('BBD',2),('BDT',2),('BGN',2),('BHD',3),('BIF',0),('BMD',2),('BND',2),
	('BOB',2),('BRL',2),('BSD',2),('BTN',2),('BWP',2),('BYN',2),('BZD',2),('CAD',2),('CDF',2),
	('CHF',2),('CLP',0),('CNY',2),('COP',2),('CRC',2),('CUP',2),('CVE',2),('CZK',2),('DJF',0),
	('DKK',2),('DOP',2),('DZD',2),('EGP',2),('ERN',2),('ETB',2),('EUR',2),('FJD',2),('FKP',2),
	('GBP',2),('GEL',2),('GHS',2),('GIP',2),('GMD',2),('GNF',0),('GTQ',2),('GYD',2),('HKD',2),
	('HNL',2),('HTG',2),('HUF',2),('IDR',2),('ILS',2),('INR',2),('IQD',3),('IRR',2),('ISK',0),
	('JMD',2),('JOD',3),('JPY',0),('KES',2),('KGS',2),('KHR',2),('KMF',0),('KRW',0),('KWD',3),
	('KYD',2),('KZT',2),('LAK',2),('LBP',2),('LKR',2),('LRD',2),('LSL',2),('LYD',3),('MAD',2),
	('MDL',2),('MGA',2),('MKD',2),('MMK',2),('MNT',2),('MOP',2),('MRU',2),('MUR',2),('MVR',2),
	('MWK',2),('MXN',2),('MYR',2),('MZN',2),('NAD',2),('NGN',2),('NIO',2),('NOK',2),('NPR',2),
	('NZD',2),('OMR',3),('PAB',2),('PEN',2),('PGK',2),('PHP',2),('PKR',2),('PLN',2),('PYG',0),
	('QAR',2),('RON',2),('RSD',2),('RUB',2),('RWF',0),('SAR',2),('SBD',2),('SCR',2),('SDG',2),
	('SEK',2),('SGD',2),('SHP',2),('SLE',2),('SOS',2),('SRD',2),('SSP',2),('STN',2),('SVC',2),
	('SZL',2),('THB',2),('TJS',2),('TMT',2),('TND',3),('TOP',2),('TRY',2),('TTD',2),('TWD',2),
	('TZS',2),('UAH',2),('UGX',0),('USD',2),('UYU',2),('UZS',2),('VES',2),('VND',0),('VUV',0),
	('WST',2),('XAF',0),('XCD',2),('XOF',0),('XPF',0),('YER',2),('ZAR',2),('ZMW',2);
UPDATE autodebit.currency SET minor_multiple = 100 WHERE code = 'IDR';

-- Wallets: my.getSiteInfo's siteName -> Antom customerBelongsTo.  Unknown sites are refused;
-- an admin adds a row to accept one (for example ALIPAY_MO, which has no SDK counterpart).
CREATE TABLE autodebit.wallet (
	site_name			text PRIMARY KEY CHECK (site_name ~ '^[A-Z0-9_]{1,64}$'),
	customer_belongs_to	text NOT NULL CHECK (customer_belongs_to ~ '^[A-Z0-9_]{1,64}$')
);
INSERT INTO autodebit.wallet
SELECT w, w FROM unnest(ARRAY[
	'ALIPAY_CN', 'ALIPAY_HK', 'MPAY', 'DANA', 'PAYPAY', 'BOOST', 'TNG', 'GRABPAY_MY', 'HIPAY',
	'GCASH', 'MAYA', 'GRABPAY_PH', 'GRABPAY_SG', 'KAKAOPAY', 'NAVERPAY', 'TOSSPAY',
	'RABBIT_LINE_PAY', 'TRUEMONEY', 'KPLUS', 'DIRECT_DEBIT_SIAMCOMMERCIALBANK',
	'DIRECT_DEBIT_KRUNGTHAIBANK', 'ACH_DIRECT_DEBIT', 'ZALOPAY', 'MOMO', 'VIETTELMONEY',
	'JKOPAY', 'BKASH', 'EASYPAISA', 'DIRECTDEBIT_YAPILY', 'ANTOM_BIZ_ACCOUNT']) AS w;

---------------------------------------------------------------------------
-- State
---------------------------------------------------------------------------

-- A merchant's Antom client.  Keys: a file name in autodebit.key_directory (the key itself
-- never passes through SQL) and the acquirer's public key (not a secret).
CREATE TABLE autodebit.merchant (
	id					bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id			text NOT NULL UNIQUE CHECK (client_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
	gateway_url			text NOT NULL CHECK (gateway_url ~ '^https?://[^/?#]+/?$'),
	private_key_file	text NOT NULL CHECK (private_key_file !~ '/' AND length(private_key_file) <= 255),
	acquirer_public_key	text NOT NULL,
	key_version			integer NOT NULL DEFAULT 1 CHECK (key_version > 0),
	app_id				text CHECK (length(app_id) BETWEEN 1 AND 32),
	payment_notify_url	text CHECK (length(payment_notify_url) <= 2048),
	auth_notify_url		text CHECK (length(auth_notify_url) <= 1024),
	created_at			timestamptz NOT NULL DEFAULT now(),
	updated_at			timestamptz NOT NULL DEFAULT now()
);

-- One consult: the auth_state we generated, who it is for, until when it can be used.
CREATE TABLE autodebit.consult_session (
	auth_state			text PRIMARY KEY,
	merchant_id			bigint NOT NULL REFERENCES autodebit.merchant,
	customer_ref		text NOT NULL,
	customer_belongs_to	text NOT NULL,
	auth_redirect_url	text NOT NULL,
	terminal_type		text NOT NULL,
	os_type				text,
	auth_url			text,
	created_at			timestamptz NOT NULL DEFAULT now(),
	expires_at			timestamptz NOT NULL,
	used_at				timestamptz,
	agreement_id		bigint
);

-- An authorization: tokens sealed with AES-256-GCM bound to 'agreement:<id>:access|refresh'.
CREATE TABLE autodebit.agreement (
	id						bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	merchant_id				bigint NOT NULL REFERENCES autodebit.merchant,
	customer_ref			text NOT NULL,
	customer_belongs_to		text NOT NULL,
	terminal_type			text NOT NULL,
	status					text NOT NULL DEFAULT 'ACTIVE'
		CHECK (status IN ('ACTIVE', 'REVOKED', 'EXPIRED', 'CANCELED_BY_USER')),
	access_token_enc		bytea NOT NULL,
	access_token_fp			bytea,
	access_token_expires_at	timestamptz,
	refresh_token_enc		bytea,
	refresh_token_expires_at timestamptz,
	user_login_id			text,
	auth_state				text,
	created_at				timestamptz NOT NULL DEFAULT now(),
	updated_at				timestamptz NOT NULL DEFAULT now(),
	ended_at				timestamptz,
	end_reason				text
);
CREATE UNIQUE INDEX agreement_one_active
	ON autodebit.agreement (merchant_id, customer_ref, customer_belongs_to) WHERE status = 'ACTIVE';
CREATE INDEX agreement_fp ON autodebit.agreement (access_token_fp);

-- A payment attempt.  payment_request_id is derived from (merchant, order_ref, attempt), so a
-- re-run after a rollback re-sends the same id; request_body is the exact template sent (the
-- token in it is a placeholder; token_enc is the sealed token it carried).
CREATE TABLE autodebit.payment (
	id					bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	merchant_id			bigint NOT NULL REFERENCES autodebit.merchant,
	payment_request_id	text NOT NULL UNIQUE CHECK (length(payment_request_id) <= 64),
	order_ref			text NOT NULL,
	attempt				integer NOT NULL CHECK (attempt >= 1),
	customer_ref		text NOT NULL,
	customer_belongs_to	text NOT NULL,
	agreement_id		bigint NOT NULL REFERENCES autodebit.agreement,
	amount_minor		bigint NOT NULL CHECK (amount_minor > 0),
	currency			text NOT NULL REFERENCES autodebit.currency,
	description			text NOT NULL,
	status				text NOT NULL
		CHECK (status IN ('QUEUED', 'SENDING', 'PROCESSING', 'SUCCESS', 'FAIL', 'CANCELLED', 'UNKNOWN')),
	result_code			text,
	result_message		text,
	payment_id			text,
	payment_time		timestamptz,
	request_body		jsonb NOT NULL,
	token_enc			bytea NOT NULL,
	token_aad			text NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	updated_at			timestamptz NOT NULL DEFAULT now(),
	sent_at				timestamptz,
	completed_at		timestamptz,
	UNIQUE (merchant_id, order_ref, attempt)
);
-- At most one successful payment per merchant order: enforced here, not by hope.
CREATE UNIQUE INDEX payment_one_success
	ON autodebit.payment (merchant_id, order_ref) WHERE status = 'SUCCESS';
CREATE INDEX payment_open ON autodebit.payment (status) WHERE status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN');

-- Every acquirer call: what, when, how it ended.  Never a token or a body.
CREATE TABLE autodebit.exchange_log (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at				timestamptz NOT NULL DEFAULT clock_timestamp(),
	merchant_id		bigint,
	api				text NOT NULL,
	request_id		text,
	http_status		integer,
	outcome			text NOT NULL,
	result_code		text,
	result_status	text,
	result_message	text,
	latency_ms		double precision,
	error			text
);

-- The log is append-only: rows may be pruned, never changed.
CREATE FUNCTION autodebit._refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'autodebit.exchange_log is append-only'
		USING ERRCODE = '55000', HINT = 'Rows may be deleted for retention, never updated.';
END
$$;
CREATE TRIGGER exchange_log_append_only BEFORE UPDATE ON autodebit.exchange_log
	FOR EACH ROW EXECUTE FUNCTION autodebit._refuse_update();

-- What the API returns: the rows without sealed tokens or request bodies.
CREATE VIEW autodebit.agreements AS
	SELECT id, merchant_id, customer_ref, customer_belongs_to, terminal_type, status,
		   access_token_expires_at, refresh_token_expires_at, user_login_id,
		   created_at, updated_at, ended_at, end_reason
	FROM autodebit.agreement;

CREATE VIEW autodebit.payments AS
	SELECT id, merchant_id, payment_request_id, order_ref, attempt, customer_ref,
		   customer_belongs_to, agreement_id, amount_minor, currency, description, status,
		   result_code, result_message, payment_id, payment_time,
		   created_at, updated_at, sent_at, completed_at
	FROM autodebit.payment;

---------------------------------------------------------------------------
-- C primitives (internal; not granted to anyone)
---------------------------------------------------------------------------

CREATE TYPE autodebit.exchange_result AS (
	outcome				text,		-- S, F, U, or UNKNOWN (no believable answer)
	result_code			text,
	result_status		text,
	result_message		text,
	http_status			integer,
	body				jsonb,		-- verified answer, tokens removed
	access_token_enc	bytea,		-- sealed tokens from an applyToken answer
	refresh_token_enc	bytea,
	access_token_fp		bytea,
	latency_ms			double precision,
	error				text
);

CREATE FUNCTION autodebit._exchange(client_id text, gateway_url text, private_key_file text,
		acquirer_public_key text, key_version integer, api text, request_id text, body jsonb,
		secret bytea DEFAULT NULL, secret_aad text DEFAULT NULL, seal_aad text DEFAULT NULL)
	RETURNS autodebit.exchange_result
	AS 'MODULE_PATHNAME', 'autodebit_exchange' LANGUAGE C VOLATILE;

CREATE FUNCTION autodebit._random_id(nbytes integer) RETURNS text
	AS 'MODULE_PATHNAME', 'autodebit_random_id' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION autodebit._check_keys(private_key_file text, acquirer_public_key text) RETURNS void
	AS 'MODULE_PATHNAME', 'autodebit_check_keys' LANGUAGE C VOLATILE;

CREATE FUNCTION autodebit._check_url(url text) RETURNS void
	AS 'MODULE_PATHNAME', 'autodebit_check_url' LANGUAGE C VOLATILE STRICT;

---------------------------------------------------------------------------
-- Internal helpers
---------------------------------------------------------------------------

-- A required text argument: present, not blank, no control characters, at most max_len.
CREATE FUNCTION autodebit._check_text(arg_name text, value text, max_len integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR btrim(value) = '' THEN
		RAISE EXCEPTION '% must not be empty', arg_name USING ERRCODE = '22004';
	END IF;
	IF length(value) > max_len THEN
		RAISE EXCEPTION '% is longer than % characters', arg_name, max_len
			USING ERRCODE = '22001', DETAIL = format('It has %s characters.', length(value));
	END IF;
	IF value ~ '[[:cntrl:]]' THEN
		RAISE EXCEPTION '% contains control characters', arg_name USING ERRCODE = '22023';
	END IF;
	RETURN value;
END
$$;

-- The merchant named by client_id, or the only merchant when none is named.
CREATE FUNCTION autodebit._merchant(client_id text) RETURNS autodebit.merchant
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	n integer;
BEGIN
	IF client_id IS NOT NULL THEN
		SELECT * INTO m FROM autodebit.merchant x WHERE x.client_id = _merchant.client_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'unknown merchant "%"', client_id
				USING ERRCODE = 'ZD002', HINT = 'Register it with autodebit_merchant_set().';
		END IF;
		RETURN m;
	END IF;
	SELECT count(*) INTO n FROM autodebit.merchant;
	IF n = 0 THEN
		RAISE EXCEPTION 'no merchant is registered'
			USING ERRCODE = 'ZD002', HINT = 'Register your Antom client with autodebit_merchant_set().';
	ELSIF n > 1 THEN
		RAISE EXCEPTION 'more than one merchant is registered'
			USING ERRCODE = 'ZD003', HINT = 'Name the merchant (its client_id) in the merchant argument.';
	END IF;
	SELECT * INTO m FROM autodebit.merchant;
	RETURN m;
END
$$;

-- The customerBelongsTo for a wallet site name; unknown sites are refused.
CREATE FUNCTION autodebit._wallet(site text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	w text;
BEGIN
	SELECT customer_belongs_to INTO w FROM autodebit.wallet WHERE site_name = site;
	IF w IS NULL THEN
		RAISE EXCEPTION 'unknown wallet "%"', site
			USING ERRCODE = 'ZD102',
				  DETAIL = 'The wallet is not in autodebit.wallet.',
				  HINT = 'Use the siteName from my.getSiteInfo; an admin can map new sites in autodebit.wallet.';
	END IF;
	RETURN w;
END
$$;

-- Call one acquirer API for a merchant and log the exchange (never a secret).
CREATE FUNCTION autodebit._call(m autodebit.merchant, api text, request_id text, body jsonb,
		secret bytea DEFAULT NULL, secret_aad text DEFAULT NULL, seal_aad text DEFAULT NULL)
	RETURNS autodebit.exchange_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	x autodebit.exchange_result;
BEGIN
	x := autodebit._exchange(m.client_id, m.gateway_url, m.private_key_file,
							 m.acquirer_public_key, m.key_version, api, request_id, body,
							 secret, secret_aad, seal_aad);
	INSERT INTO autodebit.exchange_log (merchant_id, api, request_id, http_status, outcome,
										result_code, result_status, result_message, latency_ms, error)
	VALUES (m.id, api, request_id, x.http_status, x.outcome, x.result_code, x.result_status,
			x.result_message, x.latency_ms, x.error);
	RETURN x;
END
$$;

-- Raise the error for a consult/applyToken/revoke call that did not succeed.
CREATE FUNCTION autodebit._raise_not_done(what text, x autodebit.exchange_result, retry_hint text)
	RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF x.outcome = 'F' THEN
		RAISE EXCEPTION '% was refused by the acquirer: %', what, x.result_code
			USING ERRCODE = 'ZD301', DETAIL = coalesce(x.result_message, ''),
				  HINT = 'This request will not succeed as it is; see the result code.';
	END IF;
	RAISE EXCEPTION 'the outcome of % is unknown', what
		USING ERRCODE = 'ZD302',
			  DETAIL = coalesce(x.error, x.result_code || ': ' || coalesce(x.result_message, '')),
			  HINT = retry_hint;
END
$$;

-- A payment row as the API returns it.
CREATE FUNCTION autodebit._payment_row(bigint) RETURNS autodebit.payments
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM autodebit.payments WHERE id = $1
$$;

-- An agreement row as the API returns it.
CREATE FUNCTION autodebit._agreement_row(bigint) RETURNS autodebit.agreements
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM autodebit.agreements WHERE id = $1
$$;

-- Record a pay answer on its payment; a final state never moves.
CREATE FUNCTION autodebit._apply_pay_result(pid bigint, x autodebit.exchange_result) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE autodebit.payment p SET
		status = CASE x.outcome
					WHEN 'S' THEN 'SUCCESS'
					WHEN 'F' THEN 'FAIL'
					WHEN 'U' THEN CASE WHEN x.result_code = 'PAYMENT_IN_PROCESS' THEN 'PROCESSING' ELSE 'UNKNOWN' END
					ELSE 'UNKNOWN' END,
		result_code = x.result_code,
		result_message = coalesce(x.result_message, x.error),
		payment_id = coalesce(x.body->>'paymentId', p.payment_id),
		payment_time = CASE WHEN x.outcome = 'S' THEN coalesce((x.body->>'paymentTime')::timestamptz, now()) END,
		completed_at = CASE WHEN x.outcome IN ('S', 'F') THEN now() END,
		updated_at = now()
	WHERE p.id = pid AND p.status NOT IN ('SUCCESS', 'FAIL', 'CANCELLED');
END
$$;

---------------------------------------------------------------------------
-- The API
---------------------------------------------------------------------------

-- Register (or update) the merchant's Antom client.
CREATE FUNCTION autodebit_merchant_set(client_id text, gateway_url text, private_key_file text,
		acquirer_public_key text, key_version integer DEFAULT 1, app_id text DEFAULT NULL,
		payment_notify_url text DEFAULT NULL, auth_notify_url text DEFAULT NULL)
	RETURNS autodebit.merchant
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
BEGIN
	PERFORM autodebit._check_text('client_id', client_id, 64);
	IF client_id !~ '^[A-Za-z0-9_.:-]+$' THEN
		RAISE EXCEPTION 'client_id "%" has characters Antom client ids do not use', client_id
			USING ERRCODE = '22023';
	END IF;
	PERFORM autodebit._check_text('gateway_url', gateway_url, 256);
	IF gateway_url !~ '^https?://[^/?#]+/?$' THEN
		RAISE EXCEPTION 'gateway_url must be scheme, host and port only'
			USING ERRCODE = '22023', DETAIL = format('Got "%s".', gateway_url),
				  HINT = 'For example https://open-sea-global.alipay.com or http://127.0.0.1:8989.';
	END IF;
	PERFORM autodebit._check_url(gateway_url);
	PERFORM autodebit._check_text('private_key_file', private_key_file, 255);
	PERFORM autodebit._check_text('acquirer_public_key', acquirer_public_key, 8192);
	IF key_version IS NULL OR key_version < 1 THEN
		RAISE EXCEPTION 'key_version must be a positive integer' USING ERRCODE = '22023';
	END IF;
	IF app_id IS NOT NULL THEN
		PERFORM autodebit._check_text('app_id', app_id, 32);
	END IF;
	PERFORM autodebit._check_keys(private_key_file, acquirer_public_key);

	INSERT INTO autodebit.merchant AS t (client_id, gateway_url, private_key_file, acquirer_public_key,
								 key_version, app_id, payment_notify_url, auth_notify_url)
	VALUES (client_id, rtrim(gateway_url, '/'), private_key_file, acquirer_public_key, key_version,
			app_id, payment_notify_url, auth_notify_url)
	ON CONFLICT ON CONSTRAINT merchant_client_id_key DO UPDATE SET
		gateway_url = excluded.gateway_url, private_key_file = excluded.private_key_file,
		acquirer_public_key = excluded.acquirer_public_key, key_version = excluded.key_version,
		app_id = excluded.app_id, payment_notify_url = excluded.payment_notify_url,
		auth_notify_url = excluded.auth_notify_url, updated_at = now()
	RETURNING * INTO m;
	RETURN m;
END
$$;

-- Start an authorization: an unguessable auth_state and the URL for my.signContract.
CREATE FUNCTION autodebit_consult(customer_ref text, customer_belongs_to text, auth_redirect_url text,
		terminal_type text DEFAULT 'MINI_APP', os_type text DEFAULT NULL, merchant text DEFAULT NULL)
	RETURNS TABLE (auth_state text, auth_url text, normal_url text, scheme_url text, applink_url text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	wallet text;
	state text;
	env jsonb;
	body jsonb;
	x autodebit.exchange_result;
BEGIN
	PERFORM autodebit._check_text('customer_ref', customer_ref, 64);
	PERFORM autodebit._check_text('customer_belongs_to', customer_belongs_to, 64);
	PERFORM autodebit._check_text('auth_redirect_url', auth_redirect_url, 1024);
	IF auth_redirect_url !~ '^[A-Za-z][A-Za-z0-9+.-]*://' THEN
		RAISE EXCEPTION 'auth_redirect_url must be an absolute URL' USING ERRCODE = '22023';
	END IF;
	IF terminal_type IS NULL OR terminal_type NOT IN ('WEB', 'WAP', 'APP', 'MINI_APP') THEN
		RAISE EXCEPTION 'terminal_type must be WEB, WAP, APP or MINI_APP' USING ERRCODE = '22023';
	END IF;
	IF os_type IS NOT NULL AND os_type NOT IN ('IOS', 'ANDROID') THEN
		RAISE EXCEPTION 'os_type must be IOS or ANDROID' USING ERRCODE = '22023';
	END IF;
	IF terminal_type IN ('APP', 'WAP') AND os_type IS NULL THEN
		RAISE EXCEPTION 'os_type is required for terminal_type %', terminal_type USING ERRCODE = '22023';
	END IF;
	wallet := autodebit._wallet(customer_belongs_to);
	m := autodebit._merchant(merchant);

	state := autodebit._random_id(24);
	env := jsonb_strip_nulls(jsonb_build_object('terminalType', terminal_type, 'osType', os_type));
	body := jsonb_strip_nulls(jsonb_build_object(
		'customerBelongsTo', wallet,
		'authRedirectUrl', auth_redirect_url,
		'scopes', jsonb_build_array('AGREEMENT_PAY'),
		'authState', state,
		'terminalType', terminal_type,
		'osType', os_type,
		'env', env,
		'authNotifyUrl', m.auth_notify_url));
	x := autodebit._call(m, 'consult', NULL, body);
	IF x.outcome <> 'S' THEN
		PERFORM autodebit._raise_not_done('consult', x, 'Call autodebit_consult() again; nothing was recorded.');
	END IF;

	INSERT INTO autodebit.consult_session (auth_state, merchant_id, customer_ref, customer_belongs_to,
										   auth_redirect_url, terminal_type, os_type, auth_url, expires_at)
	VALUES (state, m.id, customer_ref, wallet, auth_redirect_url, terminal_type, os_type,
			x.body->>'authUrl', now() + interval '1 hour');
	RETURN QUERY SELECT state, x.body->>'authUrl', x.body->>'normalUrl', x.body->>'schemeUrl',
						x.body->>'applinkUrl';
END
$$;

-- Finish an authorization: exchange the authCode for tokens (sealed in C) and store the agreement.
CREATE FUNCTION autodebit_apply_token(auth_state text, auth_code text) RETURNS autodebit.agreements
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	s autodebit.consult_session;
	m autodebit.merchant;
	agreement_id bigint;
	x autodebit.exchange_result;
BEGIN
	PERFORM autodebit._check_text('auth_state', auth_state, 256);
	PERFORM autodebit._check_text('auth_code', auth_code, 128);
	SELECT * INTO s FROM autodebit.consult_session cs WHERE cs.auth_state = auth_state FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown auth_state'
			USING ERRCODE = 'ZD202',
				  DETAIL = 'No autodebit_consult() call produced this auth_state.',
				  HINT = 'Pass back the authState the wallet returned, unchanged.';
	END IF;
	IF s.used_at IS NOT NULL THEN
		RAISE EXCEPTION 'auth_state has already been used'
			USING ERRCODE = 'ZD203', DETAIL = format('It created agreement %s.', s.agreement_id),
				  HINT = 'Start a new authorization with autodebit_consult().';
	END IF;
	IF s.expires_at < now() THEN
		RAISE EXCEPTION 'auth_state has expired'
			USING ERRCODE = 'ZD203', DETAIL = format('It expired at %s.', s.expires_at),
				  HINT = 'Start a new authorization with autodebit_consult().';
	END IF;
	SELECT * INTO m FROM autodebit.merchant WHERE id = s.merchant_id;

	agreement_id := nextval(pg_get_serial_sequence('autodebit.agreement', 'id'));
	x := autodebit._call(m, 'applyToken', NULL,
						 jsonb_build_object('grantType', 'AUTHORIZATION_CODE',
											'customerBelongsTo', s.customer_belongs_to,
											'authCode', auth_code),
						 seal_aad => 'agreement:' || agreement_id);
	IF x.outcome <> 'S' OR x.access_token_enc IS NULL THEN
		PERFORM autodebit._raise_not_done('applyToken', x,
			'Call autodebit_apply_token() again with the same code; if the acquirer then refuses the code, start again with autodebit_consult().');
	END IF;

	-- a new authorization for the same customer and wallet replaces the old one
	UPDATE autodebit.agreement a SET status = 'REVOKED', ended_at = now(), updated_at = now(),
		   end_reason = 'superseded by agreement ' || agreement_id
	WHERE a.merchant_id = m.id AND a.customer_ref = s.customer_ref
	  AND a.customer_belongs_to = s.customer_belongs_to AND a.status = 'ACTIVE';

	INSERT INTO autodebit.agreement (id, merchant_id, customer_ref, customer_belongs_to, terminal_type,
									 access_token_enc, access_token_fp, access_token_expires_at,
									 refresh_token_enc, refresh_token_expires_at, user_login_id, auth_state)
	VALUES (agreement_id, m.id, s.customer_ref, s.customer_belongs_to, s.terminal_type,
			x.access_token_enc, x.access_token_fp, (x.body->>'accessTokenExpiryTime')::timestamptz,
			x.refresh_token_enc, (x.body->>'refreshTokenExpiryTime')::timestamptz,
			x.body->>'userLoginId', s.auth_state);
	UPDATE autodebit.consult_session cs SET used_at = now(), agreement_id = agreement_id
	WHERE cs.auth_state = s.auth_state;
	RETURN autodebit._agreement_row(agreement_id);
END
$$;

-- The customer's active agreement, locked; raises when there is none (or several wallets).
CREATE FUNCTION autodebit._active_agreement(merchant_id bigint, customer_ref text, wallet text)
	RETURNS autodebit.agreement
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	a autodebit.agreement;
	n integer;
BEGIN
	SELECT count(*) INTO n FROM autodebit.agreement x
	WHERE x.merchant_id = merchant_id AND x.customer_ref = customer_ref
	  AND (wallet IS NULL OR x.customer_belongs_to = wallet) AND x.status = 'ACTIVE';
	IF n = 0 THEN
		RAISE EXCEPTION 'customer "%" has no active auto-debit agreement%', customer_ref,
				CASE WHEN wallet IS NULL THEN '' ELSE ' for ' || wallet END
			USING ERRCODE = 'ZD201',
				  DETAIL = 'The agreement is missing, revoked, expired or was cancelled by the user.',
				  HINT = 'Ask the user to authorize again: autodebit_consult() then autodebit_apply_token().';
	ELSIF n > 1 THEN
		RAISE EXCEPTION 'customer "%" has active agreements with several wallets', customer_ref
			USING ERRCODE = 'ZD204', HINT = 'Name the wallet in customer_belongs_to.';
	END IF;
	SELECT * INTO a FROM autodebit.agreement x
	WHERE x.merchant_id = merchant_id AND x.customer_ref = customer_ref
	  AND (wallet IS NULL OR x.customer_belongs_to = wallet) AND x.status = 'ACTIVE'
	FOR UPDATE;
	RETURN a;
END
$$;

-- Debit a customer for an order through their agreement, exactly once per order.
CREATE FUNCTION autodebit_pay(customer_ref text, order_ref text, amount_minor bigint, currency text,
		description text, customer_belongs_to text DEFAULT NULL, merchant text DEFAULT NULL,
		deferred boolean DEFAULT false)
	RETURNS autodebit.payments
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	cur autodebit.currency;
	wallet text;
	a autodebit.agreement;
	p autodebit.payment;
	last autodebit.payment;
	prid text;
	env jsonb;
	body jsonb;
	res autodebit.exchange_result;
BEGIN
	PERFORM autodebit._check_text('customer_ref', customer_ref, 64);
	PERFORM autodebit._check_text('order_ref', order_ref, 64);
	PERFORM autodebit._check_text('description', description, 256);
	IF amount_minor IS NULL OR amount_minor <= 0 THEN
		RAISE EXCEPTION 'amount_minor must be a positive number of minor units'
			USING ERRCODE = '22003', DETAIL = format('Got %s.', coalesce(amount_minor::text, 'NULL')),
				  HINT = 'Amounts are integers in the currency''s smallest unit: 1050 is 10.50 USD.';
	END IF;
	IF amount_minor > 9999999999999999 THEN
		RAISE EXCEPTION 'amount_minor has more than 16 digits' USING ERRCODE = '22003';
	END IF;
	SELECT * INTO cur FROM autodebit.currency c WHERE c.code = currency;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown currency "%"', currency
			USING ERRCODE = 'ZD101', HINT = 'Use an ISO 4217 code such as USD, PHP or HKD.';
	END IF;
	IF amount_minor % cur.minor_multiple <> 0 THEN
		RAISE EXCEPTION '% amounts must be a multiple of % minor units', cur.code, cur.minor_multiple
			USING ERRCODE = '22023', DETAIL = format('Got %s.', amount_minor);
	END IF;
	IF customer_belongs_to IS NOT NULL THEN
		wallet := autodebit._wallet(customer_belongs_to);
	END IF;
	IF deferred IS NULL THEN
		RAISE EXCEPTION 'deferred must not be null' USING ERRCODE = '22004';
	END IF;
	m := autodebit._merchant(merchant);

	-- One payer per order at a time, until the caller's transaction ends.
	PERFORM pg_advisory_xact_lock(hashtextextended('autodebit/' || m.id || '/' || order_ref, 0));

	SELECT * INTO p FROM autodebit.payment t
	WHERE t.merchant_id = m.id AND t.order_ref = order_ref AND t.status = 'SUCCESS';
	IF FOUND THEN
		RETURN autodebit._payment_row(p.id);		-- already paid: no call
	END IF;

	SELECT * INTO last FROM autodebit.payment t
	WHERE t.merchant_id = m.id AND t.order_ref = order_ref
	ORDER BY t.attempt DESC LIMIT 1 FOR UPDATE;
	IF FOUND AND last.status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN') THEN
		-- outcome not final: re-send the very same request (same id, body and token)
		IF last.amount_minor <> amount_minor OR last.currency <> cur.code OR last.customer_ref <> customer_ref THEN
			RAISE EXCEPTION 'order "%" already has an unfinished payment with other details', order_ref
				USING ERRCODE = 'ZD103',
					  DETAIL = format('Payment %s is %s for %s %s.', last.payment_request_id, last.status,
									  last.amount_minor, last.currency),
					  HINT = 'Pay it with the same amount and customer, or settle it first.';
		END IF;
		p := last;
		IF deferred THEN
			RETURN autodebit._payment_row(p.id);
		END IF;
	ELSE
		a := autodebit._active_agreement(m.id, customer_ref, wallet);
		IF a.terminal_type = 'MINI_APP' AND m.app_id IS NULL THEN
			RAISE EXCEPTION 'merchant "%" has no app_id', m.client_id
				USING ERRCODE = 'ZD001',
					  DETAIL = 'Antom requires the mini program appId to debit a MINI_APP authorization.',
					  HINT = 'Set it with autodebit_merchant_set(..., app_id => ''...'').';
		END IF;
		prid := 'ad_' || left(encode(sha256(convert_to(m.client_id || '/' || order_ref, 'UTF8')), 'hex'), 40)
				|| '_' || (coalesce(last.attempt, 0) + 1);
		env := jsonb_build_object('terminalType', a.terminal_type);
		body := jsonb_strip_nulls(jsonb_build_object(
			'productCode', 'AGREEMENT_PAYMENT',
			'paymentRequestId', prid,
			'paymentAmount', jsonb_build_object('currency', cur.code, 'value', amount_minor::text),
			'paymentMethod', jsonb_build_object('paymentMethodType', a.customer_belongs_to,
												'paymentMethodId', '@@autodebit_secret@@'),
			'order', jsonb_build_object(
				'referenceOrderId', order_ref,
				'orderDescription', description,
				'orderAmount', jsonb_build_object('currency', cur.code, 'value', amount_minor::text),
				'env', env),
			'env', env,
			'appId', CASE WHEN a.terminal_type = 'MINI_APP' THEN m.app_id END,
			'paymentNotifyUrl', m.payment_notify_url));
		INSERT INTO autodebit.payment (merchant_id, payment_request_id, order_ref, attempt, customer_ref,
									   customer_belongs_to, agreement_id, amount_minor, currency,
									   description, status, request_body, token_enc, token_aad)
		VALUES (m.id, prid, order_ref, coalesce(last.attempt, 0) + 1, customer_ref, a.customer_belongs_to,
				a.id, amount_minor, cur.code, description,
				CASE WHEN deferred THEN 'QUEUED' ELSE 'SENDING' END,
				body, a.access_token_enc, 'agreement:' || a.id || ':access')
		RETURNING * INTO p;
		IF deferred THEN
			RETURN autodebit._payment_row(p.id);
		END IF;
	END IF;

	UPDATE autodebit.payment t SET status = CASE WHEN t.status = 'QUEUED' THEN 'SENDING' ELSE t.status END,
		   sent_at = now(), updated_at = now()
	WHERE t.id = p.id;
	res := autodebit._call(m, 'pay', p.payment_request_id, p.request_body, p.token_enc, p.token_aad);
	PERFORM autodebit._apply_pay_result(p.id, res);
	RETURN autodebit._payment_row(p.id);
END
$$;

-- End an authorization at the acquirer; the agreement is REVOKED only when the acquirer says so.
CREATE FUNCTION autodebit_revoke(customer_ref text, customer_belongs_to text DEFAULT NULL,
		merchant text DEFAULT NULL)
	RETURNS autodebit.agreements
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	wallet text;
	a autodebit.agreement;
	x autodebit.exchange_result;
BEGIN
	PERFORM autodebit._check_text('customer_ref', customer_ref, 64);
	IF customer_belongs_to IS NOT NULL THEN
		wallet := autodebit._wallet(customer_belongs_to);
	END IF;
	m := autodebit._merchant(merchant);
	a := autodebit._active_agreement(m.id, customer_ref, wallet);

	x := autodebit._call(m, 'revoke', NULL,
						 jsonb_build_object('accessToken', '@@autodebit_secret@@'),
						 a.access_token_enc, 'agreement:' || a.id || ':access');
	IF x.outcome = 'S' OR (x.outcome = 'F' AND x.result_code = 'INVALID_ACCESS_TOKEN') THEN
		UPDATE autodebit.agreement y SET status = 'REVOKED', ended_at = now(), updated_at = now(),
			   end_reason = CASE WHEN x.outcome = 'S' THEN 'revoked by the merchant'
								 ELSE 'the acquirer no longer knows the token' END
		WHERE y.id = a.id;
		RETURN autodebit._agreement_row(a.id);
	END IF;
	PERFORM autodebit._raise_not_done('revoke', x,
		'The agreement is still active. Call autodebit_revoke() again.');
	RETURN NULL;
END
$$;

---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; functions run as the extension owner.
---------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA autodebit FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA autodebit FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA autodebit FROM PUBLIC;
REVOKE ALL ON FUNCTION autodebit_merchant_set(text, text, text, text, integer, text, text, text),
	autodebit_consult(text, text, text, text, text, text),
	autodebit_apply_token(text, text),
	autodebit_pay(text, text, bigint, text, text, text, text, boolean),
	autodebit_revoke(text, text, text)
	FROM PUBLIC;

GRANT USAGE ON SCHEMA autodebit TO autodebit_admin, autodebit_user;
GRANT SELECT ON autodebit.agreements, autodebit.payments, autodebit.currency, autodebit.wallet
	TO autodebit_admin, autodebit_user;
GRANT SELECT ON autodebit.merchant, autodebit.exchange_log TO autodebit_admin;
GRANT INSERT, UPDATE, DELETE ON autodebit.wallet, autodebit.currency TO autodebit_admin;
GRANT EXECUTE ON FUNCTION autodebit_merchant_set(text, text, text, text, integer, text, text, text)
	TO autodebit_admin;
GRANT EXECUTE ON FUNCTION autodebit_consult(text, text, text, text, text, text),
	autodebit_apply_token(text, text),
	autodebit_pay(text, text, bigint, text, text, text, text, boolean),
	autodebit_revoke(text, text, text)
	TO autodebit_admin, autodebit_user;
