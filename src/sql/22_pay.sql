-- Paying.
-- Replayable: included in the install script and in every update script.

-- The customer's active agreement; raises when there is none (or several wallets).  It takes no
-- lock: a transaction that queues a thousand invoices must not hold a thousand customers, and
-- sync pays for one customer's orders must not wait for each other (a revoke that races a pay
-- only makes the acquirer refuse the token).
CREATE OR REPLACE FUNCTION autodebit._active_agreement(merchant_id bigint, customer_ref text, wallet text)
	RETURNS autodebit.agreement
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	a autodebit.agreement;
	n integer := 0;
BEGIN
	FOR a IN SELECT * FROM autodebit.agreement x
			 WHERE x.merchant_id = merchant_id AND x.customer_ref = customer_ref
			   AND (wallet IS NULL OR x.customer_belongs_to = wallet) AND x.status = 'ACTIVE'
			 LIMIT 2 LOOP
		n := n + 1;						-- a keeps the row when it is the only one
	END LOOP;
	IF n = 0 THEN
		RAISE EXCEPTION 'customer "%" has no active auto-debit agreement%', customer_ref,
				CASE WHEN wallet IS NULL THEN '' ELSE ' for ' || wallet END
			USING ERRCODE = 'ZD201',
				  DETAIL = 'The agreement is missing, revoked, expired or was cancelled by the user.',
				  HINT = 'Ask the user to authorize again: autodebit_consult() then autodebit_apply_token().';
	ELSIF n > 1 THEN
		RAISE EXCEPTION 'customer "%" has active agreements with several wallets', customer_ref
			USING ERRCODE = 'ZD204', HINT = 'Name the wallet in customer_belongs_to.';
	END IF;
	RETURN a;
END
$$;

