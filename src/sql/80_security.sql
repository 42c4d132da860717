-- Row-level security: a role sees only the rows of merchants it acts for.
-- Replayable: included in the install script and in every update script.

ALTER TABLE autodebit.merchant ENABLE ROW LEVEL SECURITY;

ALTER TABLE autodebit.agreement ENABLE ROW LEVEL SECURITY;

ALTER TABLE autodebit.payment ENABLE ROW LEVEL SECURITY;

ALTER TABLE autodebit.refund ENABLE ROW LEVEL SECURITY;

ALTER TABLE autodebit.schedule ENABLE ROW LEVEL SECURITY;
ALTER TABLE autodebit.events ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS acts_for ON autodebit.merchant;
CREATE POLICY acts_for ON autodebit.merchant FOR SELECT
	USING (id = ANY ((SELECT autodebit._caller_merchants())::bigint[]));

DROP POLICY IF EXISTS acts_for ON autodebit.agreement;
CREATE POLICY acts_for ON autodebit.agreement FOR SELECT
	USING (merchant_id = ANY ((SELECT autodebit._caller_merchants())::bigint[]));

DROP POLICY IF EXISTS acts_for ON autodebit.payment;
CREATE POLICY acts_for ON autodebit.payment FOR SELECT
	USING (merchant_id = ANY ((SELECT autodebit._caller_merchants())::bigint[]));

DROP POLICY IF EXISTS acts_for ON autodebit.refund;
CREATE POLICY acts_for ON autodebit.refund FOR SELECT
	USING (merchant_id = ANY ((SELECT autodebit._caller_merchants())::bigint[]));

DROP POLICY IF EXISTS acts_for ON autodebit.schedule;
CREATE POLICY acts_for ON autodebit.schedule FOR SELECT
	USING (merchant_id = ANY ((SELECT autodebit._caller_merchants())::bigint[]));

DROP POLICY IF EXISTS acts_for ON autodebit.events;

CREATE POLICY acts_for ON autodebit.events FOR SELECT
	USING (merchant_id = ANY ((SELECT autodebit._caller_merchants())::bigint[]));
