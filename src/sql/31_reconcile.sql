-- Reconcile: adopting the send journal, settling what is open, giving back.
-- Replayable: included in the install script and in every update script.

-- Record an item that reconcile or the runner could not handle, where an operator sees it
-- (autodebit.item_error and a WARNING in the server log); the caller goes on with the rest.
CREATE OR REPLACE FUNCTION autodebit._item_failed(kind text, ref text, merchant_id bigint, state text, message text)
	RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO autodebit.item_error (kind, ref, merchant_id, sqlstate, message)
	VALUES (kind, ref, merchant_id, state, left(message, 1000));
	IF state IN ('ZD503', 'ZD504', 'ZD505') THEN		-- alarms: nothing will be tried again
		RAISE WARNING 'autodebit: % %: %', kind, coalesce(ref, ''), message
			USING DETAIL = 'SQLSTATE ' || state || '; it is in autodebit.item_error for an operator.';
	ELSE
		RAISE WARNING 'autodebit: % % was skipped: %', kind, coalesce(ref, ''), message
			USING DETAIL = 'SQLSTATE ' || state || '; it is in autodebit.item_error and will be tried again.';
	END IF;
END
$$;

-- Carry out a decision to give a debit back (cancel_wanted): cancel it, or refund what the
-- acquirer will no longer cancel.  Returns true once nothing is left for this function to do
-- (the payment is CANCELLED or FAIL, or refunds now cover it); false means "try again later".
CREATE OR REPLACE FUNCTION autodebit._give_back(m autodebit.merchant, pid bigint) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p autodebit.payment;
	res autodebit.exchange_result;
	r autodebit.refund;
BEGIN
	SELECT * INTO p FROM autodebit.payment WHERE id = pid;
	IF p.cancel_wanted IS NULL OR p.status IN ('CANCELLED', 'FAIL') THEN
		RETURN true;
	END IF;
	IF p.status <> 'SUCCESS' OR p.refunded_minor = 0 THEN
		res := autodebit._cancel(m, p);
		SELECT * INTO p FROM autodebit.payment WHERE id = pid;
		IF p.status IN ('CANCELLED', 'FAIL') THEN
			RETURN true;
		END IF;
	END IF;
	-- paid, and the acquirer will not cancel it (too late, or partly refunded): refund the rest
	IF p.status = 'SUCCESS' AND (p.refunded_minor > 0
			OR (res.outcome = 'F' AND res.result_code IN ('CANCEL_WINDOW_EXCEED', 'ORDER_STATUS_INVALID'))) THEN
		SELECT * INTO r FROM autodebit.refund t WHERE t.payment_row_id = p.id
		  AND t.reason LIKE 'autodebit: giving back%' AND t.status = 'FAIL' ORDER BY t.seq DESC LIMIT 1;
		IF FOUND THEN
			-- the acquirer refused to take it back: retrying the same will not help
			PERFORM autodebit._item_failed('payment', p.payment_request_id, p.merchant_id, 'ZD504',
				format('a %s debit could be neither cancelled nor refunded (%s); give it back by hand',
					   p.cancel_wanted, coalesce(r.result_code, 'FAIL')));
		ELSIF p.refunded_minor < p.amount_minor
		   AND NOT EXISTS (SELECT FROM autodebit.refund t WHERE t.payment_row_id = p.id
						   AND t.status IN ('SENDING', 'PROCESSING', 'UNKNOWN')) THEN
			r := autodebit._new_refund(m, p, p.amount_minor - p.refunded_minor,
									   'autodebit: giving back a ' || p.cancel_wanted || ' debit');
			PERFORM autodebit._send_refund(m, r);
			RETURN true;
		ELSE
			RETURN true;
		END IF;
	END IF;
	UPDATE autodebit.payment t SET checks = t.checks + 1, next_check_at = now() + autodebit._backoff(t.checks)
	WHERE t.id = pid;
	RETURN false;
END
$$;

