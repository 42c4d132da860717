-- Scheduled and deferred debits.
-- Replayable: included in the install script and in every update script.

-- Now, or the test clock (autodebit.test_now) when a test sets one.
CREATE OR REPLACE FUNCTION autodebit._now() RETURNS timestamptz LANGUAGE sql STABLE AS
$$ SELECT coalesce(nullif(autodebit._setting('autodebit.test_now'), '')::timestamptz, now()) $$;

-- Is a declined payment worth trying again later (soft decline), or final?
CREATE OR REPLACE FUNCTION autodebit._retryable(result_code text) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT result_code IN ('USER_BALANCE_NOT_ENOUGH', 'USER_AMOUNT_EXCEED_LIMIT', 'PAYMENT_AMOUNT_EXCEED_LIMIT',
						  'PAYMENT_COUNT_EXCEED_LIMIT', 'ORDER_NOT_EXIST', 'ORDER_IS_CLOSED', 'CANCELLED',
						  'UNKNOWN_EXCEPTION', 'REQUEST_TRAFFIC_EXCEED_LIMIT') $$;

-- Create a debit schedule for a customer with an active agreement.
CREATE OR REPLACE FUNCTION autodebit_schedule(customer_ref text, amount_minor bigint, currency text, description text,
		every interval DEFAULT '1 month', starts_at timestamptz DEFAULT now(),
		customer_belongs_to text DEFAULT NULL, merchant text DEFAULT NULL,
		catch_up boolean DEFAULT true, retry_plan interval[] DEFAULT '{1 day,3 days,7 days}')
	RETURNS autodebit.schedules
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	m autodebit.merchant;
	wallet text;
	sid bigint;
BEGIN
	PERFORM autodebit._check_text('customer_ref', customer_ref, 64);
	PERFORM autodebit._check_text('description', description, 256);
	IF amount_minor IS NULL OR amount_minor <= 0 OR amount_minor > 9999999999999999 THEN
		RAISE EXCEPTION 'amount_minor must be a positive number of minor units of at most 16 digits'
			USING ERRCODE = '22003';
	END IF;
	IF NOT EXISTS (SELECT FROM autodebit.currency c WHERE c.code = currency) THEN
		RAISE EXCEPTION 'unknown currency "%"', currency USING ERRCODE = 'ZD101';
	END IF;
	IF every IS NULL OR every < interval '1 minute' THEN
		RAISE EXCEPTION 'every must be at least one minute (pg_cron runs once a minute)' USING ERRCODE = '22023';
	END IF;
	IF starts_at IS NULL OR catch_up IS NULL OR retry_plan IS NULL OR cardinality(retry_plan) > 20 THEN
		RAISE EXCEPTION 'starts_at, catch_up and retry_plan (at most 20 steps) are required' USING ERRCODE = '22004';
	END IF;
	IF customer_belongs_to IS NOT NULL THEN
		wallet := autodebit._wallet(customer_belongs_to);
	END IF;
	m := autodebit._merchant(merchant);
	PERFORM autodebit._active_agreement(m.id, customer_ref, wallet);
	INSERT INTO autodebit.schedule (merchant_id, customer_ref, customer_belongs_to, amount_minor, currency,
									description, every, starts_at, catch_up, retry_plan)
	VALUES (m.id, customer_ref, wallet, amount_minor, currency, description, every, starts_at, catch_up, retry_plan)
	RETURNING id INTO sid;
	RETURN (SELECT v FROM autodebit.schedules v WHERE v.id = sid);
END
$$;

-- Change a schedule's status: pause, resume or cancel.
CREATE OR REPLACE FUNCTION autodebit._schedule_set(schedule_id bigint, action text) RETURNS autodebit.schedules
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s autodebit.schedule;
BEGIN
	PERFORM autodebit._refuse_unless_mine(t.merchant_id, format('schedule %s', schedule_id))
	FROM autodebit.schedule t WHERE t.id = schedule_id;
	SELECT * INTO s FROM autodebit.schedule WHERE id = schedule_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown schedule %', schedule_id USING ERRCODE = 'ZD206';
	END IF;
	IF s.status = 'CANCELLED' THEN
		RAISE EXCEPTION 'schedule % is cancelled', schedule_id USING ERRCODE = 'ZD209';
	END IF;
	IF action = 'pause' THEN
		UPDATE autodebit.schedule SET status = 'PAUSED', updated_at = now() WHERE id = s.id;
	ELSIF action = 'cancel' THEN
		UPDATE autodebit.schedule SET status = 'CANCELLED', updated_at = now() WHERE id = s.id;
	ELSIF s.status IN ('PAUSED', 'SUSPENDED') THEN
		-- resume: periods that fell due while paused are not charged
		UPDATE autodebit.schedule t SET status = 'ACTIVE', updated_at = now(),
			   next_period = greatest(t.next_period,
				   (SELECT coalesce(min(k), t.next_period) FROM generate_series(t.next_period, t.next_period + 100000) k
					WHERE autodebit._due(t.starts_at, t.every, k) > autodebit._now()))
		WHERE t.id = s.id;
	END IF;
	RETURN (SELECT v FROM autodebit.schedules v WHERE v.id = s.id);
END
$$;

CREATE OR REPLACE FUNCTION autodebit_schedule_pause(schedule_id bigint) RETURNS autodebit.schedules
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT autodebit._schedule_set(schedule_id, 'pause') $$;

CREATE OR REPLACE FUNCTION autodebit_schedule_resume(schedule_id bigint) RETURNS autodebit.schedules
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT autodebit._schedule_set(schedule_id, 'resume') $$;

CREATE OR REPLACE FUNCTION autodebit_schedule_cancel(schedule_id bigint) RETURNS autodebit.schedules
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT autodebit._schedule_set(schedule_id, 'cancel') $$;
