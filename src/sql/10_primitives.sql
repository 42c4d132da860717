-- C primitives (internal; not granted to anyone).
-- Replayable: included in the install script and in every update script.

-- One acquirer call for a merchant (its row: client id, gateway, key file, acquirer key, key
-- version), with the request's secret sealed in and, for money, its journal record first.
CREATE OR REPLACE FUNCTION autodebit._exchange(m autodebit.merchant, api text, request_id text, body jsonb,
		secret bytea DEFAULT NULL, secret_aad text DEFAULT NULL, seal_aad text DEFAULT NULL,
		journal_meta jsonb DEFAULT NULL)
	RETURNS autodebit.exchange_result
	AS 'MODULE_PATHNAME', 'autodebit_exchange' LANGUAGE C VOLATILE;

-- Many calls of one API for one merchant, journaled together and sent concurrently.
CREATE OR REPLACE FUNCTION autodebit._exchange_many(m autodebit.merchant, api text, request_ids text[],
		bodies jsonb[], secrets bytea[], secret_aads text[], metas jsonb[], max_in_flight integer, rps integer)
	RETURNS TABLE (i integer, outcome text, result_code text, result_status text, result_message text,
				   http_status integer, body jsonb, access_token_enc bytea, refresh_token_enc bytea,
				   access_token_fp bytea, latency_ms double precision, error text)
	AS 'MODULE_PATHNAME', 'autodebit_exchange_many' LANGUAGE C VOLATILE;

-- ...and with the AAD each answer's tokens are sealed under (applyToken: refreshing many tokens).
CREATE OR REPLACE FUNCTION autodebit._exchange_many(m autodebit.merchant, api text, request_ids text[],
		bodies jsonb[], secrets bytea[], secret_aads text[], metas jsonb[], max_in_flight integer, rps integer,
		seal_aads text[])
	RETURNS TABLE (i integer, outcome text, result_code text, result_status text, result_message text,
				   http_status integer, body jsonb, access_token_enc bytea, refresh_token_enc bytea,
				   access_token_fp bytea, latency_ms double precision, error text)
	AS 'MODULE_PATHNAME', 'autodebit_exchange_many' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION autodebit._journal_read(from_lsn pg_lsn, max_records integer, max_bytes bigint,
		OUT lsn pg_lsn, OUT next_lsn pg_lsn, OUT at timestamptz, OUT xid xid8,
		OUT client_id text, OUT api text, OUT request_id text, OUT meta jsonb, OUT body jsonb)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'autodebit_journal_read' LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION autodebit._open_notification(acquirer_public_key text, path text, client_id text,
		request_time text, signature text, body bytea,
		OUT verified boolean, OUT problem text, OUT body jsonb, OUT access_token_fps bytea[],
		OUT auth_code text)
	RETURNS record
	AS 'MODULE_PATHNAME', 'autodebit_open_notification' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION autodebit._reseal(sealed bytea, aad text, OUT sealed bytea, OUT fingerprint bytea)
	RETURNS record
	AS 'MODULE_PATHNAME', 'autodebit_reseal' LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION autodebit._caller() RETURNS oid
	AS 'MODULE_PATHNAME', 'autodebit_caller' LANGUAGE C STABLE;

-- The placeholder a request template holds where C puts the secret (exchange.c's SECRET_PLACEHOLDER).
CREATE OR REPLACE FUNCTION autodebit._secret_placeholder() RETURNS text
	AS 'MODULE_PATHNAME', 'autodebit_secret_placeholder' LANGUAGE C IMMUTABLE;

-- The associated data an agreement's token is sealed with: 'agreement:<id>', to which C appends
-- ':access' or ':refresh' when it seals what applyToken returned (exchange.c, seal_token).
CREATE OR REPLACE FUNCTION autodebit._token_aad(agreement_id bigint, which text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE AS
$$ SELECT 'agreement:' || agreement_id || coalesce(':' || which, '') $$;

-- A setting of ours, as text (its default comes from C: no SQL needs to repeat it).
CREATE OR REPLACE FUNCTION autodebit._setting(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'autodebit_setting' LANGUAGE C STABLE STRICT;

CREATE OR REPLACE FUNCTION autodebit._time(t text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'autodebit_time' LANGUAGE C STABLE STRICT;

CREATE OR REPLACE FUNCTION autodebit._random_id(nbytes integer) RETURNS text
	AS 'MODULE_PATHNAME', 'autodebit_random_id' LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION autodebit._check_keys(private_key_file text, acquirer_public_key text) RETURNS void
	AS 'MODULE_PATHNAME', 'autodebit_check_keys' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION autodebit._check_url(url text) RETURNS void
	AS 'MODULE_PATHNAME', 'autodebit_check_url' LANGUAGE C VOLATILE STRICT;