-- Adopt one journaled pay whose transaction ended without leaving its payment row: an UNKNOWN
-- orphan row, inquired at once; under orphan_policy = cancel, a debit it made is given back
-- (a decision stored with the row, so it is retried until the acquirer answers).  An orphan
-- whose agreement rolled back with it is adopted without one (and never sent again).
-- Returns 'adopted', 'cancelled' or 'present' (the row exists: nothing to adopt).
CREATE OR REPLACE FUNCTION autodebit._adopt_pay(j record, keep_orphans boolean) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	p autodebit.payment;
BEGIN
	IF EXISTS (SELECT FROM autodebit.payment t WHERE t.payment_request_id = j.request_id) THEN
		RETURN 'present';
	END IF;
	SELECT * INTO m FROM autodebit.merchant t WHERE t.client_id = j.client_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'a journaled pay for unknown merchant "%" cannot be adopted', j.client_id
			USING ERRCODE = 'ZD502', HINT = 'Register the merchant again with autodebit_merchant_set().';
	END IF;
	INSERT INTO autodebit.payment (merchant_id, payment_request_id, order_ref, attempt, customer_ref,
								   customer_belongs_to, agreement_id, amount_minor, currency, description,
								   status, request_body, token_enc, token_aad, is_orphan, sent_at)
	SELECT m.id, j.request_id, j.body->'order'->>'referenceOrderId', (j.meta->>'attempt')::int,
		   j.meta->>'customerRef', j.body->'paymentMethod'->>'paymentMethodType', a.id,
		   (j.body->'paymentAmount'->>'value')::bigint, j.body->'paymentAmount'->>'currency',
		   j.body->'order'->>'orderDescription', 'UNKNOWN', j.body, a.access_token_enc,
		   CASE WHEN a.id IS NOT NULL THEN autodebit._token_aad(a.id, 'access') END, true, j.at
	FROM (SELECT) one LEFT JOIN autodebit.agreement a ON a.id = (j.meta->>'agreementId')::bigint
	ON CONFLICT DO NOTHING
	RETURNING * INTO p;
	IF p.id IS NULL THEN
		RETURN 'present';
	END IF;
	p := autodebit._inquire(m, p);
	IF NOT keep_orphans AND p.status IN ('SUCCESS', 'PROCESSING', 'UNKNOWN') THEN
		UPDATE autodebit.payment t SET cancel_wanted = 'orphan', cancel_decided_at = now(), next_check_at = now()
		WHERE t.id = p.id;
		IF autodebit._give_back(m, p.id) THEN
			RETURN 'cancelled';
		END IF;
	END IF;
	RETURN 'adopted';
END
$$;

-- A journaled cancel whose transaction rolled back: the cancel may have returned the money, so
-- the payment is asked about at once, and its row then says what the acquirer holds.
CREATE OR REPLACE FUNCTION autodebit._adopt_cancel(j record) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	p autodebit.payment;
BEGIN
	SELECT * INTO p FROM autodebit.payment t WHERE t.payment_request_id = j.request_id FOR UPDATE;
	IF NOT FOUND OR p.status IN ('CANCELLED', 'FAIL') THEN
		RETURN 'present';		-- settled; or its pay line adopts it
	END IF;
	SELECT * INTO m FROM autodebit.merchant WHERE id = p.merchant_id;
	PERFORM autodebit._inquire(m, p);
	RETURN 'present';
END
$$;

