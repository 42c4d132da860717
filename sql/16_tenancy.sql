-- Tenancy: a role acts only for the merchants an admin granted it (autodebit_merchant_grant),
-- sees only their rows, and is refused (42501) for any other merchant.  Admins and superusers
-- act for all.  Notifications stay with the merchant whose key verified them.
\set VERBOSITY terse

SELECT s.client_id FROM unnest(ARRAY['SANDBOX_M1', 'SANDBOX_M2']) m,
	LATERAL autodebit_merchant_set(m, current_setting('autodebit_test.gateway'), 'merchant-pkcs8.pem',
		current_setting('autodebit_test.acquirer_key_b64'), app_id => 'APP_TEN') s;
CREATE ROLE u1 LOGIN IN ROLE autodebit_user;
CREATE ROLE u2 LOGIN IN ROLE autodebit_user;
CREATE ROLE u3 LOGIN IN ROLE autodebit_user;		-- granted nothing
CREATE ROLE ops LOGIN IN ROLE autodebit_admin;
CREATE ROLE team NOLOGIN;							-- grants to a group reach its members
CREATE ROLE u4 LOGIN IN ROLE autodebit_user, team;

-- only an admin grants; a grant names a registered merchant and an existing role
SET ROLE u1;
SELECT test.err($$SELECT autodebit_merchant_grant('SANDBOX_M1', 'u1')$$);
RESET ROLE;
SET ROLE ops;
SELECT autodebit_merchant_grant('SANDBOX_M1', 'u1');
SELECT autodebit_merchant_grant('SANDBOX_M2', 'u2');
SELECT autodebit_merchant_grant('SANDBOX_M2', 'team');
SELECT autodebit_merchant_grant('SANDBOX_M2', 'team');		-- twice is once
SELECT test.err($$SELECT autodebit_merchant_grant('NO_SUCH', 'u1')$$);
SELECT test.err($$SELECT autodebit_merchant_grant('SANDBOX_M1', 'no_such_role')$$);
SELECT merchant, role FROM autodebit.merchant_grants WHERE merchant LIKE 'SANDBOX_M_' ORDER BY 1, 2;
RESET ROLE;

-- each merchant has a customer and a payment
SELECT a.status FROM test.authorize('ten-a', login => 'ten-a-wallet', merchant => 'SANDBOX_M1') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT a.status FROM test.authorize('ten-b', login => 'ten-b-wallet', merchant => 'SANDBOX_M2') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT status FROM autodebit_pay('ten-b', 'ten-order-b1', 900, 'USD', 'M2 order', merchant => 'SANDBOX_M2');
SELECT payment_request_id AS prid_b FROM autodebit.payments WHERE order_ref = 'ten-order-b1' \gset
SELECT refund_request_id AS rrid_b FROM autodebit_refund(:'prid_b', 100) \gset
SELECT id AS sched_b FROM autodebit_schedule('ten-b', 500, 'USD', 'M2 plan', interval '1 month',
	now() + interval '1 day', merchant => 'SANDBOX_M2') \gset
SELECT auth_state AS state_b FROM autodebit_consult('ten-c', 'GCASH', 'https://merchant.example/back',
	merchant => 'SANDBOX_M2') \gset

-- u1 acts for M1: merchant => NULL means its only merchant
SET ROLE u1;
SELECT status FROM autodebit_pay('ten-a', 'ten-order-a1', 700, 'USD', 'M1 order');
SELECT payment_request_id AS prid_a FROM autodebit.payments WHERE order_ref = 'ten-order-a1' \gset
SELECT status FROM autodebit_refund(:'prid_a', 50);
SELECT status FROM autodebit_inquire(:'prid_a');

