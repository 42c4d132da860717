-- A payment after it was made: inquire, cancel, refund; refreshing a token.
-- Replayable: included in the install script and in every update script.

-- A payment by its paymentRequestId, locked, with its merchant; raises when unknown.
CREATE OR REPLACE FUNCTION autodebit._payment_by_request_id(payment_request_id text, OUT p autodebit.payment,
		OUT m autodebit.merchant)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
BEGIN
	PERFORM autodebit._check_text('payment_request_id', payment_request_id, 64);
	PERFORM autodebit._refuse_unless_mine(t.merchant_id, format('payment "%s"', payment_request_id))
	FROM autodebit.payment t WHERE t.payment_request_id = payment_request_id;
	SELECT * INTO p FROM autodebit.payment t WHERE t.payment_request_id = payment_request_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown payment_request_id "%"', payment_request_id
			USING ERRCODE = 'ZD206', HINT = 'Use the payment_request_id of a row of autodebit.payments.';
	END IF;
	SELECT * INTO m FROM autodebit.merchant WHERE id = p.merchant_id;
END
$$;

-- Ask the acquirer about one payment and record what it says.
CREATE OR REPLACE FUNCTION autodebit._inquire(m autodebit.merchant, p autodebit.payment) RETURNS autodebit.payment
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	res autodebit.exchange_result;
BEGIN
	IF p.status = 'QUEUED' THEN
		RETURN p;				-- never sent: nothing to ask
	END IF;
	res := autodebit._call(m, 'inquiryPayment', p.payment_request_id,
						   jsonb_build_object('paymentRequestId', p.payment_request_id));
	PERFORM autodebit._apply_inquiry(p, res);
	SELECT * INTO p FROM autodebit.payment WHERE id = p.id;
	RETURN p;
END
$$;

-- Cancel one payment at the acquirer and record what that settles; returns the answer.
-- S: CANCELLED.  ORDER_NOT_EXIST: never received (FAIL once past the grace period).  A payment
-- the acquirer will no longer cancel (CANCEL_WINDOW_EXCEED, ORDER_STATUS_INVALID) is inquired,
-- so that the row says what the acquirer holds.
CREATE OR REPLACE FUNCTION autodebit._cancel(m autodebit.merchant, p autodebit.payment) RETURNS autodebit.exchange_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	res autodebit.exchange_result;
BEGIN
	res := autodebit._call(m, 'cancel', p.payment_request_id,
						   jsonb_build_object('paymentRequestId', p.payment_request_id));
	IF res.outcome = 'S' THEN
		PERFORM autodebit._set_payment_status(p.id, 'CANCELLED', 'CANCELLED', 'cancelled at the acquirer');
	ELSIF res.outcome = 'F' AND res.result_code = 'ORDER_NOT_EXIST' AND p.status = 'QUEUED' THEN
		PERFORM autodebit._set_payment_status(p.id, 'CANCELLED', 'CANCELLED', 'cancelled before it reached the acquirer');
	ELSIF res.outcome = 'F' AND res.result_code = 'ORDER_NOT_EXIST' THEN
		PERFORM autodebit._apply_inquiry(p, res);	-- never received, once past the grace period
	ELSIF res.outcome = 'F' AND res.result_code IN ('CANCEL_WINDOW_EXCEED', 'ORDER_STATUS_INVALID')
		  AND p.status <> 'SUCCESS' THEN
		PERFORM autodebit._inquire(m, p);
	END IF;
	RETURN res;
END
$$;

-- Ask the acquirer what became of a payment (inquiryPayment) and record it.
CREATE OR REPLACE FUNCTION autodebit_inquire(payment_request_id text) RETURNS autodebit.payments
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f record;
BEGIN
	f := autodebit._payment_by_request_id(payment_request_id);
	PERFORM autodebit._inquire(f.m, f.p);
	RETURN autodebit._payment_row((f.p).id);
END
$$;

-- Cancel a payment: the acquirer closes it and, if it was paid, gives the money back.  A cancel
-- without a clear answer is not dropped: the decision is stored (cancel_wanted = 'merchant') with
-- the caller's transaction, and autodebit_reconcile() carries it out until the acquirer answers.
CREATE OR REPLACE FUNCTION autodebit_cancel(payment_request_id text) RETURNS autodebit.payments
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f record;
	res autodebit.exchange_result;
	now_status text;
