-- autodebit_run(): the procedure pg_cron calls.
-- Replayable: included in the install script and in every update script.

-- Start a run: its row, and rows a dead run left SENDING become UNKNOWN (reconcile resolves them).
CREATE OR REPLACE FUNCTION autodebit._run_begin() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rid bigint;
	n integer;
BEGIN
	-- runs whose backend is gone, and earlier runs of this very backend (one that raised and left
	-- its row open), are over
	UPDATE autodebit.run r SET finished_at = clock_timestamp()
	WHERE r.finished_at IS NULL
	  AND (r.pid = pg_backend_pid()
		   OR NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = r.pid AND a.backend_start = r.backend_start));
	WITH orphaned AS (
		UPDATE autodebit.payment p SET status = 'UNKNOWN', result_message = 'the run sending it ended without an answer',
			   next_check_at = now(), updated_at = now()
		WHERE p.status = 'SENDING' AND p.claimed_run IS NOT NULL
		  AND p.claimed_run IN (SELECT r.id FROM autodebit.run r WHERE r.finished_at IS NOT NULL)
		RETURNING 1)
	SELECT count(*) INTO n FROM orphaned;
	INSERT INTO autodebit.run (pid, backend_start, recovered)
	SELECT pg_backend_pid(), a.backend_start, n FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()
	RETURNING id INTO rid;
	RETURN rid;
END
$$;

