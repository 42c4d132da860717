-- examples/subscriptions.sql, run as a merchant would: enrol a customer, charge the first period,
-- mark the invoice paid from the events; a wallet that runs dry goes past due, then loses access
-- when dunning gives up, and gets it back when a later period pays; a refund is recorded.
\set VERBOSITY terse
SELECT current_setting('autodebit_test.repo') || '/examples/subscriptions.sql' AS example \gset
\set ECHO none
\i :example
\set ECHO all
INSERT INTO shop.plan (code, name, amount_minor, currency, retry_plan)
VALUES ('basic', 'Basic plan', 1500, 'USD', '{1 day,3 days}');
-- the shop reads the events of its merchant from the start: the suite's are not its own
SELECT shop.apply_events() >= 0 AS caught_up;

SELECT a.status FROM test.authorize('sub-a', login => 'sub-a-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SET autodebit.test_now = '2027-01-01 00:00+00';
SELECT customer_ref, plan_code, status, has_access
FROM shop.enrol('sub-a', 'basic', '2027-01-01 00:00+00', merchant => 'SANDBOX_SUITE');

-- the first period is charged by the runner, and the event consumer marks its invoice paid
SET client_min_messages = error;			-- the runner also settles what earlier files left
CALL autodebit_run();
RESET client_min_messages;
SELECT shop.apply_events() > 0 AS applied;
SELECT i.order_ref ~ '^schedule-[0-9]+-0$' AS period_0, i.status, i.amount_minor, s.status AS subscription, s.has_access
FROM shop.invoice i JOIN shop.subscription s ON s.id = i.subscription_id ORDER BY i.id;

-- the wallet runs dry: the next period fails, the subscription is past due but keeps access
SELECT test.sandbox('POST', 'users/sub-a-wallet', '{"balance":{"USD":"0"}}') IS NOT NULL AS emptied;
SET autodebit.test_now = '2027-02-01 00:00+00';
SET client_min_messages = error;			-- the runner also settles what earlier files left
CALL autodebit_run();
RESET client_min_messages;
SELECT shop.apply_events() > 0 AS applied;
SELECT s.status, s.has_access, i.status AS invoice, i.attempts_failed
FROM shop.subscription s JOIN shop.invoice i ON i.subscription_id = s.id
WHERE i.order_ref ~ '-1$';
-- dunning retries after 1 day, then 3 days; after the last it gives up: no more access
SET autodebit.test_now = '2027-02-02 00:00+00';
SET client_min_messages = error;			-- the runner also settles what earlier files left
CALL autodebit_run();
SET autodebit.test_now = '2027-02-05 00:00+00';
CALL autodebit_run();
RESET client_min_messages;
SELECT shop.apply_events() > 0 AS applied;
SELECT s.status, s.has_access, i.status AS invoice, i.attempts_failed
FROM shop.subscription s JOIN shop.invoice i ON i.subscription_id = s.id
WHERE i.order_ref ~ '-1$';

-- the customer tops up and the shop resumes the schedule: the next period pays, access returns
SELECT test.sandbox('POST', 'users/sub-a-wallet', '{"balance":{"USD":"100000"}}') IS NOT NULL AS topped_up;
SELECT status FROM autodebit_schedule_resume((SELECT schedule_id FROM shop.subscription WHERE customer_ref = 'sub-a'));
SET autodebit.test_now = '2027-03-01 00:00+00';
SET client_min_messages = error;			-- the runner also settles what earlier files left
CALL autodebit_run();
RESET client_min_messages;
SELECT shop.apply_events() > 0 AS applied;
SELECT regexp_replace(i.order_ref, '^schedule-[0-9]+-', 'period ') AS invoice, i.status, s.status AS subscription,
	   s.has_access
FROM shop.invoice i JOIN shop.subscription s ON s.id = i.subscription_id ORDER BY i.id;

-- a refund of the first invoice is recorded on it
SELECT r.status FROM shop.invoice i, LATERAL autodebit_refund(i.payment_request_id, 500) r
WHERE i.order_ref ~ '-0$';
SELECT shop.apply_events() > 0 AS applied;
SELECT regexp_replace(order_ref, '^schedule-[0-9]+-', 'period ') AS invoice, refunded_minor
FROM shop.invoice ORDER BY id;
-- and nothing is applied twice: the events are consumed
SELECT shop.apply_events() AS events_left;
RESET autodebit.test_now;
