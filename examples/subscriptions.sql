-- A subscription business on autodebit, written as a merchant would: its own plan, subscription
-- and invoice tables, an autodebit schedule per subscription, and one event consumer that keeps
-- the shop's tables in step with what the wallet did, in the same transaction as the position
-- (only the public API: autodebit_schedule, autodebit_events, the autodebit.* views).
--
--   psql -f examples/subscriptions.sql            then, once a customer has authorized:
--   SELECT * FROM shop.enrol('customer-42', 'basic');
--   SELECT cron.schedule('shop-billing', '* * * * *', 'SELECT shop.apply_events()');

CREATE SCHEMA shop;

CREATE TABLE shop.plan (
	code				text PRIMARY KEY,
	name				text NOT NULL,
	amount_minor		bigint NOT NULL CHECK (amount_minor > 0),
	currency			text NOT NULL,
	every				interval NOT NULL DEFAULT '1 month',
	retry_plan			interval[] NOT NULL DEFAULT '{1 day,3 days,7 days}'
);

CREATE TABLE shop.subscription (
	id					bigserial PRIMARY KEY,
	customer_ref		text NOT NULL,
	plan_code			text NOT NULL REFERENCES shop.plan,
	schedule_id			bigint NOT NULL UNIQUE,		-- the autodebit schedule that charges it
	status				text NOT NULL DEFAULT 'active'
		CHECK (status IN ('active', 'past_due', 'suspended', 'paused', 'cancelled')),
	has_access			boolean NOT NULL DEFAULT true,
	created_at			timestamptz NOT NULL DEFAULT now()
);

-- One invoice per charged period; autodebit names the period's order 'schedule-<id>-<period>'.
CREATE TABLE shop.invoice (
	id					bigserial PRIMARY KEY,
	subscription_id		bigint NOT NULL REFERENCES shop.subscription,
	order_ref			text NOT NULL UNIQUE,
	amount_minor		bigint NOT NULL,
	currency			text NOT NULL,
	status				text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed')),
	attempts_failed		integer NOT NULL DEFAULT 0,
	payment_request_id	text,
	paid_at				timestamptz,
	refunded_minor		bigint NOT NULL DEFAULT 0
);

-- Enrol a customer who has authorized auto debit (autodebit_apply_token) into a plan: a
-- schedule charges the first period at starts_at and every period after, with the plan's dunning.
-- (merchant: the Antom client id, when the shop's role acts for several.)
CREATE FUNCTION shop.enrol(customer text, plan text, starts_at timestamptz DEFAULT now(),
						   merchant text DEFAULT NULL)
	RETURNS shop.subscription LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
	p shop.plan;
	s shop.subscription;
BEGIN
	SELECT * INTO STRICT p FROM shop.plan WHERE code = plan;
	INSERT INTO shop.subscription (customer_ref, plan_code, schedule_id)
	SELECT customer, p.code, a.id
	FROM autodebit_schedule(customer, p.amount_minor, p.currency, p.name, p.every, starts_at,
							merchant => merchant, retry_plan => p.retry_plan) a
	RETURNING * INTO s;
	RETURN s;
END
$$;

-- The subscription a payment of autodebit belongs to, from its order reference.
CREATE FUNCTION shop.subscription_of(order_ref text) RETURNS shop.subscription
LANGUAGE sql STABLE AS $$
	SELECT s.* FROM shop.subscription s
	WHERE s.schedule_id = substring(order_ref FROM '^schedule-([0-9]+)-')::bigint
$$;

-- Apply autodebit's events to the shop: invoices paid or failed, access suspended when dunning
-- gives up (and back when a retry pays), refunds recorded.  Everything, and the consumer's
-- position, commits together: a crash or an error here means the same events come again.
-- Returns how many events it read.  Run it from pg_cron every minute (see the top).
CREATE FUNCTION shop.apply_events() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	e autodebit.events;
	s shop.subscription;
	batch integer;
	total integer := 0;
BEGIN
	LOOP
		batch := 0;
		FOR e IN SELECT * FROM autodebit_events('shop-billing', 500) ORDER BY xid, id LOOP
			batch := batch + 1;
			IF e.object = 'payment' AND e.kind IN ('payment.succeeded', 'payment.failed') THEN
				s := shop.subscription_of(e.order_ref);
				CONTINUE WHEN s.id IS NULL;			-- not one of our subscriptions
				INSERT INTO shop.invoice (subscription_id, order_ref, amount_minor, currency)
				VALUES (s.id, e.order_ref, (e.data->>'amount_minor')::bigint, e.data->>'currency')
				ON CONFLICT (order_ref) DO NOTHING;
				IF e.kind = 'payment.succeeded' THEN
					UPDATE shop.invoice SET status = 'paid', paid_at = e.occurred_at,
						   payment_request_id = e.payment_request_id
					WHERE order_ref = e.order_ref;
					UPDATE shop.subscription SET has_access = true WHERE id = s.id AND status <> 'cancelled';
				ELSE
					UPDATE shop.invoice SET status = CASE WHEN status = 'paid' THEN 'paid' ELSE 'failed' END,
						   attempts_failed = attempts_failed + 1
					WHERE order_ref = e.order_ref;
				END IF;
			ELSIF e.object = 'schedule' THEN
				UPDATE shop.subscription SET
					status = lower(e.data->>'status'),
					has_access = CASE e.data->>'status' WHEN 'SUSPENDED' THEN false
													   WHEN 'CANCELLED' THEN false
													   WHEN 'ACTIVE' THEN true ELSE has_access END
				WHERE schedule_id = e.object_id;
			ELSIF e.kind = 'refund.succeeded' THEN
				UPDATE shop.invoice SET refunded_minor = refunded_minor + (e.data->>'amount_minor')::bigint
				WHERE payment_request_id = e.payment_request_id;
			END IF;
		END LOOP;
		total := total + batch;
		EXIT WHEN batch < 500;
	END LOOP;
	RETURN total;
END
$$;