-- Adopt one journaled refund whose transaction ended without leaving its refund row: an
-- UNKNOWN refund (its amount reserved), inquired at once.  Money that went back is recorded.
CREATE OR REPLACE FUNCTION autodebit._adopt_refund(j record) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	r autodebit.refund;
BEGIN
	IF EXISTS (SELECT FROM autodebit.refund t WHERE t.refund_request_id = j.request_id) THEN
		RETURN 'present';
	END IF;
	SELECT * INTO m FROM autodebit.merchant t WHERE t.client_id = j.client_id;
	PERFORM FROM autodebit.payment p WHERE p.id = (j.meta->>'paymentRowId')::bigint FOR UPDATE;
	IF m.id IS NULL OR NOT FOUND THEN
		RAISE EXCEPTION 'a journaled refund for merchant "%" names no payment here', j.client_id
			USING ERRCODE = 'ZD502';
	END IF;
	INSERT INTO autodebit.refund (merchant_id, payment_row_id, payment_request_id, refund_request_id, seq,
								  amount_minor, currency, reason, status, request_body, is_orphan, sent_at)
	SELECT m.id, p.id, p.payment_request_id, j.request_id, (j.meta->>'seq')::int,
		   (j.body->'refundAmount'->>'value')::bigint, j.body->'refundAmount'->>'currency',
		   j.body->>'refundReason', 'UNKNOWN', j.body, true, j.at
	FROM autodebit.payment p WHERE p.id = (j.meta->>'paymentRowId')::bigint
	ON CONFLICT DO NOTHING
	RETURNING * INTO r;
	IF r.id IS NULL THEN
		RETURN 'present';
	END IF;
	UPDATE autodebit.payment p SET refunded_minor = p.refunded_minor + r.amount_minor, updated_at = now()
	WHERE p.id = r.payment_row_id;
	PERFORM autodebit._inquire_refund(m, r);
	RETURN 'adopted';
END
$$;

-- Keep a journal record for later: waiting for its transaction to end or its grace period to
-- pass (waiting), or because adopting it failed (with the error).  A record kept already stays.
CREATE OR REPLACE FUNCTION autodebit._journal_keep(j record, waiting boolean, next_try_at timestamptz, why text)
	RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO autodebit.journal_retry (request_id, api, client_id, at, xid, lsn, waiting, meta, body,
										 tries, next_try_at, last_error)
	VALUES (j.request_id, j.api, j.client_id, j.at, j.xid, j.lsn, waiting, j.meta, j.body,
			CASE WHEN waiting THEN 0 ELSE 1 END, next_try_at, why)
	ON CONFLICT (api, request_id) DO NOTHING;
END
$$;

-- Adopt what one journal line says went out: a pay, a refund or a cancel.
CREATE OR REPLACE FUNCTION autodebit._adopt(j record, keep_orphans boolean) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN CASE j.api WHEN 'pay' THEN autodebit._adopt_pay(j, keep_orphans)
					  WHEN 'refund' THEN autodebit._adopt_refund(j)
					  WHEN 'cancel' THEN autodebit._adopt_cancel(j)
					  ELSE 'present' END;
END
$$;