-- and for nothing of M2's: every API function refuses, naming the merchant or the object
SELECT test.err($$SELECT * FROM autodebit_pay('ten-b', 'ten-order-x', 100, 'USD', 'x', merchant => 'SANDBOX_M2')$$);
SELECT test.err($$SELECT * FROM autodebit_consult('ten-x', 'GCASH', 'https://merchant.example/back', merchant => 'SANDBOX_M2')$$);
SELECT test.err($$SELECT * FROM autodebit_revoke('ten-b', merchant => 'SANDBOX_M2')$$);
SELECT test.err($$SELECT * FROM autodebit_refresh_token('ten-b', merchant => 'SANDBOX_M2')$$);
SELECT test.err($$SELECT * FROM autodebit_schedule('ten-b', 500, 'USD', 'x', interval '1 month', now(), merchant => 'SANDBOX_M2')$$);
SELECT test.err(format('SELECT * FROM autodebit_refund(%L, 1)', :'prid_b'));
SELECT test.err(format('SELECT * FROM autodebit_inquire(%L)', :'prid_b'));
SELECT test.err(format('SELECT * FROM autodebit_cancel(%L)', :'prid_b'));
SELECT test.err(format('SELECT * FROM autodebit_inquire_refund(%L)', :'rrid_b'));
SELECT regexp_replace(test.err(format('SELECT * FROM autodebit_schedule_pause(%s)', :sched_b)), '\d+$', 'N') AS err;
SELECT regexp_replace(test.err(format('SELECT * FROM autodebit_schedule_cancel(%s)', :sched_b)), '\d+$', 'N') AS err;
SELECT test.err(format('SELECT * FROM autodebit_apply_token(%L, %L)', :'state_b', 'any-code'));
-- reconcile and the runner are the operator's
SELECT test.err($$SELECT * FROM autodebit_reconcile()$$);
-- the views show u1 only M1's rows
SELECT (SELECT count(*) FROM autodebit.payments WHERE order_ref LIKE 'ten-order-%') AS payments,
	   (SELECT count(*) FROM autodebit.payments WHERE order_ref = 'ten-order-b1') AS m2_payments,
	   (SELECT count(*) FROM autodebit.agreements WHERE customer_ref LIKE 'ten-%') AS agreements,
	   (SELECT count(*) FROM autodebit.refunds r JOIN autodebit.payments p USING (payment_request_id)
		WHERE p.order_ref LIKE 'ten-order-%') AS refunds,
	   (SELECT count(*) FROM autodebit.schedules WHERE description = 'M2 plan') AS m2_schedules,
	   (SELECT count(DISTINCT merchant_id) FROM autodebit.payments) AS merchants_seen;
SELECT count(*) AS m2_queue_rows FROM autodebit.queue q
WHERE q.merchant = 'SANDBOX_M2';
-- the base tables stay closed
SELECT test.err($$SELECT * FROM autodebit.payment$$);
SELECT test.err($$SELECT access_token_enc FROM autodebit.agreement$$);
RESET ROLE;

-- u2 (directly) and u4 (through the group team) act for M2, and see only M2
SET ROLE u4;
SELECT status FROM autodebit_inquire(:'prid_b');
SELECT count(*) AS m1_payments FROM autodebit.payments WHERE order_ref = 'ten-order-a1';
SELECT test.err(format('SELECT * FROM autodebit_refund(%L, 1)', :'prid_a'));
RESET ROLE;
SET ROLE u2;
SELECT status FROM autodebit_schedule_pause(:sched_b);
SELECT count(*) AS m2_schedules FROM autodebit.schedules WHERE description = 'M2 plan';
RESET ROLE;

-- a role granted nothing acts for no merchant and sees nothing
SET ROLE u3;
SELECT test.err($$SELECT * FROM autodebit_pay('ten-a', 'ten-order-y', 100, 'USD', 'x')$$);
SELECT count(*) AS visible FROM autodebit.payments;
RESET ROLE;

-- with two merchants granted, merchant => NULL is an error listing them
SELECT autodebit_merchant_grant('SANDBOX_M2', 'u1');
SET ROLE u1;
SELECT test.err_detail($$SELECT * FROM autodebit_pay('ten-a', 'ten-order-a2', 100, 'USD', 'x')$$);
SELECT status FROM autodebit_pay('ten-a', 'ten-order-a2', 100, 'USD', 'x', merchant => 'SANDBOX_M1');
RESET ROLE;
SELECT autodebit_merchant_revoke('SANDBOX_M2', 'u1');
SET ROLE u1;
SELECT test.err(format('SELECT * FROM autodebit_inquire(%L)', :'prid_b'));
RESET ROLE;

