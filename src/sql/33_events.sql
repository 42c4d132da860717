-- Payment events: recording them (triggers) and handing them to consumers.
-- Replayable: included in the install script and in every update script.

-- The event kind a status means: payment.succeeded, refund.failed, agreement.canceled_by_user,
-- schedule.past_due, ...
CREATE OR REPLACE FUNCTION autodebit._event_kind(object text, status text) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT object || '.' || CASE status WHEN 'SUCCESS' THEN 'succeeded' WHEN 'FAIL' THEN 'failed'
									   ELSE lower(status) END $$;

-- Trigger: append the event of a new status, in the changing transaction, and NOTIFY
-- autodebit_events (delivered at commit; the payload is the event id).
CREATE OR REPLACE FUNCTION autodebit._record_event() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	snapshot jsonb := to_jsonb(NEW) - ARRAY['request_body', 'token_enc', 'token_aad', 'access_token_enc',
											'access_token_fp', 'refresh_token_enc', 'claimed_run'];
	eid bigint;
BEGIN
	INSERT INTO autodebit.events (merchant_id, kind, object, object_id, order_ref, customer_ref,
								  payment_request_id, data)
	VALUES (NEW.merchant_id, autodebit._event_kind(TG_ARGV[0], NEW.status), TG_ARGV[0], NEW.id,
			snapshot->>'order_ref', snapshot->>'customer_ref', snapshot->>'payment_request_id', snapshot)
	RETURNING id INTO eid;
	PERFORM pg_notify('autodebit_events', eid::text);
	RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER payment_created_event AFTER INSERT ON autodebit.payment
	FOR EACH ROW EXECUTE FUNCTION autodebit._record_event('payment');
CREATE OR REPLACE TRIGGER payment_status_event AFTER UPDATE OF status ON autodebit.payment
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION autodebit._record_event('payment');
CREATE OR REPLACE TRIGGER refund_created_event AFTER INSERT ON autodebit.refund
	FOR EACH ROW EXECUTE FUNCTION autodebit._record_event('refund');
CREATE OR REPLACE TRIGGER refund_status_event AFTER UPDATE OF status ON autodebit.refund
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION autodebit._record_event('refund');
CREATE OR REPLACE TRIGGER agreement_created_event AFTER INSERT ON autodebit.agreement
	FOR EACH ROW EXECUTE FUNCTION autodebit._record_event('agreement');
CREATE OR REPLACE TRIGGER agreement_status_event AFTER UPDATE OF status ON autodebit.agreement
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION autodebit._record_event('agreement');
CREATE OR REPLACE TRIGGER schedule_created_event AFTER INSERT ON autodebit.schedule
	FOR EACH ROW EXECUTE FUNCTION autodebit._record_event('schedule');
CREATE OR REPLACE TRIGGER schedule_status_event AFTER UPDATE OF status ON autodebit.schedule
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION autodebit._record_event('schedule');

-- The next events for a named consumer, and its position moved past them, in the caller's
-- transaction: what the caller does with them commits with the new position, and a rollback
-- hands the same events over again.  The consumer row is locked, so two sessions of one consumer
-- take turns (the second waits for the first to end) and never get the same event.  Only events
-- of merchants the calling role acts for; a consumer belongs to the role that first used it.
CREATE OR REPLACE FUNCTION autodebit_events(consumer text, max_events integer DEFAULT 100)
	RETURNS SETOF autodebit.events
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
	c autodebit.event_consumer;
	mine bigint[] := autodebit._caller_merchants();
	horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
	last autodebit.events;
	n integer := 0;
	given integer := 0;
	e autodebit.events;
BEGIN
	PERFORM autodebit._check_text('consumer', consumer, 64);
	IF max_events IS NULL OR max_events < 1 OR max_events > 10000 THEN
		RAISE EXCEPTION 'max_events must be between 1 and 10000' USING ERRCODE = '22023';
	END IF;
	INSERT INTO autodebit.event_consumer (name, owner) VALUES (consumer, autodebit._caller()::regrole)
	ON CONFLICT (name) DO NOTHING;
	SELECT * INTO c FROM autodebit.event_consumer ec WHERE ec.name = consumer FOR UPDATE;
	IF c.owner <> autodebit._caller()::regrole AND NOT autodebit._caller_is_admin() THEN
		RAISE EXCEPTION 'permission denied for event consumer "%"', consumer
			USING ERRCODE = '42501', DETAIL = format('It belongs to role "%s".', c.owner),
				  HINT = 'Each role reads with consumers of its own.';
	END IF;
	-- transactions older than every one still running can add no more events: read only theirs
	FOR e IN
		SELECT * FROM autodebit.events ev
		WHERE (ev.xid, ev.id) > (c.position_xid, c.position_id) AND ev.xid < horizon
		ORDER BY ev.xid, ev.id
		LIMIT max_events
	LOOP
		last := e;
		n := n + 1;
		IF e.merchant_id = ANY (mine) THEN
			given := given + 1;
			RETURN NEXT e;
		END IF;
	END LOOP;
	IF n > 0 THEN
		UPDATE autodebit.event_consumer ec SET position_xid = last.xid, position_id = last.id,
			   delivered = ec.delivered + given, updated_at = now()
		WHERE ec.name = consumer;
	END IF;
END
$$;

-- Delete events older than autodebit.event_retention (autodebit_run() calls it).
CREATE OR REPLACE FUNCTION autodebit._prune_events() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH gone AS (DELETE FROM autodebit.events
				  WHERE occurred_at < now() - autodebit._setting('autodebit.event_retention')::interval
				  RETURNING 1)
	SELECT count(*)::integer FROM gone
$$;
