-- Payment events: recording them (triggers) and handing them to consumers.
-- Replayable: included in the install script and in every update script.

-- The event kind a status means: payment.succeeded, refund.failed, agreement.canceled_by_user,
-- schedule.past_due, ...
CREATE OR REPLACE FUNCTION autodebit._event_kind(object text, status text) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT object || '.' || CASE status WHEN 'SUCCESS' THEN 'succeeded' WHEN 'FAIL' THEN 'failed'
									   ELSE lower(status) END $$;

-- Trigger, once per statement: append an event for every row the statement inserted or whose
-- status it changed, in the changing transaction and in the order of the objects' ids; then
-- NOTIFY autodebit_events (delivered at commit; the payload is the newest event id).  Set-based,
-- so a run that moves 10,000 payments appends their events with one INSERT.  The snapshot is the
-- row as its view shows it: no token, request body or run claim.
CREATE OR REPLACE FUNCTION autodebit._record_events() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	-- its plans are cached from the first statement's size (one row, perhaps): a hash join pairs
	-- old and new rows at any size
	SET enable_nestloop = off AS $$
DECLARE
	hidden CONSTANT text[] := ARRAY['request_body', 'token_enc', 'token_aad', 'access_token_enc',
									'access_token_fp', 'refresh_token_enc', 'claimed_run'];
	newest bigint;
	snapshots jsonb[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(to_jsonb(r) - hidden ORDER BY r.id) INTO snapshots FROM new_rows r;
	ELSE
		SELECT array_agg(to_jsonb(r) - hidden ORDER BY r.id) INTO snapshots
		FROM new_rows r JOIN old_rows o ON o.id = r.id
		WHERE o.status IS DISTINCT FROM r.status;
	END IF;
	WITH e AS (
		INSERT INTO autodebit.events (merchant_id, kind, object, object_id, order_ref, customer_ref,
									  payment_request_id, data)
		SELECT (u.s->>'merchant_id')::bigint, autodebit._event_kind(TG_ARGV[0], u.s->>'status'), TG_ARGV[0],
			   (u.s->>'id')::bigint, u.s->>'order_ref', u.s->>'customer_ref', u.s->>'payment_request_id', u.s
		FROM unnest(snapshots) WITH ORDINALITY AS u(s, k) ORDER BY u.k
		RETURNING id)
	SELECT max(id) INTO newest FROM e;
	IF newest IS NOT NULL THEN
		PERFORM pg_notify('autodebit_events', newest::text);
	END IF;
	RETURN NULL;
END
$$;

-- (Statement triggers with transition tables take no column list or WHEN: an UPDATE that
-- changes no status appends nothing.)
CREATE OR REPLACE TRIGGER payment_created_event AFTER INSERT ON autodebit.payment
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('payment');
CREATE OR REPLACE TRIGGER payment_status_event AFTER UPDATE ON autodebit.payment
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('payment');
CREATE OR REPLACE TRIGGER refund_created_event AFTER INSERT ON autodebit.refund
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('refund');
CREATE OR REPLACE TRIGGER refund_status_event AFTER UPDATE ON autodebit.refund
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('refund');
CREATE OR REPLACE TRIGGER agreement_created_event AFTER INSERT ON autodebit.agreement
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('agreement');
CREATE OR REPLACE TRIGGER agreement_status_event AFTER UPDATE ON autodebit.agreement
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('agreement');
CREATE OR REPLACE TRIGGER schedule_created_event AFTER INSERT ON autodebit.schedule
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('schedule');
CREATE OR REPLACE TRIGGER schedule_status_event AFTER UPDATE ON autodebit.schedule
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION autodebit._record_events('schedule');

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