-- admins act for and see every merchant
SET ROLE ops;
SELECT status FROM autodebit_inquire(:'prid_b');
SELECT count(DISTINCT merchant_id) >= 2 AS sees_all FROM autodebit.payments WHERE order_ref LIKE 'ten-order-%';
RESET ROLE;

-- a dropped role's grants go with it and do not break anyone's view
SELECT autodebit_merchant_grant('SANDBOX_M1', 'u3');
DROP ROLE u3;
SET ROLE u1;
SELECT count(*) AS u1_sees FROM autodebit.payments WHERE order_ref LIKE 'ten-order-a%';
RESET ROLE;
SELECT role AS listed_after_drop FROM autodebit.merchant_grants WHERE merchant = 'SANDBOX_M1' ORDER BY 1;

-- notifications: one body sent to both merchants is two notifications, each applied to its own
-- merchant (de-duplication is per merchant, not global)
SELECT payment_request_id AS prid_a2 FROM autodebit.payments WHERE order_ref = 'ten-order-a2' \gset
CREATE TEMP TABLE tn AS SELECT '/notify/payment' AS path, '1764000000777' AS rtime,
	'{"notifyType":"PAYMENT_PENDING","paymentRequestId":"ten-same-body"}'::text AS body;
SELECT c AS client, autodebit_handle_notification(path, c, rtime, test.acquirer_signature(path, c, rtime, body), body)
		= autodebit._ack() AS acknowledged
FROM tn, unnest(ARRAY['SANDBOX_M1', 'SANDBOX_M2']) c ORDER BY c;
SELECT m.client_id, n.outcome FROM autodebit.notification n JOIN autodebit.merchant m ON m.id = n.merchant_id
WHERE n.ref = 'ten-same-body' ORDER BY 1;
-- a notification verified with M1's key never touches M2's payment of the same request id
SELECT autodebit_handle_notification(path, 'SANDBOX_M1', rtime, test.acquirer_signature(path, 'SANDBOX_M1', rtime, b), b)
		= autodebit._ack() AS acknowledged
FROM tn, LATERAL (SELECT format('{"notifyType":"PAYMENT_RESULT","paymentRequestId":"%s","result":{"resultStatus":"F","resultCode":"USER_BALANCE_NOT_ENOUGH"}}',
	:'prid_b') AS b) x;
SELECT status FROM autodebit.payments WHERE payment_request_id = :'prid_b';
SELECT outcome FROM autodebit.notification WHERE ref = :'prid_b' ORDER BY id DESC LIMIT 1;

-- autodebit_run() runs for every merchant with its own search_path: functions and operators
-- planted in a schema ahead of pg_catalog in the caller's path are never called
CREATE SCHEMA trap;
CREATE TABLE trap.calls (what text);
GRANT USAGE ON SCHEMA trap TO ops;
GRANT INSERT ON trap.calls TO PUBLIC;
CREATE FUNCTION trap.pg_sleep(double precision) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO trap.calls VALUES ('pg_sleep') $$;
CREATE FUNCTION trap.int_lt(integer, integer) RETURNS boolean LANGUAGE sql AS
	$$ INSERT INTO trap.calls VALUES ('<'); SELECT $1 OPERATOR(pg_catalog.<) $2 $$;
CREATE OPERATOR trap.< (LEFTARG = integer, RIGHTARG = integer, FUNCTION = trap.int_lt);
CREATE FUNCTION trap.int_eq(integer, integer) RETURNS boolean LANGUAGE sql AS
	$$ INSERT INTO trap.calls VALUES ('='); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR trap.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = trap.int_eq);
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA trap TO PUBLIC;
SET ROLE ops;
SET search_path = trap, pg_catalog, public;
SELECT 1 < 2 AS trap_works_here;
RESET search_path;
RESET ROLE;
SELECT count(*) AS trap_control_calls FROM trap.calls;
TRUNCATE trap.calls;
SET ROLE ops;
SET search_path = trap, pg_catalog, public;
SET client_min_messages = warning;
CALL autodebit_run(batch_size => 10);
RESET client_min_messages;
RESET search_path;
RESET ROLE;
SELECT what, count(*) AS trap_calls_by_run FROM trap.calls GROUP BY 1 ORDER BY 1;
DROP SCHEMA trap CASCADE;
