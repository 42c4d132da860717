-- Notifications from the acquirer.
-- Replayable: included in the install script and in every update script.

-- The fixed acknowledgement Antom expects from a merchant.
CREATE OR REPLACE FUNCTION autodebit._ack() RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT '{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}' $$;

-- The answer refusing a verified notification that cannot be stored: permanent, with why.
CREATE OR REPLACE FUNCTION autodebit._refusal(problem text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT jsonb_build_object('result', jsonb_build_object('resultCode', 'PARAM_ILLEGAL',
		'resultStatus', 'F', 'resultMessage', 'notification refused: ' || problem))::text $$;

-- Is a JSON member name one a secret goes by (a token, a code, a secret, a password)?  Expiry
-- times and types of such things are kept.
CREATE OR REPLACE FUNCTION autodebit._secret_name(k text) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT k ~* '(token|authcode|auth_code|secret|passw|credential|private_?key|otp|cvv|pin$)'
		  AND k !~* '(expir|time$|type$)' $$;

-- A JSON value without the members autodebit._secret_name() names, at any depth.
CREATE OR REPLACE FUNCTION autodebit._redact(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE jsonb_typeof(j)
		WHEN 'object' THEN coalesce((SELECT jsonb_object_agg(e.key, autodebit._redact(e.value))
									 FROM jsonb_each(j) e WHERE NOT autodebit._secret_name(e.key)), '{}')
		WHEN 'array' THEN coalesce((SELECT jsonb_agg(autodebit._redact(e.value) ORDER BY e.n)
									FROM jsonb_array_elements(j) WITH ORDINALITY e(value, n)), '[]')
		ELSE j END
$$;

-- Verify, record once, and apply a notification from the acquirer; returns the body to answer
-- with.  Nothing is believed or recorded before the signature verifies: an unknown client id,
-- a missing or a bad signature all raise the same ZD401 and change nothing.  A verified body
-- that cannot be stored is recorded as rejected and answered with a permanent refusal
-- (resultStatus F); autodebit-notifyd answers that with HTTP 400.  The body is bytes: the
-- signature is over bytes, and whether they are text is decided after it verifies.
CREATE OR REPLACE FUNCTION autodebit_handle_notification(path text, client_id text, request_time text,
		signature text, body bytea) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	n record;
	b jsonb;
	kind text;
	ntype text;
	ref text;
	nid bigint;
	outcome text := 'ignored';
	p autodebit.payment;
	r autodebit.refund;
	s autodebit.consult_session;
	st text;
	verified boolean := false;
BEGIN
	SELECT * INTO m FROM autodebit.merchant t WHERE t.client_id = client_id;
	IF FOUND THEN
		n := autodebit._open_notification(m.acquirer_public_key, path, client_id, request_time, signature, body);
		verified := n.verified;
	END IF;
	IF verified IS NOT TRUE THEN
		RAISE EXCEPTION 'notification signature does not verify'
			USING ERRCODE = 'ZD401',
				  DETAIL = 'It was not signed with the acquirer key registered for this merchant, or was altered.',
				  HINT = 'Nothing was recorded. Check the merchant''s client_id, acquirer_public_key and the notify path.';
	END IF;
	IF n.problem IS NOT NULL THEN
		INSERT INTO autodebit.notification (merchant_id, path, kind, body_sha256, problem, outcome)
		VALUES (m.id, path, 'unreadable', sha256(body), n.problem, 'rejected')
		ON CONFLICT (merchant_id, body_sha256) DO NOTHING;
		RAISE WARNING 'refused a signed notification for merchant "%": %', m.client_id, n.problem
			USING DETAIL = 'It is recorded in autodebit.notification with outcome rejected.';
		RETURN autodebit._refusal(n.problem);
	END IF;
	b := n.body;
	IF b ? 'authorizationNotifyType' THEN
		kind := 'notifyAuthorization'; ntype := b->>'authorizationNotifyType'; ref := b->>'authState';
	ELSIF b->>'notifyType' IN ('PAYMENT_RESULT', 'PAYMENT_PENDING') THEN
		kind := 'notifyPayment'; ntype := b->>'notifyType'; ref := b->>'paymentRequestId';
	ELSIF b->>'notifyType' = 'REFUND_RESULT' THEN
		kind := 'notifyRefund'; ntype := b->>'notifyType'; ref := b->>'refundRequestId';
	ELSE
		kind := 'unknown'; ntype := coalesce(b->>'notifyType', b->>'authorizationNotifyType');
	END IF;

	-- once: a replay has the same bytes
	INSERT INTO autodebit.notification (merchant_id, path, kind, notify_type, ref, body_sha256, body,
										access_token_fp, outcome)
	VALUES (m.id, path, kind, ntype, ref, sha256(body), autodebit._redact(b), n.access_token_fps[1], 'pending')
	ON CONFLICT (merchant_id, body_sha256) DO NOTHING
	RETURNING id INTO nid;
	IF nid IS NULL THEN
		RETURN autodebit._ack();		-- a replay: already recorded and applied
	END IF;

	IF kind = 'notifyPayment' THEN
		SELECT * INTO p FROM autodebit.payment t
		WHERE t.merchant_id = m.id AND t.payment_request_id = ref FOR UPDATE;
		IF NOT FOUND THEN
			outcome := 'orphan';
		ELSIF ntype = 'PAYMENT_PENDING' THEN
			outcome := CASE WHEN p.status IN ('SENDING', 'UNKNOWN')
							AND autodebit._set_payment_status(p.id, 'PROCESSING', 'PAYMENT_IN_PROCESS', 'notifyPayment: pending')
							THEN 'applied' ELSE 'unchanged' END;
		ELSE
			st := CASE b->'result'->>'resultStatus' WHEN 'S' THEN 'SUCCESS' WHEN 'F' THEN 'FAIL' END;
			outcome := CASE WHEN st IS NOT NULL AND autodebit._set_payment_status(p.id, st,
								b->'result'->>'resultCode', b->'result'->>'resultMessage',
								b->>'paymentId', autodebit._time(b->>'paymentTime'))
							THEN 'applied' ELSE 'unchanged' END;
		END IF;
	ELSIF kind = 'notifyRefund' THEN
		PERFORM FROM autodebit.payment p
		WHERE p.id = (SELECT t.payment_row_id FROM autodebit.refund t WHERE t.merchant_id = m.id AND t.refund_request_id = ref)
		FOR UPDATE;
		SELECT * INTO r FROM autodebit.refund t
		WHERE t.merchant_id = m.id AND t.refund_request_id = ref FOR UPDATE;
		IF NOT FOUND THEN
			outcome := 'orphan';
		ELSE
			st := b->>'refundStatus';
			outcome := CASE WHEN st IN ('SUCCESS', 'FAIL') AND autodebit._set_refund_status(r.id, st, st, NULL,
								b->>'refundId', autodebit._time(b->>'refundTime'))
							THEN 'applied' ELSE 'unchanged' END;
		END IF;
	ELSIF kind = 'notifyAuthorization' AND ntype = 'TOKEN_CANCELED' THEN
		UPDATE autodebit.agreement a SET status = 'CANCELED_BY_USER', ended_at = now(), updated_at = now(),
			   end_reason = coalesce('cancelled in the wallet: ' || (b->>'reason'), 'cancelled in the wallet')
		WHERE a.merchant_id = m.id AND a.access_token_fp = ANY (n.access_token_fps) AND a.status = 'ACTIVE';
		outcome := CASE WHEN FOUND THEN 'applied' ELSE 'unchanged' END;
	ELSIF kind = 'notifyAuthorization' AND ntype = 'AUTHCODE_CREATED' THEN
		-- the first of the app and this notification to arrive completes the token exchange
		SELECT * INTO s FROM autodebit.consult_session cs
		WHERE cs.merchant_id = m.id AND cs.auth_state = ref FOR UPDATE;
		IF NOT FOUND THEN
			outcome := 'orphan';
		ELSIF s.used_at IS NOT NULL OR s.expires_at < now() OR n.auth_code IS NULL THEN
			outcome := 'unchanged';
		ELSE
			PERFORM autodebit._apply_token(s, n.auth_code);
			outcome := 'applied';
		END IF;
	END IF;
	UPDATE autodebit.notification SET outcome = outcome WHERE id = nid;
	RETURN autodebit._ack();
END
$$;

-- The same, for a body passed as text (a receiver of your own that has it as a string).
CREATE OR REPLACE FUNCTION autodebit_handle_notification(path text, client_id text, request_time text,
		signature text, body text) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT @extschema@.autodebit_handle_notification(path, client_id, request_time, signature, convert_to(body, 'UTF8')) $$;