BEGIN
	f := autodebit._payment_by_request_id(payment_request_id);
	IF (f.p).status IN ('CANCELLED', 'FAIL') THEN
		RETURN autodebit._payment_row((f.p).id);		-- nothing to cancel
	END IF;
	-- even a QUEUED payment is asked about: a sync pay may have sent it in a transaction that
	-- then rolled back, and the acquirer may hold that debit
	res := autodebit._cancel(f.m, f.p);
	SELECT status INTO now_status FROM autodebit.payment WHERE id = (f.p).id;
	IF now_status IN ('CANCELLED', 'FAIL') THEN
		RETURN autodebit._payment_row((f.p).id);
	ELSIF res.outcome = 'F' AND res.result_code = 'CANCEL_WINDOW_EXCEED' THEN
		RAISE EXCEPTION 'payment "%" can no longer be cancelled', payment_request_id
			USING ERRCODE = 'ZD303', DETAIL = 'The acquirer''s cancel window has passed.',
				  HINT = format('Refund it instead: autodebit_refund(%L, %s).', payment_request_id,
								(f.p).amount_minor - (f.p).refunded_minor);
	ELSIF res.outcome = 'F' AND res.result_code <> 'ORDER_NOT_EXIST' THEN
		PERFORM autodebit._raise_not_done('cancel', res, 'The payment is unchanged.');
	END IF;
	-- no clear answer (or "not received yet"): decided, and retried by reconcile
	UPDATE autodebit.payment t SET cancel_wanted = coalesce(t.cancel_wanted, 'merchant'),
		   cancel_decided_at = coalesce(t.cancel_decided_at, now()), next_check_at = now() + autodebit._backoff(0)
	WHERE t.id = (f.p).id;
	RETURN autodebit._payment_row((f.p).id);
END
$$;

