-- Payment events, exactly once: every status change appends an event in its own transaction;
-- autodebit_events() hands a named consumer the events after its position and moves the
-- position in the caller's transaction; NOTIFY autodebit_events wakes listeners at commit.
\set VERBOSITY terse
SELECT client_id FROM autodebit_merchant_set('SANDBOX_SUITE', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_SUITE',
	payment_notify_url => current_setting('autodebit_test.notify_url') || 'payment',
	auth_notify_url => current_setting('autodebit_test.notify_url') || 'auth');
-- consumers start at the oldest event kept: skip what earlier files made
SELECT count(*) < 10000 AS all_read FROM autodebit_events('billing', 10000);
SELECT count(*) < 10000 AS all_read FROM autodebit_events('ledger', 10000);

-- a payment that goes UNKNOWN and then SUCCESS through reconcile: its events in order
SELECT a.status FROM test.authorize('ev-a', login => 'ev-a-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT test.fault('unknown', 'pay');
SELECT status FROM autodebit_pay('ev-a', 'ev-order-1', 800, 'USD', 'events', merchant => 'SANDBOX_SUITE');
SELECT test.sandbox('POST', 'faults', '{"clear":true}') IS NOT NULL AS cleared;
SELECT items_failed FROM autodebit_reconcile();
SELECT status FROM autodebit.payments WHERE order_ref = 'ev-order-1';
SELECT kind, object, order_ref, data->>'status' AS status FROM autodebit_events('billing')
ORDER BY xid, id;

-- a consumer that rolls back gets the same events again; one that commits does not
SELECT status FROM autodebit_pay('ev-a', 'ev-order-2', 900, 'USD', 'events', merchant => 'SANDBOX_SUITE');
BEGIN;
SELECT kind, order_ref FROM autodebit_events('billing') ORDER BY xid, id;
ROLLBACK;
BEGIN;
SELECT kind, order_ref FROM autodebit_events('billing') ORDER BY xid, id;
COMMIT;
SELECT count(*) AS after_commit FROM autodebit_events('billing');
-- another consumer is independent: it still has all of them
SELECT kind, order_ref FROM autodebit_events('ledger') ORDER BY xid, id;

-- no event for a change that rolled back
BEGIN;
SELECT status FROM autodebit_pay('ev-a', 'ev-order-3', 700, 'USD', 'rolled back', merchant => 'SANDBOX_SUITE',
	deferred => true);
ROLLBACK;
SELECT count(*) AS rolled_back_events FROM autodebit_events('billing');

-- events from a notification: a payment in process, settled by notifyPayment
SELECT status FROM autodebit_pay('ev-a', 'ev-order-4', 9003, 'USD', 'notified', merchant => 'SANDBOX_SUITE');
SELECT test.wait_for($$(SELECT status = 'SUCCESS' FROM autodebit.payment WHERE order_ref = 'ev-order-4')$$) AS settled;
SELECT kind, order_ref FROM autodebit_events('billing') ORDER BY xid, id;
SELECT outcome FROM autodebit.notification WHERE ref = (SELECT payment_request_id FROM autodebit.payments
	WHERE order_ref = 'ev-order-4') ORDER BY id DESC LIMIT 1;

-- an event that a transaction still open made is not handed over yet, nor skipped: the open
-- transaction (another session) began before the one that commits first
SELECT dblink_connect('ev', test.connstr());
SELECT dblink_exec('ev', 'BEGIN');
SELECT * FROM dblink('ev', $$SELECT status FROM autodebit_pay('ev-a', 'ev-order-5', 600, 'USD', 'late commit',
	merchant => 'SANDBOX_SUITE', deferred => true)$$) AS t(status text);
SELECT status FROM autodebit_pay('ev-a', 'ev-order-6', 600, 'USD', 'early commit', merchant => 'SANDBOX_SUITE',
	deferred => true);
SELECT kind, order_ref FROM autodebit_events('billing') ORDER BY xid, id;
SELECT dblink_exec('ev', 'COMMIT');
SELECT kind, order_ref FROM autodebit_events('billing') ORDER BY xid, id;

-- a listener wakes at commit, with the newest event id
SELECT dblink_exec('ev', 'LISTEN autodebit_events');
SELECT status FROM autodebit_pay('ev-a', 'ev-order-7', 600, 'USD', 'heard', merchant => 'SANDBOX_SUITE', deferred => true);
SELECT pg_sleep(0.2);
SELECT count(*) > 0 AS woke, max(extra::bigint) = (SELECT max(id) FROM autodebit.events) AS newest
FROM dblink_get_notify('ev') WHERE notify_name = 'autodebit_events';

-- a run's batch: an event for every payment it moves, in payment order, and not a notification
-- for each (one per statement that moved them)
SELECT count(*) >= 0 AS drained FROM dblink_get_notify('ev');
SELECT count(*) >= 0 AS read_up FROM autodebit_events('billing', 10000);
DO $$
BEGIN
	FOR i IN 1..3 LOOP
		PERFORM autodebit_pay('ev-a', 'ev-batch-' || i, 500, 'USD', 'batch', merchant => 'SANDBOX_SUITE',
							  deferred => true);
	END LOOP;
END
$$;
SET client_min_messages = warning;
CALL autodebit_run();
RESET client_min_messages;
SELECT pg_sleep(0.2);
SELECT kind, order_ref FROM autodebit_events('billing', 10000) WHERE order_ref LIKE 'ev-batch-%'
ORDER BY xid, id;
SELECT count(*) < 9 AS fewer_notifications_than_events,
	   max(extra::bigint) = (SELECT max(id) FROM autodebit.events) AS newest
FROM dblink_get_notify('ev') WHERE notify_name = 'autodebit_events';
SELECT dblink_disconnect('ev');

-- tenancy: a role sees and consumes only its merchants' events; a consumer is its owner's
CREATE ROLE ev_user LOGIN IN ROLE autodebit_user;
SET ROLE ev_user;
SELECT count(*) AS events_without_grant FROM autodebit_events('ev-user-feed', 10000);
SELECT count(*) AS table_rows_seen FROM autodebit.events;
SELECT test.err($$SELECT * FROM autodebit_events('billing')$$);
RESET ROLE;
SELECT autodebit_merchant_grant('SANDBOX_SUITE', 'ev_user');
SELECT status FROM autodebit_pay('ev-a', 'ev-order-8', 600, 'USD', 'for ev_user', merchant => 'SANDBOX_SUITE', deferred => true);
SET ROLE ev_user;
SELECT kind, order_ref FROM autodebit_events('ev-user-feed') ORDER BY xid, id;
RESET ROLE;
SELECT test.err($$SELECT * FROM autodebit_events('billing', 0)$$);
