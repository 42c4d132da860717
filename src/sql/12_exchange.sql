-- Calling the acquirer and recording what a payment answer settles.
-- Replayable: included in the install script and in every update script.

-- Call one acquirer API for a merchant and log the exchange (never a secret).
CREATE OR REPLACE FUNCTION autodebit._call(m autodebit.merchant, api text, request_id text, body jsonb,
		secret bytea DEFAULT NULL, secret_aad text DEFAULT NULL, seal_aad text DEFAULT NULL,
		meta jsonb DEFAULT NULL)
	RETURNS autodebit.exchange_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	x autodebit.exchange_result;
BEGIN
	x := autodebit._exchange(m, api, request_id, body, secret, secret_aad, seal_aad, meta);
	INSERT INTO autodebit.exchange_log (merchant_id, api, request_id, http_status, outcome,
										result_code, result_status, result_message, latency_ms, error)
	VALUES (m.id, api, request_id, x.http_status, x.outcome, x.result_code, x.result_status,
			x.result_message, x.latency_ms, x.error);
	RETURN x;
END
$$;

-- Raise the error for a consult/applyToken/revoke call that did not succeed.
CREATE OR REPLACE FUNCTION autodebit._raise_not_done(what text, x autodebit.exchange_result, retry_hint text)
	RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF x.outcome = 'F' THEN
		RAISE EXCEPTION '% was refused by the acquirer: %', what, x.result_code
			USING ERRCODE = 'ZD301', DETAIL = coalesce(x.result_message, ''),
				  HINT = 'This request will not succeed as it is; see the result code.';
	END IF;
	IF x.error LIKE '%signature does not verify%' THEN
		-- an answer came, signed, but not by the key we hold: most often the key is wrong
		RAISE EXCEPTION '% got an answer that does not verify with the merchant''s acquirer public key', what
			USING ERRCODE = 'ZD001',
				  DETAIL = 'The acquirer answered with a signature this key does not verify; nothing was recorded as done.',
				  HINT = 'Check acquirer_public_key (Antom''s public key for this client id, from the Antom dashboard; for the sandbox, its --private-key''s public half) and set it again with autodebit_merchant_set().';
	END IF;
	RAISE EXCEPTION 'the outcome of % is unknown', what
		USING ERRCODE = 'ZD302',
			  DETAIL = coalesce(x.error, x.result_code || ': ' || coalesce(x.result_message, '')),
			  HINT = retry_hint;
END
$$;

-- A payment row as the API returns it.
-- (PL/pgSQL rather than SQL: its plan is cached for the session, which the hot path wants.)
CREATE OR REPLACE FUNCTION autodebit._payment_row(pid bigint) RETURNS autodebit.payments
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r autodebit.payments;
BEGIN
	SELECT * INTO r FROM autodebit.payments v WHERE v.id = pid;
	RETURN r;
END
$$;

-- An agreement row as the API returns it.
CREATE OR REPLACE FUNCTION autodebit._agreement_row(aid bigint) RETURNS autodebit.agreements
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r autodebit.agreements;
BEGIN
	SELECT * INTO r FROM autodebit.agreements v WHERE v.id = aid;
	RETURN r;
END
$$;

