-- The state machines, in one place: every status move each object may make, enforced by triggers.
-- Schema: in the install script; changes to it go into the update scripts.

-- Every status change a payment, refund, agreement, schedule or schedule period may make.
-- Anything else is refused by a trigger (set-based UPDATEs included), and the functions that
-- record an acquirer's answer consult this table, so a late or replayed answer is ignored
-- rather than moving a final state backwards.  README.md draws the diagrams.
CREATE TABLE autodebit.transition (
	object				text NOT NULL,
	from_status			text NOT NULL,
	to_status			text NOT NULL,
	why					text NOT NULL,
	PRIMARY KEY (object, from_status, to_status)
);

INSERT INTO autodebit.transition VALUES
	('payment', 'QUEUED', 'SENDING', 'a run claimed it, or a sync pay sends it'),
	('payment', 'QUEUED', 'CANCELLED', 'cancelled before it was ever sent'),
	('payment', 'SENDING', 'QUEUED', 'the acquirer asked us to slow down; the same request goes again'),
	('payment', 'SENDING', 'PROCESSING', 'the acquirer is processing it'),
	('payment', 'SENDING', 'SUCCESS', 'the acquirer debited the user'),
	('payment', 'SENDING', 'FAIL', 'a definite F'),
	('payment', 'SENDING', 'UNKNOWN', 'no believable answer, or its sender died'),
	('payment', 'SENDING', 'CANCELLED', 'cancelled at the acquirer'),
	('payment', 'PROCESSING', 'SUCCESS', 'settled: paid'),
	('payment', 'PROCESSING', 'FAIL', 'settled: failed'),
	('payment', 'PROCESSING', 'CANCELLED', 'cancelled at the acquirer'),
	('payment', 'UNKNOWN', 'PROCESSING', 'inquiry: still processing'),
	('payment', 'UNKNOWN', 'SUCCESS', 'inquiry: paid'),
	('payment', 'UNKNOWN', 'FAIL', 'inquiry: failed, or never received past the grace period'),
	('payment', 'UNKNOWN', 'CANCELLED', 'cancelled at the acquirer'),
	('payment', 'SUCCESS', 'CANCELLED', 'a cancel gave the money back'),
	('refund', 'SENDING', 'PROCESSING', 'the acquirer is processing it'),
	('refund', 'SENDING', 'SUCCESS', 'the money went back'),
	('refund', 'SENDING', 'FAIL', 'a definite F'),
	('refund', 'SENDING', 'UNKNOWN', 'no believable answer'),
	('refund', 'PROCESSING', 'SUCCESS', 'settled: refunded'),
	('refund', 'PROCESSING', 'FAIL', 'settled: failed'),
	('refund', 'UNKNOWN', 'PROCESSING', 'inquiry: still processing'),
	('refund', 'UNKNOWN', 'SUCCESS', 'inquiry: refunded'),
	('refund', 'UNKNOWN', 'FAIL', 'inquiry: failed, or never received past the grace period'),
	('agreement', 'ACTIVE', 'REVOKED', 'the merchant revoked it'),
	('agreement', 'ACTIVE', 'EXPIRED', 'its tokens expired and cannot be refreshed'),
	('agreement', 'ACTIVE', 'CANCELED_BY_USER', 'the user cancelled it in the wallet'),
	('schedule', 'ACTIVE', 'PAST_DUE', 'a period''s debit failed softly; retries are planned'),
	('schedule', 'ACTIVE', 'SUSPENDED', 'a period failed for good, or no agreement is left'),
	('schedule', 'ACTIVE', 'PAUSED', 'paused'),
	('schedule', 'ACTIVE', 'CANCELLED', 'cancelled'),
	('schedule', 'PAST_DUE', 'ACTIVE', 'a retry was paid'),
	('schedule', 'PAST_DUE', 'SUSPENDED', 'the retries ran out'),
	('schedule', 'PAST_DUE', 'PAUSED', 'paused'),
	('schedule', 'PAST_DUE', 'CANCELLED', 'cancelled'),
	('schedule', 'PAUSED', 'ACTIVE', 'resumed'),
	('schedule', 'PAUSED', 'CANCELLED', 'cancelled'),
	('schedule', 'SUSPENDED', 'ACTIVE', 'resumed'),
	('schedule', 'SUSPENDED', 'PAUSED', 'paused'),
	('schedule', 'SUSPENDED', 'CANCELLED', 'cancelled'),
	('period', 'OPEN', 'PAID', 'its debit succeeded'),
	('period', 'OPEN', 'RETRY', 'its debit failed softly'),
	('period', 'OPEN', 'FAILED', 'its debit failed for good'),
	('period', 'RETRY', 'PAID', 'a retry succeeded'),
	('period', 'RETRY', 'FAILED', 'the retries ran out');

-- (autodebit._may(object, from, to), the question these guards ask, is in 05_guards.sql.)

-- The guard on every status column: a move autodebit.transition does not list is refused.
CREATE FUNCTION autodebit._guard_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT autodebit._may(TG_ARGV[0], OLD.status, NEW.status) THEN
		RAISE EXCEPTION 'a % cannot move from % to %', TG_ARGV[0], OLD.status, NEW.status
			USING ERRCODE = 'ZD501',
				  DETAIL = 'autodebit.transition lists every move a ' || TG_ARGV[0] || ' may make.',
				  HINT = 'A final state never changes; settle open items with autodebit_reconcile().';
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER payment_transition BEFORE UPDATE OF status ON autodebit.payment
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION autodebit._guard_transition('payment');

CREATE TRIGGER refund_transition BEFORE UPDATE OF status ON autodebit.refund
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION autodebit._guard_transition('refund');

CREATE TRIGGER agreement_transition BEFORE UPDATE OF status ON autodebit.agreement
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION autodebit._guard_transition('agreement');

CREATE TRIGGER schedule_transition BEFORE UPDATE OF status ON autodebit.schedule
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION autodebit._guard_transition('schedule');

CREATE TRIGGER period_transition BEFORE UPDATE OF status ON autodebit.schedule_period
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION autodebit._guard_transition('period');
