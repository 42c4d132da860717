-- The torture run's verdict: the database against the acquirer's ledger, order by order.
-- psql variables: ledger (a file holding GET /sandbox/admin/ledger), client (the merchant's
-- client id), and the counts the driver kept: orders, faults, kills, crashes.
\set ON_ERROR_STOP 1
\pset footer off
CREATE TEMP TABLE ledger AS SELECT pg_read_file(:'ledger')::jsonb AS j;
CREATE TEMP TABLE acq_refund AS
	SELECT e->>'refundRequestId' AS rrid, e->>'paymentRequestId' AS prid, (e->>'amount')::bigint AS amount,
		   e->>'status' AS status
	FROM ledger, jsonb_array_elements(j->'refunds') e WHERE e->>'clientId' = :'client';
-- what the acquirer holds for each paymentRequestId: a successful debit less its refunds
CREATE TEMP TABLE acq AS
	SELECT e->>'paymentRequestId' AS prid, e->>'referenceOrderId' AS order_ref, e->>'status' AS status,
		   (e->>'amount')::bigint AS amount,
		   CASE WHEN e->>'status' = 'SUCCESS'
				THEN (e->>'amount')::bigint - coalesce((SELECT sum(r.amount) FROM acq_refund r
					  WHERE r.prid = e->>'paymentRequestId' AND r.status = 'SUCCESS'), 0)
				ELSE 0 END AS net
	FROM ledger, jsonb_array_elements(j->'payments') e WHERE e->>'clientId' = :'client';
-- what the database says it holds
CREATE TEMP TABLE ours AS
	SELECT p.payment_request_id AS prid, p.order_ref, p.status, p.amount_minor AS amount, p.is_orphan,
		   to_jsonb(p)->>'cancel_wanted' AS cancel_wanted, p.refunded_minor,	-- (older versions have none)
		   CASE WHEN p.status = 'SUCCESS'
				THEN p.amount_minor - coalesce((SELECT sum(r.amount_minor) FROM autodebit.refund r
					  WHERE r.payment_row_id = p.id AND r.status = 'SUCCESS'), 0)
				ELSE 0 END AS net
	FROM autodebit.payment p JOIN autodebit.merchant m ON m.id = p.merchant_id
	WHERE m.client_id = :'client';
CREATE TEMP TABLE verdict AS SELECT
	-- lost: the acquirer holds money under an id the database does not record as SUCCESS
	(SELECT count(*) FROM acq a LEFT JOIN ours o USING (prid)
	 WHERE a.net > 0 AND o.status IS DISTINCT FROM 'SUCCESS') AS lost,
	-- double: more than one debit held for one order
	(SELECT count(*) FROM (SELECT order_ref FROM acq WHERE net > 0 GROUP BY order_ref HAVING count(*) > 1) d) AS double,
	-- unknown: anything left open, a give-back not carried out, a refund not settled
	(SELECT count(*) FROM ours WHERE status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
		OR (cancel_wanted IS NOT NULL AND status = 'SUCCESS' AND refunded_minor < amount))
	 + (SELECT count(*) FROM autodebit.refund WHERE status IN ('SENDING', 'PROCESSING', 'UNKNOWN')) AS unknown,
	-- phantom: a SUCCESS row the acquirer does not hold
	(SELECT count(*) FROM ours o LEFT JOIN acq a USING (prid)
	 WHERE o.status = 'SUCCESS' AND o.net > 0 AND coalesce(a.net, 0) = 0) AS phantom,
	-- unwanted: an order no committed transaction paid (only orphan rows, or none) still charged
	(SELECT count(*) FROM (SELECT a.order_ref FROM acq a GROUP BY a.order_ref HAVING sum(a.net) > 0) c
	 WHERE NOT EXISTS (SELECT FROM ours o WHERE o.order_ref = c.order_ref AND NOT o.is_orphan)) AS unwanted,
	-- refund mismatches: a refund one side has and the other has not, or another amount held
	(SELECT count(*) FROM (SELECT r.refund_request_id AS rrid, r.amount_minor AS amount
						   FROM autodebit.refund r JOIN autodebit.merchant m ON m.id = r.merchant_id
						   WHERE m.client_id = :'client' AND r.status = 'SUCCESS') d
	 FULL JOIN (SELECT rrid, amount FROM acq_refund WHERE status = 'SUCCESS') a USING (rrid)
	 WHERE d.amount IS DISTINCT FROM a.amount)
	 + (SELECT count(*) FROM ours o JOIN acq a USING (prid) WHERE o.net > 0 AND a.net > 0 AND o.net <> a.net) AS refund_mismatches,
	(SELECT coalesce(sum(net), 0) FROM ours) AS ours_held,
	(SELECT coalesce(sum(net), 0) FROM acq) AS acquirer_held;

\pset tuples_only on
\pset format unaligned
SELECT format('torture: %s orders, %s faults, %s kills, %s crashes: lost %s, double %s, unknown %s, phantom %s, unwanted %s, refund mismatches %s, money %s',
	:'orders', :'faults', :'kills', :'crashes', lost, double, unknown, phantom, unwanted, refund_mismatches,
	CASE WHEN ours_held = acquirer_held THEN 'equal' ELSE 'DIFFERENT' END)
FROM verdict;
SELECT to_regclass('autodebit.item_error') IS NOT NULL AS has_item_error \gset
\if :has_item_error
SELECT count(*) AS item_errors FROM autodebit.item_error \gset
\else
\set item_errors 0
\endif
SELECT format('torture: held by the acquirer %s, recorded as held %s (minor units); %s payments, %s refunds, %s orphans adopted, %s give-backs, %s item errors',
	acquirer_held, ours_held, (SELECT count(*) FROM ours), (SELECT count(*) FROM autodebit.refund),
	(SELECT count(*) FROM ours WHERE is_orphan), (SELECT count(*) FROM ours WHERE cancel_wanted IS NOT NULL),
	:'item_errors')
FROM verdict;
-- the evidence when something is wrong
SELECT 'lost ' || a.prid || ' ' || a.order_ref || ' acquirer ' || a.status || ' ' || a.net || ', ours ' || coalesce(o.status, 'no row')
FROM acq a LEFT JOIN ours o USING (prid) WHERE a.net > 0 AND o.status IS DISTINCT FROM 'SUCCESS' LIMIT 20;
SELECT 'phantom ' || o.prid || ' ' || o.order_ref || ' ours ' || o.status || ' ' || o.net || ', acquirer ' || coalesce(a.status, 'no payment')
FROM ours o LEFT JOIN acq a USING (prid) WHERE o.status = 'SUCCESS' AND o.net > 0 AND coalesce(a.net, 0) = 0 LIMIT 20;
SELECT 'open ' || prid || ' ' || order_ref || ' ' || status || coalesce(' give back: ' || cancel_wanted, '')
FROM ours WHERE status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
   OR (cancel_wanted IS NOT NULL AND status = 'SUCCESS' AND refunded_minor < amount) LIMIT 20;
\if :has_item_error
SELECT 'item error ' || kind || ' ' || coalesce(ref, '') || ': ' || sqlstate || ' ' || message
FROM autodebit.item_error ORDER BY id LIMIT 10;
\endif
SELECT CASE WHEN lost + double + unknown + phantom + unwanted + refund_mismatches = 0 AND ours_held = acquirer_held
			THEN 'torture: PASS' ELSE 'torture: FAIL' END FROM verdict;