-- Move a payment to a new status, if autodebit.transition allows it (a late or replayed answer
-- for a final payment changes nothing).  A SUCCESS for an order that already has a kept
-- SUCCESS is a second debit: it is recorded as it is, with the decision to give it back.
-- Returns whether the row changed.
CREATE OR REPLACE FUNCTION autodebit._set_payment_status(pid bigint, new_status text, code text, message text,
		antom_payment_id text DEFAULT NULL, paid_at timestamptz DEFAULT NULL,
		acquirer_amount bigint DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	duplicate boolean := false;
	cur autodebit.payment;
BEGIN
	IF new_status = 'SUCCESS' THEN
		SELECT * INTO cur FROM autodebit.payment WHERE id = pid;
		SELECT true INTO duplicate FROM autodebit.payment o
		WHERE o.merchant_id = cur.merchant_id AND o.order_ref = cur.order_ref
		  AND o.id <> cur.id AND o.status = 'SUCCESS' AND o.cancel_wanted IS NULL;
		duplicate := coalesce(duplicate, false);
		-- what an operator must look at: the acquirer contradicts a final FAIL, or holds
		-- another amount than the one recorded (the id went out before with other fields)
		IF cur.status = 'FAIL' THEN
			PERFORM autodebit._item_failed('payment', cur.payment_request_id, cur.merchant_id, 'ZD503',
				'the acquirer says SUCCESS for a payment recorded as FAIL' || coalesce(' (' || cur.result_code || ')', ''));
		ELSIF acquirer_amount IS NOT NULL AND acquirer_amount <> cur.amount_minor
			  AND autodebit._may('payment', cur.status, 'SUCCESS') AND cur.status <> 'SUCCESS' THEN
			PERFORM autodebit._item_failed('payment', cur.payment_request_id, cur.merchant_id, 'ZD503',
				format('the acquirer holds %s, not the %s recorded; the row now says %s', acquirer_amount,
					   cur.amount_minor, acquirer_amount));
			UPDATE autodebit.payment t SET amount_minor = acquirer_amount WHERE t.id = pid;
		END IF;
	END IF;
	UPDATE autodebit.payment p SET
		status = new_status,
		result_code = coalesce(code, p.result_code),
		result_message = coalesce(message, p.result_message),
		payment_id = coalesce(antom_payment_id, p.payment_id),
		payment_time = CASE WHEN new_status = 'SUCCESS' THEN coalesce(paid_at, p.payment_time, now())
							ELSE p.payment_time END,
		cancel_time = CASE WHEN new_status = 'CANCELLED' THEN now() ELSE p.cancel_time END,
		cancel_wanted = CASE WHEN duplicate THEN coalesce(p.cancel_wanted, 'duplicate') ELSE p.cancel_wanted END,
		cancel_decided_at = CASE WHEN duplicate THEN coalesce(p.cancel_decided_at, now()) ELSE p.cancel_decided_at END,
		completed_at = CASE WHEN new_status IN ('SUCCESS', 'FAIL', 'CANCELLED') THEN now() END,
		next_check_at = CASE WHEN duplicate THEN now()
							 WHEN new_status IN ('PROCESSING', 'UNKNOWN', 'SENDING')
							 THEN coalesce(p.next_check_at, now())
							 ELSE p.next_check_at END,
		claimed_run = CASE WHEN new_status = 'QUEUED' THEN NULL ELSE p.claimed_run END,
		updated_at = now()
	WHERE p.id = pid AND autodebit._may('payment', p.status, new_status)
	  AND NOT (p.status = new_status AND new_status IN ('SUCCESS', 'FAIL', 'CANCELLED'));
	RETURN FOUND;
END
$$;

-- An acquirer amount ({"currency", "value"}) in minor units, or NULL when it is not one.
CREATE OR REPLACE FUNCTION autodebit._amount(a jsonb) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN a->>'value' ~ '^[0-9]{1,18}$' THEN (a->>'value')::bigint END $$;

-- The status a pay answer means.  Only a definite F is FAIL: REPEAT_REQ_INCONSISTENT says the
-- id went out before with other key fields (a rolled-back send with an older token, say), and
-- that first request may have debited.  A throttled request was not carried out; a run sends
-- it again (QUEUED), a sync pay leaves it UNKNOWN for the caller to retry.
CREATE OR REPLACE FUNCTION autodebit._pay_status(x autodebit.exchange_result, requeue_throttled boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE x.outcome
		WHEN 'S' THEN 'SUCCESS'
		WHEN 'F' THEN CASE WHEN x.result_code = 'REPEAT_REQ_INCONSISTENT' THEN 'UNKNOWN' ELSE 'FAIL' END
		WHEN 'U' THEN CASE WHEN x.result_code = 'PAYMENT_IN_PROCESS' THEN 'PROCESSING'
						   WHEN x.result_code = 'REQUEST_TRAFFIC_EXCEED_LIMIT' AND requeue_throttled THEN 'QUEUED'
						   ELSE 'UNKNOWN' END
		ELSE 'UNKNOWN' END
$$;

-- Record a pay answer on its payment (through the state machine above).
CREATE OR REPLACE FUNCTION autodebit._apply_pay_result(pid bigint, x autodebit.exchange_result,
		requeue_throttled boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM autodebit._set_payment_status(pid, autodebit._pay_status(x, requeue_throttled),
		x.result_code, coalesce(x.result_message, x.error),
		x.body->>'paymentId', autodebit._time(x.body->>'paymentTime'), autodebit._amount(x.body->'paymentAmount'));
END
$$;

-- The back-off before an unsettled item is looked at again: 5 s doubling, at most
-- autodebit.max_check_interval (10 minutes unless set).
CREATE OR REPLACE FUNCTION autodebit._backoff(checks integer) RETURNS interval LANGUAGE sql STABLE AS
$$ SELECT least(autodebit._setting('autodebit.max_check_interval')::interval,
				interval '5 seconds' * power(2, least(checks, 10))) $$;

-- Record an inquiryPayment answer.  ORDER_NOT_EXIST means "never received" only once the
-- acquirer would have closed the payment (autodebit.order_close_grace after sending).
CREATE OR REPLACE FUNCTION autodebit._apply_inquiry(p autodebit.payment, x autodebit.exchange_result) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	st text := x.body->>'paymentStatus';
BEGIN
	IF x.outcome = 'S' AND st IN ('SUCCESS', 'FAIL', 'CANCELLED') THEN
		PERFORM autodebit._set_payment_status(p.id, st,
			coalesce(x.body->>'paymentResultCode', CASE WHEN st = 'SUCCESS' THEN 'SUCCESS' END),
			x.body->>'paymentResultMessage', x.body->>'paymentId', autodebit._time(x.body->>'paymentTime'),
			autodebit._amount(x.body->'paymentAmount'));
	ELSIF x.outcome = 'S' AND st IN ('PROCESSING', 'PENDING') THEN
		PERFORM autodebit._set_payment_status(p.id, 'PROCESSING', 'PAYMENT_IN_PROCESS', 'inquiry: ' || st,
											  x.body->>'paymentId');
	ELSIF x.outcome = 'F' AND x.result_code = 'ORDER_NOT_EXIST' AND p.sent_at IS NOT NULL
		  AND p.sent_at < now() - autodebit._setting('autodebit.order_close_grace')::interval THEN
		PERFORM autodebit._set_payment_status(p.id, 'FAIL', 'ORDER_NOT_EXIST',
			'the acquirer never received this payment');
	END IF;
	UPDATE autodebit.payment t SET checks = t.checks + 1,
		next_check_at = CASE WHEN t.status IN ('PROCESSING', 'UNKNOWN', 'SENDING')
			THEN now() + autodebit._backoff(t.checks)
			END
	WHERE t.id = p.id;
END
$$;

-- The row of a new payment attempt, composed but not stored: its request id, its request body
-- (the token a placeholder) and the agreement's sealed token.
CREATE OR REPLACE FUNCTION autodebit._payment_request(m autodebit.merchant, a autodebit.agreement, order_ref text,
		attempt integer, amount_minor bigint, currency text, description text)
	RETURNS autodebit.payment
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	env jsonb;
	p autodebit.payment;
BEGIN
	IF a.terminal_type = 'MINI_APP' AND m.app_id IS NULL THEN
		RAISE EXCEPTION 'merchant "%" has no app_id', m.client_id
			USING ERRCODE = 'ZD001',
				  DETAIL = 'Antom requires the mini program appId to debit a MINI_APP authorization.',
				  HINT = 'Set it with autodebit_merchant_set(..., app_id => ''...'').';
	END IF;
	p.merchant_id := m.id;
	p.payment_request_id := 'ad_' || left(encode(sha256(convert_to(m.client_id || '/' || order_ref, 'UTF8')), 'hex'), 40)
			|| '_' || attempt;
	p.order_ref := order_ref;
	p.attempt := attempt;
	p.customer_ref := a.customer_ref;
	p.customer_belongs_to := a.customer_belongs_to;
	p.agreement_id := a.id;
	p.amount_minor := amount_minor;
	p.currency := currency;
	p.description := description;
	p.token_enc := a.access_token_enc;
	p.token_aad := autodebit._token_aad(a.id, 'access');
	env := jsonb_strip_nulls(jsonb_build_object('terminalType', a.terminal_type, 'osType', a.os_type));
	p.request_body := jsonb_strip_nulls(jsonb_build_object(
		'productCode', 'AGREEMENT_PAYMENT',
		'paymentRequestId', p.payment_request_id,
		'paymentAmount', jsonb_build_object('currency', currency, 'value', amount_minor::text),
		'paymentMethod', jsonb_build_object('paymentMethodType', a.customer_belongs_to,
											'paymentMethodId', autodebit._secret_placeholder()),
		'order', jsonb_build_object(
			'referenceOrderId', order_ref,
			'orderDescription', description,
			'orderAmount', jsonb_build_object('currency', currency, 'value', amount_minor::text),
			'env', env),
		'env', env,
		'appId', CASE WHEN a.terminal_type = 'MINI_APP' THEN m.app_id END,
		'settlementStrategy', CASE WHEN m.settlement_currency IS NOT NULL
								   THEN jsonb_build_object('settlementCurrency', m.settlement_currency) END,
		'paymentNotifyUrl', m.payment_notify_url));
	RETURN p;
END
$$;

-- Store a composed payment row q with its status (and what else q says); a row already there for
-- its attempt (a twin's, or an orphan's that reconcile adopted) is returned instead, unchanged,
-- and stored is false.
CREATE OR REPLACE FUNCTION autodebit._store_payment(q autodebit.payment, OUT p autodebit.payment,
		OUT stored boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO autodebit.payment (merchant_id, payment_request_id, order_ref, attempt, customer_ref,
								   customer_belongs_to, agreement_id, amount_minor, currency,
								   description, status, request_body, token_enc, token_aad,
								   result_code, result_message, payment_id, payment_time, sent_at,
								   completed_at, next_check_at)
	VALUES (q.merchant_id, q.payment_request_id, q.order_ref, q.attempt, q.customer_ref,
			q.customer_belongs_to, q.agreement_id, q.amount_minor, q.currency,
			q.description, q.status, q.request_body, q.token_enc, q.token_aad,
			q.result_code, q.result_message, q.payment_id, q.payment_time, q.sent_at,
			q.completed_at, q.next_check_at)
	ON CONFLICT ON CONSTRAINT payment_merchant_id_order_ref_attempt_key DO NOTHING
	RETURNING * INTO p;
	stored := p.id IS NOT NULL;
	IF NOT stored THEN
		SELECT * INTO p FROM autodebit.payment t
		WHERE t.merchant_id = q.merchant_id AND t.order_ref = q.order_ref AND t.attempt = q.attempt;
	END IF;
END
$$;

-- A new payment attempt, stored QUEUED for autodebit_run() to send; or the row already there
-- for it.  (A synchronous pay stores its row only with the answer: _pay_attempt.)
CREATE OR REPLACE FUNCTION autodebit._queue_payment(m autodebit.merchant, a autodebit.agreement, order_ref text,
		attempt integer, amount_minor bigint, currency text, description text)
	RETURNS autodebit.payment
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	q autodebit.payment;
BEGIN
	q := autodebit._payment_request(m, a, order_ref, attempt, amount_minor, currency, description);
	q.status := 'QUEUED';
	RETURN (autodebit._store_payment(q)).p;
END
$$;
-- Send a new payment attempt and store its row once, with the answer's status: the send journal
-- holds the request from before it leaves (a rollback or a crash leaves an orphan that reconcile
-- adopts), so the row need not exist while it is out.  If a row for the attempt appeared
-- meanwhile (a deferred twin queued it, or reconcile adopted an orphan of it), our request was
-- that row's request (the same id): the answer is applied to it by the usual rules, unless it is
-- finished or being given back (then settled is false and the caller tries the next attempt).
-- An answer whose amount is not ours is stored SENDING and applied by those rules too.
CREATE OR REPLACE FUNCTION autodebit._pay_attempt(m autodebit.merchant, a autodebit.agreement, order_ref text,
		attempt integer, amount_minor bigint, currency text, description text,
		OUT p autodebit.payment, OUT settled boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	q autodebit.payment;
	res autodebit.exchange_result;
	acquirer_amount bigint;
	kept record;
	stored boolean;
BEGIN
	q := autodebit._payment_request(m, a, order_ref, attempt, amount_minor, currency, description);
	q.sent_at := clock_timestamp();
	res := autodebit._call(m, 'pay', q.payment_request_id, q.request_body, q.token_enc, q.token_aad,
						   meta => autodebit._pay_meta(q));
	q.status := autodebit._pay_status(res, false);
	acquirer_amount := autodebit._amount(res.body->'paymentAmount');
	IF q.status = 'SUCCESS' AND acquirer_amount IS NOT NULL AND acquirer_amount <> amount_minor THEN
		q.status := 'SENDING';			-- _set_payment_status records and corrects it
	ELSE
		q.result_code := res.result_code;
		q.result_message := coalesce(res.result_message, res.error);
		q.payment_id := res.body->>'paymentId';
		q.payment_time := CASE WHEN q.status = 'SUCCESS'
							   THEN coalesce(autodebit._time(res.body->>'paymentTime'), now()) END;
		q.completed_at := CASE WHEN q.status IN ('SUCCESS', 'FAIL') THEN now() END;
		q.next_check_at := CASE WHEN q.status IN ('PROCESSING', 'UNKNOWN') THEN now() END;
	END IF;
	kept := autodebit._store_payment(q);
	p := kept.p;
	stored := kept.stored;
	settled := true;
	IF stored AND q.status <> 'SENDING' THEN
		RETURN;
	END IF;
	SELECT * INTO p FROM autodebit.payment t WHERE t.id = p.id FOR UPDATE;
	IF NOT stored AND (p.cancel_wanted IS NOT NULL OR p.status IN ('FAIL', 'CANCELLED')) THEN
		settled := false;				-- someone else's attempt, over: the next one is ours
		RETURN;
	END IF;
	IF p.status = 'QUEUED' THEN
		UPDATE autodebit.payment t SET status = 'SENDING', sent_at = q.sent_at, updated_at = now()
		WHERE t.id = p.id;
	END IF;
	PERFORM autodebit._apply_pay_result(p.id, res);
	SELECT * INTO p FROM autodebit.payment t WHERE t.id = p.id;
END
$$;

-- What the journal records about a pay request beside its body, so that reconcile can adopt it
-- as a payment row if its transaction rolls back (one definition for every sender).
CREATE OR REPLACE FUNCTION autodebit._pay_meta(p autodebit.payment) RETURNS jsonb
LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('merchantId', p.merchant_id, 'agreementId', p.agreement_id,
							 'customerRef', p.customer_ref, 'orderRef', p.order_ref, 'attempt', p.attempt) $$;

-- Send (or re-send, byte for byte) a payment's request and record the answer.  An orphan adopted
-- without its agreement has no token to send again: it is asked about instead.
CREATE OR REPLACE FUNCTION autodebit._send_payment(m autodebit.merchant, p autodebit.payment)
	RETURNS autodebit.payment
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	res autodebit.exchange_result;
BEGIN
	IF p.token_enc IS NULL THEN
		RETURN autodebit._inquire(m, p);
	END IF;
	-- sent_at is the latest send: "never received" is judged from it
	UPDATE autodebit.payment t SET status = CASE WHEN t.status = 'QUEUED' THEN 'SENDING' ELSE t.status END,
		   sent_at = clock_timestamp(), updated_at = now()
	WHERE t.id = p.id;
	res := autodebit._call(m, 'pay', p.payment_request_id, p.request_body, p.token_enc, p.token_aad,
						   meta => autodebit._pay_meta(p));
	PERFORM autodebit._apply_pay_result(p.id, res);
	SELECT * INTO p FROM autodebit.payment WHERE id = p.id;
	RETURN p;
END
$$;

-- Refresh an agreement's access token with its refresh token (applyToken REFRESH_TOKEN).
-- Returns 'refreshed', 'expired' (the agreement is now EXPIRED) or 'unknown'.
CREATE OR REPLACE FUNCTION autodebit._refresh(m autodebit.merchant, a autodebit.agreement) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF a.refresh_token_enc IS NULL OR a.refresh_token_expires_at < now() THEN
		UPDATE autodebit.agreement g SET status = 'EXPIRED', ended_at = now(), updated_at = now(),
			   end_reason = 'the access token expired and no valid refresh token remains'
		WHERE g.id = a.id AND g.status = 'ACTIVE';
		RETURN 'expired';
	END IF;
	RETURN autodebit._apply_refresh(a.id,
		autodebit._call(m, 'applyToken', NULL, autodebit._refresh_body(a), a.refresh_token_enc,
						autodebit._token_aad(a.id, 'refresh'), autodebit._token_aad(a.id)));
END
$$;

-- The applyToken request that refreshes agreement a's token (the refresh token a placeholder).
CREATE OR REPLACE FUNCTION autodebit._refresh_body(a autodebit.agreement) RETURNS jsonb
LANGUAGE sql STABLE AS
$$ SELECT jsonb_build_object('grantType', 'REFRESH_TOKEN', 'customerBelongsTo', a.customer_belongs_to,
							 'refreshToken', autodebit._secret_placeholder()) $$;

-- Record a refresh's answer on agreement aid: 'refreshed' (new tokens, sealed in C), 'expired'
-- (the acquirer refused the refresh token) or 'unknown' (no clear answer: the old token stays).
CREATE OR REPLACE FUNCTION autodebit._apply_refresh(aid bigint, res autodebit.exchange_result) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF res.outcome = 'S' AND res.access_token_enc IS NOT NULL THEN
		UPDATE autodebit.agreement g SET access_token_enc = res.access_token_enc,
			   access_token_fp = res.access_token_fp,
			   access_token_expires_at = autodebit._time(res.body->>'accessTokenExpiryTime'),
			   refresh_token_enc = coalesce(res.refresh_token_enc, g.refresh_token_enc),
			   refresh_token_expires_at = coalesce(autodebit._time(res.body->>'refreshTokenExpiryTime'),
												   g.refresh_token_expires_at),
			   updated_at = now()
		WHERE g.id = aid;
		RETURN 'refreshed';
	ELSIF res.outcome = 'F' THEN
		UPDATE autodebit.agreement g SET status = 'EXPIRED', ended_at = now(), updated_at = now(),
			   end_reason = 'the acquirer refused the refresh token: ' || res.result_code
		WHERE g.id = aid AND g.status = 'ACTIVE';
		RETURN 'expired';
	END IF;
	RETURN 'unknown';
END
$$;