-- Read the send journal (WAL) from the cursor and adopt orphans: requests that went out in a
-- transaction that then rolled back or died.  The cursor always moves to the end of what was
-- read: a record whose transaction may still commit, or that is younger than the grace period,
-- waits in autodebit.journal_retry, and so does one that cannot be adopted now (recorded in
-- autodebit.item_error, retried with back-off).  No record stops the others; none is dropped.
CREATE OR REPLACE FUNCTION autodebit._reconcile_journal(max_lines integer,
		OUT adopted integer, OUT cancelled integer, OUT failed integer, OUT lines integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j record;
	sub record;
	c autodebit.journal_cursor;
	next_at pg_lsn;
	outcome text;
	st text;
	msg text;
	grace interval := autodebit._setting('autodebit.order_close_grace')::interval;
	keep_orphans boolean := autodebit._setting('autodebit.orphan_policy') = 'keep';
	slot text := autodebit._journal_slot();
	instance oid := (SELECT oid FROM pg_extension WHERE extname = 'autodebit');
BEGIN
	adopted := 0; cancelled := 0; failed := 0; lines := 0;
	SELECT * INTO c FROM autodebit.journal_cursor FOR UPDATE;
	IF c.extension_oid IS DISTINCT FROM instance OR c.lsn > pg_current_wal_flush_lsn() THEN
		-- restored from a dump of another database or cluster: that journal is not in this WAL
		PERFORM autodebit._item_failed('journal', c.lsn::text, NULL, 'ZD505',
			'the journal cursor came from another database or cluster; it starts again at the end of this WAL');
		UPDATE autodebit.journal_cursor SET lsn = pg_current_wal_insert_lsn(), created_lsn = pg_current_wal_insert_lsn(),
			   extension_oid = instance;
		RETURN;
	END IF;

	-- first the records that waited or could not be adopted before
	FOR j IN SELECT * FROM autodebit.journal_retry t WHERE t.next_try_at <= now()
			 ORDER BY t.next_try_at LIMIT max_lines FOR UPDATE SKIP LOCKED LOOP
		BEGIN
			IF pg_xact_status(j.xid) = 'in progress' THEN
				UPDATE autodebit.journal_retry t SET next_try_at = now() + autodebit._backoff(0)
				WHERE t.api = j.api AND t.request_id = j.request_id;
				CONTINUE;
			END IF;
			outcome := autodebit._adopt(j, keep_orphans);
			DELETE FROM autodebit.journal_retry WHERE api = j.api AND request_id = j.request_id;
			adopted := adopted + CASE WHEN outcome IN ('adopted', 'cancelled') THEN 1 ELSE 0 END;
			cancelled := cancelled + CASE WHEN outcome = 'cancelled' THEN 1 ELSE 0 END;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			failed := failed + 1;
			UPDATE autodebit.journal_retry t SET tries = t.tries + 1, waiting = false,
				   last_error = st || ': ' || left(msg, 500), next_try_at = now() + autodebit._backoff(t.tries)
			WHERE t.api = j.api AND t.request_id = j.request_id;
		END;
	END LOOP;

	-- then what was written since the cursor
	next_at := c.lsn;
	BEGIN
		FOR j IN SELECT * FROM autodebit._journal_read(c.lsn, max_lines, 256 * 1024 * 1024) LOOP
			next_at := j.next_lsn;
			CONTINUE WHEN j.api IS NULL;		-- the end marker
			lines := lines + 1;
			BEGIN
				IF pg_xact_status(j.xid) = 'in progress' OR j.at > now() - grace THEN
					PERFORM autodebit._journal_keep(j, true, greatest(j.at + grace, now()),
													'waiting for its transaction to end');
					CONTINUE;
				END IF;
				outcome := autodebit._adopt(j, keep_orphans);
				adopted := adopted + CASE WHEN outcome IN ('adopted', 'cancelled') THEN 1 ELSE 0 END;
				cancelled := cancelled + CASE WHEN outcome = 'cancelled' THEN 1 ELSE 0 END;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
				failed := failed + 1;
				PERFORM autodebit._item_failed('journal', j.api || ' ' || j.request_id || ' at ' || j.lsn, NULL, st, msg);
				PERFORM autodebit._journal_keep(j, false, now() + autodebit._backoff(0), st || ': ' || left(msg, 500));
			END;
		END LOOP;
	EXCEPTION WHEN OTHERS THEN
		-- the WAL from the cursor cannot be read.  Removed before it was read (no slot, or a
		-- standby promoted without it): say so, and go on from the oldest WAL left.  Anything
		-- else (a key file missing, damage): say so, and try again next time.
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		failed := failed + 1;
		IF msg NOT LIKE '%has already been removed%' THEN
			PERFORM autodebit._item_failed('journal', c.lsn::text, NULL, st,
				'the send journal cannot be read from ' || c.lsn || ': ' || msg);
			RETURN;
		END IF;
		next_at := autodebit._oldest_wal();
		PERFORM autodebit._item_failed('journal', c.lsn::text, NULL, 'ZD505',
			format('send journal records from %s to %s cannot be read (%s); debits sent then are not adopted: compare with the acquirer''s records',
				   c.lsn, next_at, msg));
		IF next_at <= c.lsn THEN
			RETURN;			-- nothing to skip to: try again next time
		END IF;
		UPDATE autodebit.journal_cursor SET lsn = next_at;
		sub := autodebit._reconcile_journal(max_lines);		-- and read on from there
		adopted := adopted + sub.adopted; cancelled := cancelled + sub.cancelled;
		failed := failed + sub.failed; lines := lines + sub.lines;
		RETURN;
	END;
	UPDATE autodebit.journal_cursor SET lsn = next_at;

	-- the WAL before the cursor is no longer needed by the journal
	BEGIN
		IF NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = slot) THEN
			PERFORM pg_create_physical_replication_slot(slot, true);	-- a promoted standby has none yet
		END IF;
		PERFORM pg_replication_slot_advance(slot, next_at)
		FROM pg_replication_slots WHERE slot_name = slot AND coalesce(restart_lsn, '0/0') < next_at;
	EXCEPTION WHEN OTHERS THEN
		NULL;			-- no slots here: wal_keep_size keeps the journal (README)
	END;
