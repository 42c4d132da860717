-- What roles read: the rows without sealed tokens or request bodies.
-- Replayable: included in the install script and in every update script.

-- What the API returns: the rows without sealed tokens or request bodies.  The views run with
-- the reader's rights (security_invoker), so the tables' row-level security shows a role only
-- the rows of merchants it acts for (see Privileges at the end).
CREATE OR REPLACE VIEW autodebit.agreements WITH (security_invoker = true) AS
	SELECT id, merchant_id, customer_ref, customer_belongs_to, terminal_type, status,
		   access_token_expires_at, refresh_token_expires_at, user_login_id,
		   created_at, updated_at, ended_at, end_reason, os_type
	FROM autodebit.agreement;

CREATE OR REPLACE VIEW autodebit.payments WITH (security_invoker = true) AS
	SELECT id, merchant_id, payment_request_id, order_ref, attempt, customer_ref,
		   customer_belongs_to, agreement_id, amount_minor, currency, description, status,
		   result_code, result_message, payment_id, payment_time, refunded_minor, is_orphan,
		   cancel_time, cancel_wanted, created_at, updated_at, sent_at, completed_at
	FROM autodebit.payment;

CREATE OR REPLACE VIEW autodebit.refunds WITH (security_invoker = true) AS
	SELECT id, merchant_id, payment_request_id, refund_request_id, seq, amount_minor, currency,
		   reason, status, result_code, result_message, refund_id, refund_time, is_orphan,
		   created_at, updated_at
	FROM autodebit.refund;

-- Who acts for which merchant (admins only).
CREATE OR REPLACE VIEW autodebit.merchant_grants AS
	SELECT g.merchant_id, m.client_id AS merchant, r.rolname::text AS role, g.granted_at
	FROM autodebit.merchant_grant g
	JOIN autodebit.merchant m ON m.id = g.merchant_id
	JOIN pg_catalog.pg_roles r ON r.oid = g.role;

-- The data key version a sealed value was sealed under (vault.c's layout: format, version).
CREATE OR REPLACE FUNCTION autodebit._sealed_version(b bytea) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT get_byte(b, 1) * 256 + get_byte(b, 2) $$;

-- How many stored tokens each data key version seals.  A version with none left can be retired
-- once autodebit_reconcile() has read the send journal past the rotation (see README).
CREATE OR REPLACE VIEW autodebit.data_key_use AS
	SELECT key_version, count(*) FILTER (WHERE kind = 'agreement') AS agreement_tokens,
		   count(*) FILTER (WHERE kind = 'payment') AS payment_tokens
	FROM (SELECT 'agreement' AS kind, autodebit._sealed_version(access_token_enc) AS key_version
		  FROM autodebit.agreement
		  UNION ALL
		  SELECT 'agreement', autodebit._sealed_version(refresh_token_enc)
		  FROM autodebit.agreement WHERE refresh_token_enc IS NOT NULL
		  UNION ALL
		  SELECT 'payment', autodebit._sealed_version(token_enc)
		  FROM autodebit.payment WHERE token_enc IS NOT NULL) t
	GROUP BY key_version;

-- The queue at a glance: open payments by merchant and state, and the age of the oldest.
CREATE OR REPLACE VIEW autodebit.queue WITH (security_invoker = true) AS
	SELECT m.client_id AS merchant, p.status, count(*) AS payments, min(p.created_at) AS oldest,
		   now() - min(p.created_at) AS oldest_age
	FROM autodebit.payment p JOIN autodebit.merchant m ON m.id = p.merchant_id
	WHERE p.status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
	GROUP BY m.client_id, p.status;

-- When period k of a schedule falls due: month arithmetic in UTC (like pg_cron 1.4), so the
-- anchor day is kept and clamped to the month's end whatever the session's time zone.
CREATE OR REPLACE FUNCTION autodebit._due(starts_at timestamptz, every interval, k integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS
$$ SELECT ((starts_at AT TIME ZONE 'UTC') + every * k) AT TIME ZONE 'UTC' $$;

CREATE OR REPLACE VIEW autodebit.schedules WITH (security_invoker = true) AS
	SELECT id, merchant_id, customer_ref, customer_belongs_to, amount_minor, currency, description, every,
		   starts_at, catch_up, retry_plan, status, next_period,
		   autodebit._due(starts_at, every, next_period) AS next_due_at, created_at, updated_at
	FROM autodebit.schedule;
