-- The state machines (autodebit.transition): every move not listed is refused, for payments,
-- refunds, agreements, schedules and schedule periods, whoever makes it and however (a
-- set-based UPDATE included); every listed move is allowed; no final state ever moves.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT a.status FROM test.authorize('walt', login => 'walt-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;

-- one object of each kind to move around
SELECT status FROM autodebit_pay('walt', 'sm-1', 100, 'USD', 'State machine', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT payment_request_id AS prid FROM autodebit_pay('walt', 'sm-2', 5000, 'USD', 'To refund', merchant => 'SANDBOX_SUITE') \gset
SELECT status FROM autodebit_refund(:'prid', 100);
SELECT status FROM autodebit_schedule('walt', 100, 'USD', 'State machine', merchant => 'SANDBOX_SUITE');
INSERT INTO autodebit.schedule_period (schedule_id, period, due_at)
	SELECT id, 0, now() FROM autodebit.schedule WHERE customer_ref = 'walt';

CREATE TEMP TABLE objects (object text, tab text, key text, statuses text[]);
INSERT INTO objects VALUES
	('payment', 'autodebit.payment', format('order_ref = %L', 'sm-1'),
	 '{QUEUED,SENDING,PROCESSING,SUCCESS,FAIL,CANCELLED,UNKNOWN}'),
	('refund', 'autodebit.refund', format('payment_request_id = %L', :'prid'),
	 '{SENDING,PROCESSING,SUCCESS,FAIL,UNKNOWN}'),
	('agreement', 'autodebit.agreement', format('customer_ref = %L', 'walt'),
	 '{ACTIVE,REVOKED,EXPIRED,CANCELED_BY_USER}'),
	('schedule', 'autodebit.schedule', format('customer_ref = %L', 'walt'),
	 '{ACTIVE,PAST_DUE,SUSPENDED,PAUSED,CANCELLED}'),
	('period', 'autodebit.schedule_period',
	 format('schedule_id = (SELECT id FROM autodebit.schedule WHERE customer_ref = %L)', 'walt'),
	 '{OPEN,RETRY,PAID,FAILED,SKIPPED}');

-- Try every move: put the object in "from" behind the guard's back, then UPDATE it to "to".
CREATE TEMP TABLE tried (object text, from_status text, to_status text, listed boolean, outcome text);
DO $$
DECLARE
	o record;
	f text;
	t text;
	outcome text;
BEGIN
	FOR o IN SELECT * FROM objects LOOP
		FOREACH f IN ARRAY o.statuses LOOP
			FOREACH t IN ARRAY o.statuses LOOP
				CONTINUE WHEN f = t;
				PERFORM set_config('session_replication_role', 'replica', true);
				EXECUTE format('UPDATE %s SET status = %L WHERE %s', o.tab, f, o.key);
				PERFORM set_config('session_replication_role', 'origin', true);
				outcome := test.err(format('UPDATE %s SET status = %L WHERE %s', o.tab, t, o.key));
				INSERT INTO tried VALUES (o.object, f, t,
					EXISTS (SELECT FROM autodebit.transition x WHERE x.object = o.object
							AND x.from_status = f AND x.to_status = t),
					outcome);
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;

-- every listed move went through; every other move was refused with ZD501
SELECT object, count(*) FILTER (WHERE listed) AS listed_moves,
	   count(*) FILTER (WHERE listed AND outcome = 'no error') AS listed_allowed,
	   count(*) FILTER (WHERE NOT listed) AS other_moves,
	   count(*) FILTER (WHERE NOT listed AND outcome LIKE 'ZD501: %') AS other_refused
FROM tried GROUP BY object ORDER BY object;
-- the refusal says what was refused
SELECT outcome FROM tried WHERE object = 'payment' AND from_status = 'SUCCESS' AND to_status = 'UNKNOWN';
-- final states: nothing leaves FAIL, CANCELLED, PAID, FAILED, SKIPPED, REVOKED, EXPIRED,
-- CANCELED_BY_USER or a cancelled schedule, and SUCCESS only towards CANCELLED
SELECT object, from_status, string_agg(to_status, ',' ORDER BY to_status) AS may_become
FROM tried WHERE outcome = 'no error' GROUP BY object, from_status ORDER BY object, from_status;

-- a set-based UPDATE is guarded too, and changes nothing when it is refused
SET session_replication_role = replica;
UPDATE autodebit.payment SET status = 'FAIL' WHERE order_ref = 'sm-1';
RESET session_replication_role;
SELECT left(test.err($$UPDATE autodebit.payment SET status = 'QUEUED' WHERE order_ref IN ('sm-1', 'sm-2')$$), 5) AS sqlstate;
SELECT order_ref, status FROM autodebit.payment WHERE order_ref IN ('sm-1', 'sm-2') ORDER BY order_ref;

-- a late answer for a final payment is ignored, not an error: the functions consult the table
SELECT autodebit._set_payment_status(id, 'SUCCESS', 'SUCCESS', 'late') AS changed
FROM autodebit.payment WHERE order_ref = 'sm-1';
SELECT status FROM autodebit.payment WHERE order_ref = 'sm-1';