END
$$;

-- The oldest WAL position this server still holds (the start of its oldest segment).
CREATE OR REPLACE FUNCTION autodebit._oldest_wal() RETURNS pg_lsn
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(min('0/0'::pg_lsn
		+ (('x' || substr(name, 9, 8))::bit(32)::bigint * 4294967296
		   + ('x' || substr(name, 17, 8))::bit(32)::bigint * (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'))::numeric),
		pg_current_wal_insert_lsn())
	FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'
$$;

-- Settle up to max_items payments: inquire those whose outcome is unknown (with back-off), decide
-- to cancel those open past autodebit.cancel_unknown_after, and carry out every decided give-back
-- until the acquirer answers.  One payment's error is recorded and the rest go on.
CREATE OR REPLACE FUNCTION autodebit._reconcile_payments(max_items integer,
		OUT inquired integer, OUT resolved integer, OUT still_open integer, OUT cancelled integer,
		OUT failed integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pid bigint;
	p autodebit.payment;
	m autodebit.merchant;
	st text;
	msg text;
	cancel_after interval := autodebit._setting('autodebit.cancel_unknown_after')::interval;
BEGIN
	inquired := 0; resolved := 0; still_open := 0; cancelled := 0; failed := 0;
	FOR pid IN SELECT t.id FROM autodebit.payment t
			   WHERE coalesce(t.next_check_at, t.updated_at) <= now()
				 AND ((t.status IN ('SENDING', 'PROCESSING', 'UNKNOWN')
					   -- a live run is sending it: its answer is coming (a dead run's become UNKNOWN)
					   AND NOT (t.status = 'SENDING' AND t.claimed_run IS NOT NULL
								AND EXISTS (SELECT FROM autodebit.run r WHERE r.id = t.claimed_run AND r.finished_at IS NULL)))
					  OR (t.cancel_wanted IS NOT NULL AND t.status IN ('QUEUED', 'SUCCESS')
						  AND t.refunded_minor < t.amount_minor))
			   ORDER BY t.next_check_at NULLS FIRST LIMIT max_items LOOP
		BEGIN
			SELECT * INTO p FROM autodebit.payment t WHERE t.id = pid FOR UPDATE SKIP LOCKED;
			CONTINUE WHEN NOT FOUND;			-- someone else is settling it
			SELECT * INTO m FROM autodebit.merchant WHERE id = p.merchant_id;
			IF p.cancel_wanted IS NULL THEN
				inquired := inquired + 1;
				p := autodebit._inquire(m, p);
				IF p.status IN ('PROCESSING', 'UNKNOWN', 'SENDING')
				   AND coalesce(p.sent_at, p.created_at) < now() - cancel_after THEN
					UPDATE autodebit.payment t SET cancel_wanted = 'unresolved', cancel_decided_at = now()
					WHERE t.id = p.id
					RETURNING * INTO p;
				END IF;
			END IF;
			IF p.cancel_wanted IS NOT NULL AND p.status NOT IN ('CANCELLED', 'FAIL') THEN
				IF autodebit._give_back(m, p.id) THEN
					cancelled := cancelled + 1;
				ELSE
					still_open := still_open + 1;
				END IF;
			ELSIF p.status IN ('SUCCESS', 'FAIL', 'CANCELLED') THEN
				resolved := resolved + 1;
			ELSE
				still_open := still_open + 1;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			failed := failed + 1;
			PERFORM autodebit._item_failed('payment', (SELECT payment_request_id FROM autodebit.payment WHERE id = pid),
										   (SELECT merchant_id FROM autodebit.payment WHERE id = pid), st, msg);
			UPDATE autodebit.payment t SET checks = t.checks + 1, next_check_at = now() + autodebit._backoff(t.checks)
			WHERE t.id = pid;
		END;
	END LOOP;
END
$$;

-- Settle up to max_items refunds whose outcome is not known yet (inquiry, with back-off).
CREATE OR REPLACE FUNCTION autodebit._reconcile_refunds(max_items integer, OUT inquired integer, OUT resolved integer,
		OUT failed integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rid bigint;
	r autodebit.refund;
	m autodebit.merchant;
	st text;
	msg text;
BEGIN
	inquired := 0; resolved := 0; failed := 0;
	FOR rid IN SELECT t.id FROM autodebit.refund t
			   WHERE t.status IN ('SENDING', 'PROCESSING', 'UNKNOWN') AND coalesce(t.next_check_at, t.updated_at) <= now()
			   ORDER BY t.next_check_at NULLS FIRST LIMIT max_items LOOP
		BEGIN
			-- locks in the order every refund path takes them: the payment, then the refund
			PERFORM FROM autodebit.payment p WHERE p.id = (SELECT payment_row_id FROM autodebit.refund WHERE id = rid)
			FOR UPDATE SKIP LOCKED;
			CONTINUE WHEN NOT FOUND;
			SELECT * INTO r FROM autodebit.refund t WHERE t.id = rid FOR UPDATE SKIP LOCKED;
			CONTINUE WHEN NOT FOUND;
			SELECT * INTO m FROM autodebit.merchant WHERE id = r.merchant_id;
			inquired := inquired + 1;
			r := autodebit._inquire_refund(m, r);
			resolved := resolved + CASE WHEN r.status IN ('SUCCESS', 'FAIL') THEN 1 ELSE 0 END;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			failed := failed + 1;
			PERFORM autodebit._item_failed('refund', (SELECT refund_request_id FROM autodebit.refund WHERE id = rid),
										   (SELECT merchant_id FROM autodebit.refund WHERE id = rid), st, msg);
			UPDATE autodebit.refund t SET checks = t.checks + 1, next_check_at = now() + autodebit._backoff(t.checks)
			WHERE t.id = rid;
		END;
	END LOOP;
END
$$;

-- Agreements nothing can refresh any more become EXPIRED.  Returns how many.
CREATE OR REPLACE FUNCTION autodebit._expire_agreements() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH dead AS (
		UPDATE autodebit.agreement a SET status = 'EXPIRED', ended_at = now(), updated_at = now(),
			   end_reason = 'the access token expired and no valid refresh token remains'
		WHERE a.status = 'ACTIVE' AND a.access_token_expires_at < now()
		  AND (a.refresh_token_enc IS NULL OR a.refresh_token_expires_at < now())
		RETURNING 1)
	SELECT count(*)::integer FROM dead
$$;

-- Settle everything left open, in one transaction: adopt orphans from the send journal, inquire
-- unknown and processing payments and refunds, give back what was decided (orphans under
-- orphan_policy = cancel, second debits, payments open past cancel_unknown_after), and expire
-- dead agreements.  autodebit_run() does the same in short transactions.
CREATE OR REPLACE FUNCTION autodebit_reconcile(
		OUT inquired integer, OUT resolved integer, OUT still_open integer, OUT cancelled integer,
		OUT orphans_adopted integer, OUT orphans_cancelled integer, OUT agreements_expired integer,
		OUT refunds_inquired integer, OUT refunds_resolved integer, OUT items_failed integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j record;
	x record;
	f record;
BEGIN
	j := autodebit._reconcile_journal(10000);
	x := autodebit._reconcile_payments(1000);
	f := autodebit._reconcile_refunds(1000);
	orphans_adopted := j.adopted; orphans_cancelled := j.cancelled;
	inquired := x.inquired; resolved := x.resolved; still_open := x.still_open; cancelled := x.cancelled;
	refunds_inquired := f.inquired; refunds_resolved := f.resolved;
	items_failed := j.failed + x.failed + f.failed;
	agreements_expired := autodebit._expire_agreements();
END
$$;