-- Open the periods that have fallen due and queue their debits (and due retries).
CREATE OR REPLACE FUNCTION autodebit._schedules_open(run_id bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s autodebit.schedule;
	pr autodebit.schedule_period;
	m autodebit.merchant;
	a autodebit.agreement;
	now_ timestamptz := autodebit._now();
	opened integer := 0;
	k integer;
	last_attempt integer;
	st text;
	msg text;
BEGIN
	FOR s IN SELECT * FROM autodebit.schedule WHERE status IN ('ACTIVE', 'PAST_DUE')
			 AND autodebit._due(starts_at, every, next_period) <= now_ ORDER BY id FOR UPDATE SKIP LOCKED LOOP
		k := s.next_period;
		WHILE autodebit._due(s.starts_at, s.every, k) <= now_ LOOP
			INSERT INTO autodebit.schedule_period (schedule_id, period, due_at, status)
			VALUES (s.id, k, autodebit._due(s.starts_at, s.every, k),
					CASE WHEN NOT s.catch_up AND autodebit._due(s.starts_at, s.every, k + 1) <= now_
						 THEN 'SKIPPED' ELSE 'OPEN' END)
			ON CONFLICT DO NOTHING;
			k := k + 1;
		END LOOP;
		UPDATE autodebit.schedule SET next_period = k, updated_at = now() WHERE id = s.id;
	END LOOP;

	-- a debit for each open period, and for each retry that is due, unless one is on its way
	FOR pr IN SELECT p.* FROM autodebit.schedule_period p JOIN autodebit.schedule sc ON sc.id = p.schedule_id
			  WHERE sc.status IN ('ACTIVE', 'PAST_DUE')
				AND (p.status = 'OPEN' OR (p.status = 'RETRY' AND p.next_attempt_at <= now_))
				AND NOT EXISTS (SELECT FROM autodebit.payment x
								WHERE x.merchant_id = sc.merchant_id AND x.order_ref = 'schedule-' || sc.id || '-' || p.period
								  AND x.status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN', 'SUCCESS'))
			  ORDER BY p.due_at FOR UPDATE OF p SKIP LOCKED LOOP
		SELECT * INTO s FROM autodebit.schedule WHERE id = pr.schedule_id;
		SELECT * INTO m FROM autodebit.merchant WHERE id = s.merchant_id;
		BEGIN
			a := autodebit._active_agreement(m.id, s.customer_ref, s.customer_belongs_to);
			SELECT coalesce(max(x.attempt), 0) INTO last_attempt FROM autodebit.payment x
			WHERE x.merchant_id = m.id AND x.order_ref = 'schedule-' || s.id || '-' || pr.period;
			PERFORM autodebit._queue_payment(m, a, 'schedule-' || s.id || '-' || pr.period, last_attempt + 1,
											 s.amount_minor, s.currency,
											 s.description || ' (' || to_char(pr.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ')');
			opened := opened + 1;
		EXCEPTION
			WHEN SQLSTATE 'ZD201' OR SQLSTATE 'ZD204' THEN
				-- no agreement to debit: final for this period; the schedule stops
				UPDATE autodebit.schedule_period SET status = 'FAILED', last_result_code = 'NO_ACTIVE_AGREEMENT',
					   updated_at = now() WHERE schedule_id = pr.schedule_id AND period = pr.period;
				UPDATE autodebit.schedule SET status = 'SUSPENDED', updated_at = now()
				WHERE id = s.id AND status IN ('ACTIVE', 'PAST_DUE');
			WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
				PERFORM autodebit._item_failed('period', 'schedule-' || s.id || '-' || pr.period, m.id, st, msg);
		END;
	END LOOP;
	UPDATE autodebit.run SET periods_opened = periods_opened + opened WHERE id = run_id;
	RETURN opened;
END
$$;

-- Settle periods whose latest payment is final: PAID, or a retry per the plan, or FAILED.
CREATE OR REPLACE FUNCTION autodebit._schedules_settle() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT p.schedule_id, p.period, p.failures, s.retry_plan, x.status AS pay_status,
					x.result_code, x.completed_at
			 FROM autodebit.schedule_period p
			 JOIN autodebit.schedule s ON s.id = p.schedule_id
			 JOIN LATERAL (SELECT * FROM autodebit.payment y
						   WHERE y.merchant_id = s.merchant_id AND y.order_ref = 'schedule-' || s.id || '-' || p.period
						   ORDER BY y.attempt DESC LIMIT 1) x ON true
			 WHERE p.status IN ('OPEN', 'RETRY') AND x.status IN ('SUCCESS', 'FAIL', 'CANCELLED')
			   AND (p.status = 'OPEN' OR p.next_attempt_at <= autodebit._now())
			 FOR UPDATE OF p LOOP
		IF r.pay_status = 'SUCCESS' THEN
			UPDATE autodebit.schedule_period SET status = 'PAID', last_result_code = 'SUCCESS', updated_at = now()
			WHERE schedule_id = r.schedule_id AND period = r.period;
			UPDATE autodebit.schedule SET status = 'ACTIVE', updated_at = now()
			WHERE id = r.schedule_id AND status = 'PAST_DUE';
		ELSIF autodebit._retryable(coalesce(r.result_code, r.pay_status)) AND r.failures < cardinality(r.retry_plan) THEN
			UPDATE autodebit.schedule_period SET status = 'RETRY', failures = r.failures + 1,
				   next_attempt_at = autodebit._now() + r.retry_plan[r.failures + 1],
				   last_result_code = r.result_code, updated_at = now()
			WHERE schedule_id = r.schedule_id AND period = r.period;
			UPDATE autodebit.schedule SET status = 'PAST_DUE', updated_at = now()
			WHERE id = r.schedule_id AND status = 'ACTIVE';
		ELSE
			UPDATE autodebit.schedule_period SET status = 'FAILED', failures = r.failures + 1,
				   last_result_code = r.result_code, updated_at = now()
			WHERE schedule_id = r.schedule_id AND period = r.period;
			UPDATE autodebit.schedule SET status = 'SUSPENDED', updated_at = now()
			WHERE id = r.schedule_id AND status IN ('ACTIVE', 'PAST_DUE');
		END IF;
	END LOOP;
END
$$;

-- Claim up to batch_size queued payments for this run (committed by the caller before sending).
-- SKIP LOCKED: two runs never claim the same payment.  A claim takes the agreement's current token.
CREATE OR REPLACE FUNCTION autodebit._run_claim(run_id bigint, batch_size integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	WITH c AS (
		SELECT p.id FROM autodebit.payment p WHERE p.status = 'QUEUED' AND p.cancel_wanted IS NULL
		ORDER BY p.id LIMIT batch_size FOR UPDATE SKIP LOCKED),
	claimed AS (
		UPDATE autodebit.payment p SET status = 'SENDING', claimed_run = run_id, sent_at = clock_timestamp(),
			   updated_at = now(),
			   -- a request never sent may take the current token; one sent before keeps its bytes
			   token_enc = CASE WHEN p.sent_at IS NULL THEN a.access_token_enc ELSE p.token_enc END
		FROM c, autodebit.agreement a
		WHERE p.id = c.id AND a.id = p.agreement_id
		RETURNING 1)
	SELECT count(*) INTO n FROM claimed;
	UPDATE autodebit.run SET claimed = claimed + n WHERE id = run_id;
	RETURN n;
END
$$;

-- Send everything this run claimed, concurrently, and record each answer.  Each merchant's
-- batch is isolated: if one raises, the error is recorded and its payments are sent one by one
-- (one that raises again becomes UNKNOWN, and inquiry settles it); the other merchants' batches
-- go on.
CREATE OR REPLACE FUNCTION autodebit._run_send(run_id bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	p autodebit.payment;
	sent integer := 0;
	st text;
	msg text;
	in_flight integer := autodebit._setting('autodebit.max_in_flight')::int;
	rps integer := autodebit._setting('autodebit.requests_per_second')::int;
BEGIN
	FOR m IN SELECT * FROM autodebit.merchant WHERE id IN
			 (SELECT merchant_id FROM autodebit.payment WHERE claimed_run = run_id AND status = 'SENDING') LOOP
		BEGIN
			sent := sent + autodebit._run_send_merchant(run_id, m, in_flight, rps);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			PERFORM autodebit._item_failed('batch', m.client_id || ' in run ' || run_id, m.id, st, msg);
			-- one by one instead (the same id, body and token: sending again is safe), so that
			-- the payment that raised is the only one held back
			FOR p IN SELECT * FROM autodebit.payment t
					 WHERE t.claimed_run = run_id AND t.status = 'SENDING' AND t.merchant_id = m.id LOOP
				BEGIN
					PERFORM autodebit._send_payment(m, p);
					sent := sent + 1;
				EXCEPTION WHEN OTHERS THEN
					GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
					PERFORM autodebit._item_failed('payment', p.payment_request_id, m.id, st, msg);
					UPDATE autodebit.payment t SET status = 'UNKNOWN', result_message = 'not sent: ' || left(msg, 200),
						   next_check_at = now(), updated_at = now()
					WHERE t.id = p.id;
				END;
			END LOOP;
		END;
	END LOOP;
	RETURN sent;
END
$$;

-- Record a batch's answers (pg_temp.run_results, matched to payments by pg_temp.run_batch).  The
-- answers that settle the usual way -- a payment this run is sending moves to what its answer
-- means, and a SUCCESS is for the amount sent, of an order with no kept SUCCESS -- are applied by
-- one UPDATE, as _set_payment_status would apply each; every other answer (a second debit,
-- another amount, a payment that moved meanwhile) goes through _set_payment_status one by one.
CREATE OR REPLACE FUNCTION autodebit._apply_pay_results(run_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF to_regclass('pg_temp.run_answers') IS NOT NULL THEN		-- never one the caller made
		DROP TABLE pg_temp.run_answers;
	END IF;
	CREATE TEMP TABLE run_answers ON COMMIT DROP AS
		SELECT b.payment_id, x.result_code, coalesce(x.result_message, x.error) AS message,
			   x.body->>'paymentId' AS antom_payment_id, autodebit._time(x.body->>'paymentTime') AS paid_at,
			   autodebit._amount(x.body->'paymentAmount') AS acquirer_amount,
			   autodebit._pay_status(ROW(x.outcome, x.result_code, x.result_status, x.result_message,
				   x.http_status, x.body, x.access_token_enc, x.refresh_token_enc, x.access_token_fp,
				   x.latency_ms, x.error)::autodebit.exchange_result, true) AS status,
			   false AS usual		-- set below for the answers the one UPDATE applied
		FROM pg_temp.run_results x JOIN pg_temp.run_batch b USING (i);
	WITH moved AS (
		UPDATE autodebit.payment p SET
			status = a.status,
			result_code = coalesce(a.result_code, p.result_code),
			result_message = coalesce(a.message, p.result_message),
			payment_id = coalesce(a.antom_payment_id, p.payment_id),
			payment_time = CASE WHEN a.status = 'SUCCESS' THEN coalesce(a.paid_at, p.payment_time, now())
								ELSE p.payment_time END,
			completed_at = CASE WHEN a.status IN ('SUCCESS', 'FAIL') THEN now() END,
			next_check_at = CASE WHEN a.status IN ('PROCESSING', 'UNKNOWN') THEN coalesce(p.next_check_at, now())
								 ELSE p.next_check_at END,
			claimed_run = CASE WHEN a.status = 'QUEUED' THEN NULL ELSE p.claimed_run END,
			updated_at = now()
		FROM pg_temp.run_answers a
		WHERE p.id = a.payment_id AND p.status = 'SENDING' AND p.claimed_run = run_id
		  AND EXISTS (SELECT FROM autodebit.transition t
					  WHERE t.object = 'payment' AND t.from_status = 'SENDING' AND t.to_status = a.status)
		  AND (a.status <> 'SUCCESS'
			   OR ((a.acquirer_amount IS NULL OR a.acquirer_amount = p.amount_minor)
				   AND NOT EXISTS (SELECT FROM autodebit.payment o
								   WHERE o.merchant_id = p.merchant_id AND o.order_ref = p.order_ref
									 AND o.id <> p.id AND o.status = 'SUCCESS' AND o.cancel_wanted IS NULL)))
		RETURNING p.id)
	UPDATE pg_temp.run_answers a SET usual = true FROM moved WHERE a.payment_id = moved.id;
	PERFORM autodebit._set_payment_status(a.payment_id, a.status, a.result_code, a.message,
										  a.antom_payment_id, a.paid_at, a.acquirer_amount)
	FROM pg_temp.run_answers a
	WHERE NOT a.usual
	ORDER BY a.payment_id;
	DROP TABLE pg_temp.run_answers;
END
$$;

-- Send one merchant's claimed payments of a run as one batch and record each answer.
CREATE OR REPLACE FUNCTION autodebit._run_send_merchant(run_id bigint, m autodebit.merchant, in_flight integer, rps integer)
	RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	-- never trust a pg_temp table the caller may have made first (the caller is a definer);
	-- looked up first, so that a session without a temporary schema yet gets no NOTICE
	IF to_regclass('pg_temp.run_batch') IS NOT NULL THEN
		DROP TABLE pg_temp.run_batch;
	END IF;
	IF to_regclass('pg_temp.run_results') IS NOT NULL THEN
		DROP TABLE pg_temp.run_results;
	END IF;
	CREATE TEMP TABLE run_batch (i integer, payment_id bigint) ON COMMIT DROP;
	INSERT INTO pg_temp.run_batch
	SELECT row_number() OVER (ORDER BY p.id), p.id FROM autodebit.payment p
	WHERE p.claimed_run = run_id AND p.status = 'SENDING' AND p.merchant_id = m.id;

	CREATE TEMP TABLE run_results ON COMMIT DROP AS
		SELECT * FROM autodebit._exchange_many(NULL::autodebit.merchant, NULL, NULL, NULL, NULL, NULL, NULL,
											   NULL, NULL) WITH NO DATA;
	INSERT INTO pg_temp.run_results
	SELECT * FROM autodebit._exchange_many(m, 'pay',
		(SELECT array_agg(p.payment_request_id ORDER BY b.i) FROM pg_temp.run_batch b JOIN autodebit.payment p ON p.id = b.payment_id),
		(SELECT array_agg(p.request_body ORDER BY b.i) FROM pg_temp.run_batch b JOIN autodebit.payment p ON p.id = b.payment_id),
		(SELECT array_agg(p.token_enc ORDER BY b.i) FROM pg_temp.run_batch b JOIN autodebit.payment p ON p.id = b.payment_id),
		(SELECT array_agg(p.token_aad ORDER BY b.i) FROM pg_temp.run_batch b JOIN autodebit.payment p ON p.id = b.payment_id),
		(SELECT array_agg(autodebit._pay_meta(p) ORDER BY b.i)
		 FROM pg_temp.run_batch b JOIN autodebit.payment p ON p.id = b.payment_id),
		in_flight, rps);

	INSERT INTO autodebit.exchange_log (merchant_id, api, request_id, http_status, outcome, result_code,
										result_status, result_message, latency_ms, error)
	SELECT m.id, 'pay', p.payment_request_id, x.http_status, x.outcome, x.result_code, x.result_status,
		   x.result_message, x.latency_ms, x.error
	FROM pg_temp.run_results x JOIN pg_temp.run_batch b USING (i) JOIN autodebit.payment p ON p.id = b.payment_id;

	-- a throttled request was not carried out: it is queued again, same id, for the next batch
	PERFORM autodebit._apply_pay_results(run_id);

	SELECT count(*) INTO n FROM pg_temp.run_results;
	UPDATE autodebit.run r SET
		throttled = r.throttled + (SELECT count(*) FROM pg_temp.run_results WHERE result_code = 'REQUEST_TRAFFIC_EXCEED_LIMIT'),
		sent = r.sent + n,
		succeeded = r.succeeded + (SELECT count(*) FROM pg_temp.run_results WHERE outcome = 'S'),
		failed = r.failed + (SELECT count(*) FROM pg_temp.run_results WHERE outcome = 'F'),
		unknown = r.unknown + (SELECT count(*) FROM pg_temp.run_results WHERE outcome NOT IN ('S', 'F'))
	WHERE r.id = run_id;
	RETURN n;
END
$$;

-- Refresh access tokens that expire within autodebit.token_refresh_window: those with no valid
-- refresh token expire; the rest are refreshed concurrently, one batch per merchant (as
-- autodebit_run() sends payments: autodebit.max_in_flight at a time, autodebit.requests_per_second
-- at most), up to autodebit.refresh_batch_size per run, so capacity is bounded by the acquirer's
-- rate rather than by round trips.  Returns how many were refreshed.
CREATE OR REPLACE FUNCTION autodebit._refresh_expiring() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	due timestamptz := now() + autodebit._setting('autodebit.token_refresh_window')::interval;
	batch integer := autodebit._setting('autodebit.refresh_batch_size')::int;
	in_flight integer := autodebit._setting('autodebit.max_in_flight')::int;
	rps integer := autodebit._setting('autodebit.requests_per_second')::int;
	ids bigint[];
	request_ids text[];
	bodies jsonb[];
	secrets bytea[];
	secret_aads text[];
	metas jsonb[];
	seal_aads text[];
	n integer := 0;
	st text;
	msg text;
BEGIN
	UPDATE autodebit.agreement g SET status = 'EXPIRED', ended_at = now(), updated_at = now(),
		   end_reason = 'the access token expired and no valid refresh token remains'
	WHERE g.status = 'ACTIVE' AND g.access_token_expires_at < now()
	  AND (g.refresh_token_enc IS NULL OR g.refresh_token_expires_at < now());
	FOR m IN SELECT * FROM autodebit.merchant WHERE id IN
			 (SELECT merchant_id FROM autodebit.agreement g WHERE g.status = 'ACTIVE'
			  AND g.refresh_token_enc IS NOT NULL AND g.refresh_token_expires_at >= now()
			  AND g.access_token_expires_at < due) ORDER BY id LOOP
		BEGIN
			-- the batch, locked, in one pass: the arrays line up because every aggregate of one
			-- SELECT sees the rows in the same order (which rows: the soonest to expire)
			SELECT array_agg((x.g).id), array_agg('refresh-' || (x.g).id), array_agg(autodebit._refresh_body(x.g)),
				   array_agg((x.g).refresh_token_enc), array_agg(autodebit._token_aad((x.g).id, 'refresh')),
				   array_agg(NULL::jsonb), array_agg(autodebit._token_aad((x.g).id))
			INTO ids, request_ids, bodies, secrets, secret_aads, metas, seal_aads
			FROM (SELECT g FROM autodebit.agreement g
				  WHERE g.merchant_id = m.id AND g.status = 'ACTIVE' AND g.refresh_token_enc IS NOT NULL
					AND g.refresh_token_expires_at >= now() AND g.access_token_expires_at < due
				  ORDER BY g.access_token_expires_at LIMIT batch FOR NO KEY UPDATE SKIP LOCKED) x;
			IF ids IS NULL THEN
				CONTINUE;
			END IF;
			WITH x AS (
				SELECT * FROM autodebit._exchange_many(m, 'applyToken', request_ids, bodies, secrets, secret_aads,
													   metas, in_flight, rps, seal_aads)),
			logged AS (
				INSERT INTO autodebit.exchange_log (merchant_id, api, request_id, http_status, outcome, result_code,
													result_status, result_message, latency_ms, error)
				SELECT m.id, 'applyToken', NULL, x.http_status, x.outcome, x.result_code, x.result_status,
					   x.result_message, x.latency_ms, x.error FROM x)
			SELECT n + count(*) FILTER (WHERE autodebit._apply_refresh(ids[x.i],
					   ROW(x.outcome, x.result_code, x.result_status, x.result_message, x.http_status, x.body,
						   x.access_token_enc, x.refresh_token_enc, x.access_token_fp, x.latency_ms,
						   x.error)::autodebit.exchange_result) = 'refreshed')
			INTO n FROM x;
		EXCEPTION WHEN OTHERS THEN
			-- one merchant's failure (its key unreadable, say) does not stop the others'
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			PERFORM autodebit._item_failed('refresh', m.client_id, m.id, st, msg);
		END;
	END LOOP;
	RETURN n;
END
$$;

-- Record a step of autodebit_run() that raised (the run goes on with the next step).
CREATE OR REPLACE FUNCTION autodebit._step_failed(step text, state text, message text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT autodebit._item_failed('step', step, NULL, state, message) $$;

-- Finish a run's row.
CREATE OR REPLACE FUNCTION autodebit._run_end(run_id bigint) RETURNS autodebit.run
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ UPDATE autodebit.run SET finished_at = clock_timestamp() WHERE id = run_id RETURNING * $$;

-- autodebit_run() commits, so it cannot carry SET search_path like the functions do; it pins
-- the path itself at the start of each of its transactions, so that nothing it calls or
-- compares is looked up in a schema of the caller's (SET LOCAL ends with each transaction).
CREATE OR REPLACE FUNCTION autodebit._pin_search_path() RETURNS void LANGUAGE sql AS
$$ SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true) $$;

-- The one procedure pg_cron calls every minute: open due schedule periods, send queued payments
-- in batches (claims and results each in their own transaction), settle schedules, reconcile
-- unknowns and orphans, refresh expiring tokens.  Safe to run twice at once, and after a crash.
CREATE OR REPLACE PROCEDURE autodebit_run(batch_size integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
DECLARE
	run_id bigint;
	n integer;
	r autodebit.run;
	rec record;
	step record;
	throttled integer := 0;
	backoff double precision := 0.25;
	st pg_catalog.text;			-- qualified: the declarations are read with the caller's path
	msg pg_catalog.text;
BEGIN
	PERFORM autodebit._pin_search_path();
	IF batch_size IS NULL OR batch_size < 1 THEN
		RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = '22023';
	END IF;
	run_id := autodebit._run_begin();
	COMMIT;
	PERFORM autodebit._pin_search_path();
	-- every step is isolated: one that raises is recorded and the others still run
	BEGIN
		PERFORM autodebit._schedules_open(run_id);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		PERFORM autodebit._step_failed(pg_catalog.format('%s of run %s', 'schedules', run_id), st, msg);
	END;
	COMMIT;
	PERFORM autodebit._pin_search_path();
	LOOP
		n := autodebit._run_claim(run_id, batch_size);
		COMMIT;							-- the claim is durable before anything is sent
		PERFORM autodebit._pin_search_path();
		EXIT WHEN n = 0;
		PERFORM autodebit._run_send(run_id);
		COMMIT;							-- the results, right after the batch
		PERFORM autodebit._pin_search_path();
		SELECT * INTO r FROM autodebit.run WHERE id = run_id;
		RAISE NOTICE 'autodebit_run %: sent % (% succeeded, % failed, % unknown, % throttled)',
			run_id, r.sent, r.succeeded, r.failed, r.unknown, r.throttled;
		IF r.throttled > throttled THEN
			-- the acquirer asked us to slow down: back off before the next batch, doubling to 8 s
			throttled := r.throttled;
			PERFORM pg_sleep(backoff);
			backoff := least(backoff * 2, 8);
			EXIT WHEN backoff >= 8;		-- leave the rest for the next run
		END IF;
	END LOOP;
	BEGIN
		PERFORM autodebit._schedules_settle();
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		PERFORM autodebit._step_failed(pg_catalog.format('%s of run %s', 'schedules', run_id), st, msg);
	END;
	COMMIT;
	PERFORM autodebit._pin_search_path();
	-- reconcile in short transactions: no row stays locked for long, and what is settled is kept
	FOR i IN 1..20 LOOP
		BEGIN
			rec := autodebit._reconcile_journal(500);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			PERFORM autodebit._step_failed(pg_catalog.format('%s of run %s', 'journal', run_id), st, msg);
			rec := NULL;
		END;
		COMMIT;
		PERFORM autodebit._pin_search_path();
		EXIT WHEN rec IS NULL OR rec.lines < 500;
	END LOOP;
	FOR i IN 1..20 LOOP
		BEGIN
			step := autodebit._reconcile_payments(50);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			PERFORM autodebit._step_failed(pg_catalog.format('%s of run %s', 'payments', run_id), st, msg);
			step := NULL;
		END;
		COMMIT;
		PERFORM autodebit._pin_search_path();
		EXIT WHEN step IS NULL OR step.inquired + step.cancelled + step.failed < 50;
	END LOOP;
	FOR i IN 1..20 LOOP
		BEGIN
			step := autodebit._reconcile_refunds(50);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			PERFORM autodebit._step_failed(pg_catalog.format('%s of run %s', 'refunds', run_id), st, msg);
			step := NULL;
		END;
		COMMIT;
		PERFORM autodebit._pin_search_path();
		EXIT WHEN step IS NULL OR step.inquired + step.failed < 50;
	END LOOP;
	BEGIN
		PERFORM autodebit._expire_agreements();
		PERFORM autodebit._schedules_settle();
		PERFORM autodebit._refresh_expiring();
		PERFORM autodebit._prune_events();
		PERFORM autodebit._prune_history();
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		PERFORM autodebit._step_failed(pg_catalog.format('%s of run %s', 'agreements', run_id), st, msg);
	END;
	COMMIT;
	PERFORM autodebit._pin_search_path();
	r := autodebit._run_end(run_id);
	COMMIT;
	PERFORM autodebit._pin_search_path();
	RAISE NOTICE 'autodebit_run %: done in %: claimed %, sent %, succeeded %, failed %, unknown %',
		run_id, r.duration, r.claimed, r.sent, r.succeeded, r.failed, r.unknown;
END
$$;
