-- Merchants and who acts for them (admins).
-- Replayable: included in the install script and in every update script.

-- Register (or update) the merchant's Antom client.
CREATE OR REPLACE FUNCTION autodebit_merchant_set(client_id text, gateway_url text, private_key_file text,
		acquirer_public_key text, key_version integer DEFAULT 1, app_id text DEFAULT NULL,
		payment_notify_url text DEFAULT NULL, auth_notify_url text DEFAULT NULL,
		settlement_currency text DEFAULT NULL, refund_notify_url text DEFAULT NULL)
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
	IF acquirer_public_key IS NULL OR btrim(acquirer_public_key) = '' OR length(acquirer_public_key) > 8192 THEN
		RAISE EXCEPTION 'acquirer_public_key must be a PEM or bare base64 RSA public key'
			USING ERRCODE = '22023';
	END IF;
	IF key_version IS NULL OR key_version < 1 THEN
		RAISE EXCEPTION 'key_version must be a positive integer' USING ERRCODE = '22023';
	END IF;
	IF app_id IS NOT NULL THEN
		PERFORM autodebit._check_text('app_id', app_id, 32);
	END IF;
	IF payment_notify_url IS NOT NULL THEN
		PERFORM autodebit._check_web_url('payment_notify_url', payment_notify_url, 2048);
	END IF;
	IF auth_notify_url IS NOT NULL THEN
		PERFORM autodebit._check_web_url('auth_notify_url', auth_notify_url, 1024);
	END IF;
	IF refund_notify_url IS NOT NULL THEN
		PERFORM autodebit._check_web_url('refund_notify_url', refund_notify_url, 2048);
	END IF;
	IF settlement_currency IS NOT NULL AND NOT EXISTS (SELECT FROM autodebit.currency c WHERE c.code = settlement_currency) THEN
		RAISE EXCEPTION 'unknown settlement currency "%"', settlement_currency
			USING ERRCODE = 'ZD101', HINT = 'Use the ISO 4217 code of a currency your Antom contract settles in.';
	END IF;
	PERFORM autodebit._check_keys(private_key_file, acquirer_public_key);

	INSERT INTO autodebit.merchant AS t (client_id, gateway_url, private_key_file, acquirer_public_key,
								 key_version, app_id, payment_notify_url, auth_notify_url,
								 settlement_currency, refund_notify_url)
	VALUES (client_id, rtrim(gateway_url, '/'), private_key_file, acquirer_public_key, key_version,
			app_id, payment_notify_url, auth_notify_url, settlement_currency, refund_notify_url)
	ON CONFLICT ON CONSTRAINT merchant_client_id_key DO UPDATE SET
		gateway_url = excluded.gateway_url, private_key_file = excluded.private_key_file,
		acquirer_public_key = excluded.acquirer_public_key, key_version = excluded.key_version,
		app_id = excluded.app_id, payment_notify_url = excluded.payment_notify_url,
		auth_notify_url = excluded.auth_notify_url, settlement_currency = excluded.settlement_currency,
		refund_notify_url = excluded.refund_notify_url, updated_at = now()
	RETURNING * INTO m;
	RETURN m;
END
$$;

-- The merchant and role a grant names; raises when either does not exist.
CREATE OR REPLACE FUNCTION autodebit._grant_target(merchant text, role name, OUT merchant_id bigint, OUT role_id oid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT m.id INTO merchant_id FROM autodebit.merchant m WHERE m.client_id = merchant;
	IF merchant_id IS NULL THEN
		RAISE EXCEPTION 'unknown merchant "%"', merchant
			USING ERRCODE = 'ZD002', HINT = 'Register it with autodebit_merchant_set().';
	END IF;
	SELECT r.oid INTO role_id FROM pg_roles r WHERE r.rolname = role;
	IF role_id IS NULL THEN
		RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
	END IF;
END
$$;

-- Let a role (and its members) act for a merchant: call the API for it and see its rows.
CREATE OR REPLACE FUNCTION autodebit_merchant_grant(merchant text, role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t record;
BEGIN
	t := autodebit._grant_target(merchant, role);
	-- grants of roles dropped since are cleared here, so an OID reused one day inherits nothing
	DELETE FROM autodebit.merchant_grant g WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = g.role);
	INSERT INTO autodebit.merchant_grant (merchant_id, role) VALUES (t.merchant_id, t.role_id)
	ON CONFLICT DO NOTHING;
END
$$;

-- Stop a role acting for a merchant (its members keep what other grants give them).
CREATE OR REPLACE FUNCTION autodebit_merchant_revoke(merchant text, role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t record;
BEGIN
	t := autodebit._grant_target(merchant, role);
	DELETE FROM autodebit.merchant_grant g WHERE g.merchant_id = t.merchant_id AND g.role = t.role_id;
END
$$;
