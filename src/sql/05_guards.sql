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
