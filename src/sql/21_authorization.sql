-- Authorization: consult, applyToken, revoke.
-- Replayable: included in the install script and in every update script.

-- Start an authorization: an unguessable auth_state and the URL for my.signContract.
CREATE OR REPLACE FUNCTION autodebit_consult(customer_ref text, customer_belongs_to text, auth_redirect_url text,
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
	PERFORM autodebit._check_web_url('auth_redirect_url', auth_redirect_url, 1024);
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

-- Exchange an authCode for tokens (sealed in C) and store the agreement of a consult session;
-- raises when the acquirer does not give tokens.  Returns the new agreement's id.
CREATE OR REPLACE FUNCTION autodebit._apply_token(s autodebit.consult_session, auth_code text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	agreement_id bigint;
	x autodebit.exchange_result;
BEGIN
	SELECT * INTO m FROM autodebit.merchant WHERE id = s.merchant_id;

	agreement_id := nextval(pg_get_serial_sequence('autodebit.agreement', 'id'));
	x := autodebit._call(m, 'applyToken', NULL,
						 jsonb_build_object('grantType', 'AUTHORIZATION_CODE',
											'customerBelongsTo', s.customer_belongs_to,
											'authCode', auth_code),
						 seal_aad => autodebit._token_aad(agreement_id));
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
									 refresh_token_enc, refresh_token_expires_at, user_login_id, auth_state, os_type)
	VALUES (agreement_id, m.id, s.customer_ref, s.customer_belongs_to, s.terminal_type,
			x.access_token_enc, x.access_token_fp, autodebit._time(x.body->>'accessTokenExpiryTime'),
			x.refresh_token_enc, autodebit._time(x.body->>'refreshTokenExpiryTime'),
			x.body->>'userLoginId', s.auth_state, s.os_type);
	UPDATE autodebit.consult_session cs SET used_at = now(), agreement_id = agreement_id
	WHERE cs.auth_state = s.auth_state;
	RETURN agreement_id;
END
$$;

-- Finish an authorization: exchange the authCode for tokens (sealed in C) and store the agreement.
CREATE OR REPLACE FUNCTION autodebit_apply_token(auth_state text, auth_code text) RETURNS autodebit.agreements
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	s autodebit.consult_session;
	agreement_id bigint;
BEGIN
	PERFORM autodebit._check_text('auth_state', auth_state, 256);
	PERFORM autodebit._check_text('auth_code', auth_code, 128);
	PERFORM autodebit._refuse_unless_mine(cs.merchant_id, 'this auth_state')
	FROM autodebit.consult_session cs WHERE cs.auth_state = auth_state;
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
	agreement_id := autodebit._apply_token(s, auth_code);
	RETURN autodebit._agreement_row(agreement_id);
END
$$;

-- End an authorization at the acquirer; the agreement is REVOKED only when the acquirer says so.
CREATE OR REPLACE FUNCTION autodebit_revoke(customer_ref text, customer_belongs_to text DEFAULT NULL,
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
						 jsonb_build_object('accessToken', autodebit._secret_placeholder()),
						 a.access_token_enc, autodebit._token_aad(a.id, 'access'));
	IF x.outcome = 'S' OR (x.outcome = 'F' AND x.result_code = 'INVALID_ACCESS_TOKEN') THEN
		UPDATE autodebit.agreement y SET status = 'REVOKED', ended_at = now(), updated_at = now(),
			   end_reason = CASE WHEN x.outcome = 'S' THEN 'revoked by the merchant'
								 ELSE 'the acquirer no longer knows the token' END
		WHERE y.id = a.id AND y.status = 'ACTIVE';
		RETURN autodebit._agreement_row(a.id);
	END IF;
	PERFORM autodebit._raise_not_done('revoke', x,
		'The agreement is still active. Call autodebit_revoke() again.');
	RETURN NULL;
END
$$;
