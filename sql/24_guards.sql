-- The books are kept without foreign keys on the pay path (issue 14): a payment names its
-- merchant, currency and agreement by value, so the rows they name are guarded instead.
SELECT a.status FROM test.authorize('gd-1', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT status FROM autodebit_pay('gd-1', 'gd-order-1', 100, 'USD', 'guards', merchant => 'SANDBOX_SUITE');
-- a merchant with payments is not deleted
SELECT test.err($$DELETE FROM autodebit.merchant WHERE client_id = 'SANDBOX_SUITE'$$);
SELECT count(*) AS still_there FROM autodebit.merchant WHERE client_id = 'SANDBOX_SUITE';
-- one without payments is, with its events
SELECT 1 FROM autodebit_merchant_set('SANDBOX_EMPTY', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem', current_setting('autodebit_test.acquirer_key_b64'));
INSERT INTO autodebit.events (merchant_id, kind, object, object_id, data)
SELECT id, 'test.event', 'test', 0, '{}' FROM autodebit.merchant WHERE client_id = 'SANDBOX_EMPTY';
SELECT test.err($$DELETE FROM autodebit.merchant WHERE client_id = 'SANDBOX_EMPTY'$$);
SELECT count(*) AS events_left FROM autodebit.events WHERE kind = 'test.event';
-- a currency a payment uses is neither deleted nor renamed; an unused one of an admin's is
INSERT INTO autodebit.currency (code, minor_unit) VALUES ('XTA', 2), ('XTB', 2);
UPDATE autodebit.payment SET currency = 'XTA' WHERE order_ref = 'gd-order-1';
SELECT test.err($$DELETE FROM autodebit.currency WHERE code = 'XTA'$$);
SELECT test.err($$UPDATE autodebit.currency SET code = 'XTC' WHERE code = 'XTA'$$);
SELECT test.err($$DELETE FROM autodebit.currency WHERE code = 'XTB'$$);
-- a shipped one stays as shipped, used or not
SELECT test.err($$DELETE FROM autodebit.currency WHERE code = 'USD'$$);
-- an agreement a payment was made through is neither deleted nor renumbered; one without is
SELECT test.err($$DELETE FROM autodebit.agreement WHERE customer_ref = 'gd-1'$$);
SELECT test.err($$UPDATE autodebit.agreement SET id = -id WHERE customer_ref = 'gd-1'$$);
SELECT a.status FROM test.authorize('gd-2', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT test.err($$DELETE FROM autodebit.agreement WHERE customer_ref = 'gd-2'$$);
SELECT count(*) AS agreements_left FROM autodebit.agreement WHERE customer_ref IN ('gd-1', 'gd-2');