-- Record a refund or inquiryRefund answer on its refund, if autodebit.transition allows it.
-- A FAIL releases the reserved amount; a SUCCESS for another amount than ours (the id went out
-- before with other fields) records the acquirer's amount.  Returns whether the row changed.
CREATE OR REPLACE FUNCTION autodebit._set_refund_status(rid bigint, new_status text, code text, message text,
		antom_refund_id text, refunded_at timestamptz, acquirer_amount bigint DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r autodebit.refund;
	was bigint;
BEGIN
	SELECT amount_minor INTO was FROM autodebit.refund WHERE id = rid;
	UPDATE autodebit.refund t SET status = new_status, result_code = coalesce(code, t.result_code),
		   result_message = coalesce(message, t.result_message),
		   refund_id = coalesce(antom_refund_id, t.refund_id),
		   refund_time = CASE WHEN new_status = 'SUCCESS' THEN coalesce(refunded_at, now()) END,
		   amount_minor = CASE WHEN new_status = 'SUCCESS' AND acquirer_amount > 0 THEN acquirer_amount
							   ELSE t.amount_minor END,
		   next_check_at = CASE WHEN new_status IN ('PROCESSING', 'UNKNOWN') THEN coalesce(t.next_check_at, now()) END,
		   updated_at = now()
	WHERE t.id = rid AND t.status IN ('SENDING', 'PROCESSING', 'UNKNOWN')
	  AND autodebit._may('refund', t.status, new_status)
	RETURNING * INTO r;
	IF FOUND AND new_status = 'FAIL' THEN
		UPDATE autodebit.payment p SET refunded_minor = p.refunded_minor - r.amount_minor, updated_at = now()
		WHERE p.id = r.payment_row_id;
	ELSIF FOUND AND r.amount_minor <> was THEN
		UPDATE autodebit.payment p SET refunded_minor = p.refunded_minor + r.amount_minor - was, updated_at = now()
		WHERE p.id = r.payment_row_id;
	END IF;
	RETURN FOUND;
END
$$;

-- The status a refund answer means.  As for pays, REPEAT_REQ_INCONSISTENT is not definite: an
-- earlier request under this id may have moved money.
CREATE OR REPLACE FUNCTION autodebit._refund_status(x autodebit.exchange_result) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE x.outcome
		WHEN 'S' THEN 'SUCCESS'
		WHEN 'F' THEN CASE WHEN x.result_code = 'REPEAT_REQ_INCONSISTENT' THEN 'UNKNOWN' ELSE 'FAIL' END
		WHEN 'U' THEN CASE WHEN x.result_code = 'REFUND_IN_PROCESS' THEN 'PROCESSING' ELSE 'UNKNOWN' END
		ELSE 'UNKNOWN' END
$$;

-- What the journal records about a refund request beside its body (one definition).
CREATE OR REPLACE FUNCTION autodebit._refund_meta(r autodebit.refund) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS
$$ SELECT jsonb_build_object('merchantId', r.merchant_id, 'paymentRowId', r.payment_row_id, 'seq', r.seq) $$;

-- Send (or re-send) a refund's request and record the answer.
CREATE OR REPLACE FUNCTION autodebit._send_refund(m autodebit.merchant, r autodebit.refund) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	res autodebit.exchange_result;
BEGIN
	UPDATE autodebit.refund t SET sent_at = clock_timestamp() WHERE t.id = r.id;
	res := autodebit._call(m, 'refund', r.refund_request_id, r.request_body, meta => autodebit._refund_meta(r));
	PERFORM autodebit._set_refund_status(r.id, autodebit._refund_status(res),
		res.result_code, coalesce(res.result_message, res.error), res.body->>'refundId',
		autodebit._time(res.body->>'refundTime'),
		autodebit._amount(res.body->'refundAmount'));
END
$$;

-- A new refund of a successful payment, its amount reserved on the payment (the CHECK there
-- refuses more than was paid).  refund_request_id derives from the payment and the sequence
-- number, so a re-run after a rollback sends the same id.
CREATE OR REPLACE FUNCTION autodebit._new_refund(m autodebit.merchant, p autodebit.payment, amount_minor bigint,
		reason text) RETURNS autodebit.refund
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	seq integer;
	rrid text;
	r autodebit.refund;
BEGIN
	SELECT coalesce(max(t.seq), 0) + 1 INTO seq FROM autodebit.refund t WHERE t.payment_row_id = p.id;
	rrid := 'rf_' || left(encode(sha256(convert_to(p.payment_request_id, 'UTF8')), 'hex'), 40) || '_' || seq;
	UPDATE autodebit.payment t SET refunded_minor = t.refunded_minor + amount_minor, updated_at = now()
	WHERE t.id = p.id;
	INSERT INTO autodebit.refund (merchant_id, payment_row_id, payment_request_id, refund_request_id, seq,
								  amount_minor, currency, reason, status, request_body)
	VALUES (p.merchant_id, p.id, p.payment_request_id, rrid, seq, amount_minor, p.currency, reason, 'SENDING',
			jsonb_strip_nulls(jsonb_build_object(
				'refundRequestId', rrid,
				'paymentId', p.payment_id,
				'refundAmount', jsonb_build_object('currency', p.currency, 'value', amount_minor::text),
				'refundReason', reason,
				'refundNotifyUrl', coalesce(m.refund_notify_url, m.payment_notify_url))))
	RETURNING * INTO r;
	RETURN r;
END
$$;

-- Refund part or all of a successful payment, at most what was paid, idempotently.
CREATE OR REPLACE FUNCTION autodebit_refund(payment_request_id text, amount_minor bigint, reason text DEFAULT NULL)
	RETURNS autodebit.refunds
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	f record;
	p autodebit.payment;
	r autodebit.refund;
BEGIN
	IF amount_minor IS NULL OR amount_minor <= 0 THEN
		RAISE EXCEPTION 'amount_minor must be a positive number of minor units' USING ERRCODE = '22003';
	END IF;
	IF reason IS NOT NULL THEN
		PERFORM autodebit._check_text('reason', reason, 256);
	END IF;
	f := autodebit._payment_by_request_id(payment_request_id);
	p := f.p;
	IF p.status <> 'SUCCESS' THEN
		RAISE EXCEPTION 'payment "%" is %, not SUCCESS', payment_request_id, p.status
			USING ERRCODE = 'ZD207', HINT = 'Only a successful payment can be refunded.';
	END IF;

	-- an unfinished refund of this payment is re-sent as it was, not doubled
	SELECT * INTO r FROM autodebit.refund t
	WHERE t.payment_row_id = p.id AND t.status IN ('SENDING', 'PROCESSING', 'UNKNOWN')
	ORDER BY t.seq LIMIT 1;
	IF FOUND THEN
		IF r.amount_minor <> amount_minor THEN
			RAISE EXCEPTION 'payment "%" has an unfinished refund of %', payment_request_id, r.amount_minor
				USING ERRCODE = 'ZD103', HINT = 'Settle it first with autodebit_inquire_refund().';
		END IF;
	ELSE
		IF p.refunded_minor + amount_minor > p.amount_minor THEN
			RAISE EXCEPTION 'refunds of payment "%" would exceed the amount paid', payment_request_id
				USING ERRCODE = 'ZD208',
					  DETAIL = format('Paid %s, already refunded %s, asked %s.', p.amount_minor,
									  p.refunded_minor, amount_minor);
		END IF;
		r := autodebit._new_refund(f.m, p, amount_minor, reason);
	END IF;
	PERFORM autodebit._send_refund(f.m, r);
	RETURN (SELECT v FROM autodebit.refunds v WHERE v.id = r.id);
END
$$;

-- Ask the acquirer about one refund and record what it says.  ORDER_NOT_EXIST means "never
-- received" only once autodebit.order_close_grace has passed since it was sent.
CREATE OR REPLACE FUNCTION autodebit._inquire_refund(m autodebit.merchant, r autodebit.refund) RETURNS autodebit.refund
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	res autodebit.exchange_result;
	st text;
BEGIN
	res := autodebit._call(m, 'inquiryRefund', r.refund_request_id,
						   jsonb_build_object('refundRequestId', r.refund_request_id));
	st := res.body->>'refundStatus';
	IF res.outcome = 'S' AND st IN ('SUCCESS', 'FAIL', 'PROCESSING') THEN
		PERFORM autodebit._set_refund_status(r.id, st, CASE WHEN st = 'SUCCESS' THEN 'SUCCESS' ELSE st END,
			NULL, res.body->>'refundId', autodebit._time(res.body->>'refundTime'),
			autodebit._amount(res.body->'refundAmount'));
	ELSIF res.outcome = 'F' AND res.result_code = 'ORDER_NOT_EXIST'
		  AND coalesce(r.sent_at, r.created_at) < now()
			  - autodebit._setting('autodebit.order_close_grace')::interval THEN
		PERFORM autodebit._set_refund_status(r.id, 'FAIL', 'ORDER_NOT_EXIST',
			'the acquirer never received this refund', NULL, NULL);
	END IF;
	UPDATE autodebit.refund t SET checks = t.checks + 1,
		next_check_at = CASE WHEN t.status IN ('PROCESSING', 'UNKNOWN', 'SENDING')
			THEN now() + autodebit._backoff(t.checks)
			END
	WHERE t.id = r.id
	RETURNING * INTO r;
	RETURN r;
END
$$;

-- Ask the acquirer what became of a refund (inquiryRefund) and record it.
CREATE OR REPLACE FUNCTION autodebit_inquire_refund(refund_request_id text) RETURNS autodebit.refunds
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	r autodebit.refund;
	m autodebit.merchant;
BEGIN
	PERFORM autodebit._check_text('refund_request_id', refund_request_id, 64);
	PERFORM autodebit._refuse_unless_mine(t.merchant_id, format('refund "%s"', refund_request_id))
	FROM autodebit.refund t WHERE t.refund_request_id = refund_request_id;
	PERFORM FROM autodebit.payment p
	WHERE p.id = (SELECT t.payment_row_id FROM autodebit.refund t WHERE t.refund_request_id = refund_request_id)
	FOR UPDATE;
	SELECT * INTO r FROM autodebit.refund t WHERE t.refund_request_id = refund_request_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown refund_request_id "%"', refund_request_id USING ERRCODE = 'ZD206';
	END IF;
	SELECT * INTO m FROM autodebit.merchant WHERE id = r.merchant_id;
	PERFORM autodebit._inquire_refund(m, r);
	RETURN (SELECT v FROM autodebit.refunds v WHERE v.id = r.id);
END
$$;

-- Refresh a customer's access token now (applyToken with the refresh token).
CREATE OR REPLACE FUNCTION autodebit_refresh_token(customer_ref text, customer_belongs_to text DEFAULT NULL,
		merchant text DEFAULT NULL) RETURNS autodebit.agreements
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	wallet text;
	a autodebit.agreement;
	outcome text;
BEGIN
	PERFORM autodebit._check_text('customer_ref', customer_ref, 64);
	IF customer_belongs_to IS NOT NULL THEN
		wallet := autodebit._wallet(customer_belongs_to);
	END IF;
	m := autodebit._merchant(merchant);
	a := autodebit._active_agreement(m.id, customer_ref, wallet);
	outcome := autodebit._refresh(m, a);
	IF outcome = 'unknown' THEN
		RAISE EXCEPTION 'the outcome of refreshing the token of customer "%" is unknown', customer_ref
			USING ERRCODE = 'ZD302', HINT = 'The agreement is unchanged. Call autodebit_refresh_token() again.';
	END IF;
	-- 'expired' is returned, not raised, so that the EXPIRED status is kept
	RETURN autodebit._agreement_row(a.id);
END
$$;