-- Refuse to pay an order whose unfinished payment p has other key fields than the call.
CREATE OR REPLACE FUNCTION autodebit._refuse_other_details(p autodebit.payment, amount_minor bigint, currency text,
		customer_ref text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF p.amount_minor <> amount_minor OR p.currency <> currency OR p.customer_ref <> customer_ref THEN
		RAISE EXCEPTION 'order "%" already has an unfinished payment with other details', p.order_ref
			USING ERRCODE = 'ZD103',
				  DETAIL = format('Payment %s is %s for %s %s.', p.payment_request_id, p.status,
								  p.amount_minor, p.currency),
				  HINT = 'Pay it with the same amount and customer, or settle it first.';
	END IF;
END
$$;

-- Debit a customer for an order through their agreement, exactly once per order.
CREATE OR REPLACE FUNCTION autodebit_pay(customer_ref text, order_ref text, amount_minor bigint, currency text,
		description text, customer_belongs_to text DEFAULT NULL, merchant text DEFAULT NULL,
		deferred boolean DEFAULT false)
	RETURNS autodebit.payments
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	cur autodebit.currency;
	wallet text;
	a autodebit.agreement;
	p autodebit.payment;
	last autodebit.payment;
	refreshed text;
	refresh_before timestamptz;
	next_attempt integer;
	sent record;
BEGIN
	-- (assignments, not PERFORM: an expression is evaluated without starting an executor)
	customer_ref := autodebit._check_text('customer_ref', customer_ref, 64);
	order_ref := autodebit._check_text('order_ref', order_ref, 64);
	description := autodebit._check_text('description', description, 256);
	IF amount_minor IS NULL OR amount_minor <= 0 THEN
		RAISE EXCEPTION 'amount_minor must be a positive number of minor units'
			USING ERRCODE = '22003', DETAIL = format('Got %s.', coalesce(amount_minor::text, 'NULL')),
				  HINT = 'Amounts are integers in the currency''s smallest unit: 1050 is 10.50 USD.';
	END IF;
	IF amount_minor > 9999999999999999 THEN
		RAISE EXCEPTION 'amount_minor has more than 16 digits' USING ERRCODE = '22003';
	END IF;
	SELECT * INTO cur FROM autodebit.currency c WHERE c.code = currency;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown currency "%"', currency
			USING ERRCODE = 'ZD101', HINT = 'Use an ISO 4217 code such as USD, PHP or HKD.';
	END IF;
	IF amount_minor % cur.minor_multiple <> 0 THEN
		RAISE EXCEPTION '% amounts must be a multiple of % minor units', cur.code, cur.minor_multiple
			USING ERRCODE = '22023', DETAIL = format('Got %s.', amount_minor);
	END IF;
	IF customer_belongs_to IS NOT NULL THEN
		wallet := autodebit._wallet(customer_belongs_to);
	END IF;
	IF deferred IS NULL THEN
		RAISE EXCEPTION 'deferred must not be null' USING ERRCODE = '22004';
	END IF;
	m := autodebit._merchant(merchant);

	-- One payer per order at a time, until the caller's transaction ends.  A deferred pay sends
	-- nothing, so it takes no lock (a transaction may queue thousands): a concurrent twin waits
	-- on the unique (merchant, order_ref, attempt) index instead and gets the same row.
	IF NOT deferred THEN
		PERFORM pg_advisory_xact_lock(hashtextextended('autodebit/' || m.id || '/' || order_ref, 0));
	END IF;

	-- Every attempt of the order, locked: if reconcile or a run is settling one, wait for it and
	-- see what it learnt.  Only a definite end (FAIL, CANCELLED) or a debit already being given
	-- back (cancel_wanted) lets a new attempt be minted; an open one is re-sent as it was.
	-- (A deferred pay locks nothing; a row a live run is sending now is not waited for: its
	-- answer is coming, and holding it would stall the run's batch.)
	IF NOT deferred THEN
		SELECT * INTO p FROM autodebit.payment t
		WHERE t.merchant_id = m.id AND t.order_ref = order_ref AND t.status = 'SENDING'
		  AND t.claimed_run IS NOT NULL
		  AND EXISTS (SELECT FROM autodebit.run r WHERE r.id = t.claimed_run AND r.finished_at IS NULL);
		IF FOUND THEN
			RETURN autodebit._payment_row(p.id);
		END IF;
	END IF;
	IF deferred THEN
		FOR p IN SELECT * FROM autodebit.payment t WHERE t.merchant_id = m.id AND t.order_ref = order_ref
				 ORDER BY t.attempt LOOP
			IF p.status = 'SUCCESS' AND p.cancel_wanted IS NULL THEN
				RETURN autodebit._payment_row(p.id);		-- already paid
			END IF;
			last := p;
		END LOOP;
	ELSE
		FOR p IN SELECT * FROM autodebit.payment t WHERE t.merchant_id = m.id AND t.order_ref = order_ref
				 ORDER BY t.attempt FOR UPDATE LOOP
			IF p.status = 'SUCCESS' AND p.cancel_wanted IS NULL THEN
				RETURN autodebit._payment_row(p.id);		-- already paid: no call
			END IF;
			last := p;
		END LOOP;
	END IF;
	IF last.id IS NOT NULL AND last.status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
	   AND last.cancel_wanted IS NULL THEN
		-- outcome not final: re-send the very same request (same id, body and token)
		PERFORM autodebit._refuse_other_details(last, amount_minor, cur.code, customer_ref);
		IF deferred THEN
			RETURN autodebit._payment_row(last.id);
		END IF;
		p := autodebit._send_payment(m, last);
		RETURN autodebit._payment_row(p.id);
	END IF;

	a := autodebit._active_agreement(m.id, customer_ref, wallet);
	-- a token about to expire is refreshed first
	refresh_before := now() + autodebit._setting('autodebit.token_refresh_window')::interval;
	IF a.access_token_expires_at < refresh_before THEN
		-- one refresh at a time per agreement; a pay that waited here finds the new token
		SELECT * INTO a FROM autodebit.agreement g WHERE g.id = a.id FOR NO KEY UPDATE;
		refreshed := CASE WHEN a.status <> 'ACTIVE' THEN 'expired'
						  WHEN a.access_token_expires_at >= refresh_before THEN 'refreshed'
						  ELSE autodebit._refresh(m, a) END;
		IF refreshed = 'expired' THEN
			RAISE EXCEPTION 'the auto-debit agreement of customer "%" has expired', customer_ref
				USING ERRCODE = 'ZD205',
					  DETAIL = 'Its access token expired and it could not be refreshed.',
					  HINT = 'The user must authorize again: autodebit_consult() then autodebit_apply_token().';
		ELSIF refreshed = 'unknown' AND a.access_token_expires_at < now() THEN
			RAISE EXCEPTION 'the access token of customer "%" expired and refreshing it had no clear answer', customer_ref
				USING ERRCODE = 'ZD302', HINT = 'Call autodebit_pay() again.';
		END IF;
		SELECT * INTO a FROM autodebit.agreement g WHERE g.id = a.id;
	END IF;
	next_attempt := coalesce(last.attempt, 0) + 1;
	IF deferred THEN
		LOOP
			p := autodebit._queue_payment(m, a, order_ref, next_attempt, amount_minor, cur.code, description);
			-- the attempt may be someone else's: a twin's (the same request), or an orphan reconcile
			-- adopted meanwhile and is giving back (then the next attempt is ours)
			EXIT WHEN p.cancel_wanted IS NULL AND p.status NOT IN ('FAIL', 'CANCELLED');
			next_attempt := p.attempt + 1;
		END LOOP;
		PERFORM autodebit._refuse_other_details(p, amount_minor, cur.code, customer_ref);
		RETURN autodebit._payment_row(p.id);
	END IF;

	-- sent first, stored once with its answer (the journal holds the request meanwhile); the same
	-- skipping of someone else's finished or given-back attempt, after the answer
	LOOP
		sent := autodebit._pay_attempt(m, a, order_ref, next_attempt, amount_minor, cur.code, description);
		p := sent.p;
		EXIT WHEN sent.settled;
		next_attempt := p.attempt + 1;
	END LOOP;
	PERFORM autodebit._refuse_other_details(p, amount_minor, cur.code, customer_ref);

	-- the acquirer no longer takes the token: refresh once and try again with a new id
	IF p.status = 'FAIL' AND p.result_code = 'INVALID_ACCESS_TOKEN' THEN
		SELECT * INTO a FROM autodebit.agreement g WHERE g.id = p.agreement_id FOR NO KEY UPDATE;
		IF a.status = 'ACTIVE' AND autodebit._refresh(m, a) = 'refreshed' THEN
			SELECT * INTO a FROM autodebit.agreement g WHERE g.id = a.id;
			p := (autodebit._pay_attempt(m, a, order_ref, p.attempt + 1, amount_minor, cur.code, description)).p;
		END IF;
	END IF;
	RETURN autodebit._payment_row(p.id);
END
$$;
