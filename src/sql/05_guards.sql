-- Guards: the state machines' question, and the reference tables' shipped rows.
-- Replayable: included in the install script and in every update script.

-- May an object move from one status to another?  (A status kept is not a move.)  PL/pgSQL, so
-- its one query is planned once per session: every status change asks it, twice.
CREATE OR REPLACE FUNCTION autodebit._may(object text, from_status text, to_status text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN from_status = to_status OR EXISTS (SELECT FROM autodebit.transition t
		WHERE t.object = _may.object AND t.from_status = _may.from_status AND t.to_status = _may.to_status);
END
$$;

-- The shipped rows of the reference tables stay as shipped: pg_dump keeps only the rows an admin
-- added (a restore makes the shipped ones with CREATE EXTENSION), so a changed shipped row would
-- be lost, or collide, on restore.  An admin adds rows; they are never taken for shipped ones.
CREATE OR REPLACE FUNCTION autodebit._keep_seeded() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.seeded THEN
		RAISE EXCEPTION 'row "%" of autodebit.% is shipped with the extension', OLD, TG_TABLE_NAME
			USING ERRCODE = '55000',
				  DETAIL = 'Shipped rows are not dumped, so a change to one would not survive a restore.',
				  HINT = 'Add a row of your own instead.';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	NEW.seeded := false;
	RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER wallet_keep_seeded BEFORE INSERT OR UPDATE OR DELETE ON autodebit.wallet
	FOR EACH ROW EXECUTE FUNCTION autodebit._keep_seeded();

CREATE OR REPLACE TRIGGER currency_keep_seeded BEFORE INSERT OR UPDATE OR DELETE ON autodebit.currency
	FOR EACH ROW EXECUTE FUNCTION autodebit._keep_seeded();

-- A merchant's payments are its books: the merchant is not deleted while it has any (payment
-- rows hold no foreign key to it, see autodebit.payment); its events go with it.
CREATE OR REPLACE FUNCTION autodebit._keep_merchant_books() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT FROM autodebit.payment p WHERE p.merchant_id = OLD.id) THEN
		RAISE EXCEPTION 'merchant "%" has payments', OLD.client_id
			USING ERRCODE = '23503', DETAIL = 'A merchant''s payments are its books and are kept.',
				  HINT = 'Stop using the merchant instead: revoke its grants and clear its gateway settings.';
	END IF;
	DELETE FROM autodebit.events e WHERE e.merchant_id = OLD.id;
	RETURN OLD;
END
$$;

CREATE OR REPLACE TRIGGER merchant_keep_books BEFORE DELETE ON autodebit.merchant
	FOR EACH ROW EXECUTE FUNCTION autodebit._keep_merchant_books();

-- A currency code that payments use is not deleted or renamed (they hold no foreign key to it).
CREATE OR REPLACE FUNCTION autodebit._keep_used_currency() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (TG_OP = 'DELETE' OR NEW.code IS DISTINCT FROM OLD.code)
	   AND EXISTS (SELECT FROM autodebit.payment p WHERE p.currency = OLD.code) THEN
		RAISE EXCEPTION 'currency "%" is used by payments', OLD.code
			USING ERRCODE = '23503', HINT = 'Add a currency instead of changing one in use.';
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE TRIGGER currency_keep_used BEFORE UPDATE OF code OR DELETE ON autodebit.currency
	FOR EACH ROW EXECUTE FUNCTION autodebit._keep_used_currency();

-- An agreement that payments were made through is not deleted, nor its id changed (they hold no
-- foreign key to it): its payments name it, and inquiry, refund and reconcile read it.
CREATE OR REPLACE FUNCTION autodebit._keep_used_agreement() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id)
	   AND EXISTS (SELECT FROM autodebit.payment p WHERE p.agreement_id = OLD.id) THEN
		RAISE EXCEPTION 'the agreement of customer "%" has payments', OLD.customer_ref
			USING ERRCODE = '23503', DETAIL = 'A payment''s agreement is kept with it.',
				  HINT = 'Revoke it with autodebit_revoke() instead.';
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE TRIGGER agreement_keep_used BEFORE UPDATE OF id OR DELETE ON autodebit.agreement
	FOR EACH ROW EXECUTE FUNCTION autodebit._keep_used_agreement();
