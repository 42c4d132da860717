-- The merchant endpoints the mini program calls (examples/mini-program/), as plain SQL functions
-- behind any HTTP layer: server.py here is one, PostgREST or your own web framework would do.
-- Written only on autodebit's public API, as a merchant would.  Each endpoint is one function
-- call in one transaction, so a retry from the phone is a retry of the whole step.
--
--   psql -f examples/mini-program/merchant.sql     (after CREATE EXTENSION autodebit and
--                                                    autodebit_merchant_set(...))

CREATE SCHEMA IF NOT EXISTS mp;

-- Where the mini program may run: my.getSiteInfo()'s siteName -> the wallet (customerBelongsTo)
-- and what the first month costs there.  A site not listed is refused, not guessed: ALIPAY_MO,
-- for one, has no customerBelongsTo of its own.
CREATE TABLE IF NOT EXISTS mp.site (
	site_name		text PRIMARY KEY,
	wallet			text NOT NULL,
	currency		text NOT NULL,
	monthly_minor	bigint NOT NULL CHECK (monthly_minor > 0)
);
INSERT INTO mp.site VALUES
	('GCASH', 'GCASH', 'PHP', 29900),
	('ALIPAY_HK', 'ALIPAY_HK', 'HKD', 3800),
	('DANA', 'DANA', 'IDR', 7500000),
	('TNG', 'TNG', 'MYR', 2190)
ON CONFLICT (site_name) DO NOTHING;

-- One row per "Enable auto debit" press: which customer asked, from which site, and how it ended.
CREATE TABLE IF NOT EXISTS mp.enrolment (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	auth_state		text NOT NULL UNIQUE,
	customer_ref	text NOT NULL,
	site_name		text NOT NULL REFERENCES mp.site,
	started_at		timestamptz NOT NULL DEFAULT now(),
	agreement_id	bigint,
	first_order		text,
	sign_error		text			-- what my.signContract failed with, as the page reported it
);

-- POST /autodebit/start: consult the acquirer; the page hands authUrl to my.signContract.
CREATE OR REPLACE FUNCTION mp.start_autodebit(customer text, site_name text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	s mp.site;
	c record;
BEGIN
	SELECT * INTO s FROM mp.site WHERE mp.site.site_name = start_autodebit.site_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'auto debit is not offered in %', coalesce(site_name, 'this wallet')
			USING ERRCODE = '22023', HINT = 'Add the site to mp.site once your Antom contract covers it.';
	END IF;
	SELECT * INTO c FROM autodebit_consult(customer, s.wallet, 'https://merchant.example/autodebit/done',
										   terminal_type => 'MINI_APP');
	INSERT INTO mp.enrolment (auth_state, customer_ref, site_name) VALUES (c.auth_state, customer, s.site_name);
	RETURN jsonb_build_object('authUrl', c.auth_url, 'authState', c.auth_state);
END
$$;

-- POST /autodebit/finish: my.signContract succeeded; exchange the code, then take the first month.
-- Safe to call again (the phone retries on a lost answer): the same agreement, the same order.
CREATE OR REPLACE FUNCTION mp.finish_autodebit(customer text, auth_state text, auth_code text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	e mp.enrolment;
	s mp.site;
	a autodebit.agreements;
	p autodebit.payments;
BEGIN
	SELECT * INTO e FROM mp.enrolment WHERE mp.enrolment.auth_state = finish_autodebit.auth_state FOR UPDATE;
	IF NOT FOUND OR e.customer_ref IS DISTINCT FROM customer THEN
		-- the authState must be the one stored with this user (a forged or swapped one is refused)
		RAISE EXCEPTION 'this authorization was not started by you'
			USING ERRCODE = '42501', HINT = 'Press "Enable auto debit" again.';
	END IF;
	SELECT * INTO s FROM mp.site WHERE site_name = e.site_name;
	IF e.agreement_id IS NULL THEN
		BEGIN
			a := autodebit_apply_token(auth_state, auth_code);
		EXCEPTION WHEN SQLSTATE 'ZD203' THEN
			-- already used: the wallet's AUTHCODE_CREATED notification got there first
			SELECT * INTO a FROM autodebit.agreements
			WHERE customer_ref = customer AND customer_belongs_to = s.wallet AND status = 'ACTIVE';
			IF NOT FOUND THEN
				RAISE;
			END IF;
		END;
		UPDATE mp.enrolment SET agreement_id = a.id, first_order = 'mp-first-' || e.id WHERE id = e.id
			RETURNING * INTO e;
	ELSE
		SELECT * INTO a FROM autodebit.agreements WHERE id = e.agreement_id;
	END IF;
	-- the first month: idempotent on the order, so a retry shows the same payment
	p := autodebit_pay(customer, e.first_order, s.monthly_minor, s.currency, 'First month of Premium',
					   customer_belongs_to => s.wallet);
	RETURN jsonb_build_object('agreement', jsonb_build_object('id', a.id, 'status', a.status,
										   'wallet', a.customer_belongs_to, 'userLoginId', a.user_login_id),
							  'payment', jsonb_build_object('orderRef', p.order_ref, 'status', p.status,
										   'amountMinor', p.amount_minor, 'currency', p.currency,
										   'resultCode', p.result_code));
END
$$;

-- GET /autodebit/status: is auto debit on for this customer, and how did the last payment go.
CREATE OR REPLACE FUNCTION mp.autodebit_status(customer text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'enabled', EXISTS (SELECT 1 FROM autodebit.agreements WHERE customer_ref = customer AND status = 'ACTIVE'),
		'lastPayment', (SELECT jsonb_build_object('orderRef', order_ref, 'status', status,
												  'amountMinor', amount_minor, 'currency', currency)
						FROM autodebit.payments WHERE customer_ref = customer
						ORDER BY created_at DESC, id DESC LIMIT 1));
$$;

-- POST /autodebit/sign-failed: the page reports why my.signContract failed (6001, 6002, 7001, 7002)
-- and learns whether auto debit is on anyway (after 7001 the wallet may have agreed).
CREATE OR REPLACE FUNCTION mp.sign_failed(customer text, auth_state text, error text) RETURNS jsonb
LANGUAGE sql AS $$
	UPDATE mp.enrolment SET sign_error = left(error, 16)
	WHERE mp.enrolment.auth_state = sign_failed.auth_state AND customer_ref = customer;
	SELECT mp.autodebit_status(customer);
$$;
