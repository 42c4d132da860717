-- Data key rotation: sealing tokens again under the current key.
-- Replayable: included in the install script and in every update script.

-- Seal again under autodebit.data_key_version the tokens (and fingerprints) still sealed under
-- an older data key: at most max_rows agreements and max_rows payments a call, skipping rows
-- another transaction holds.  Returns how many rows it re-sealed; call it until it returns 0.
CREATE OR REPLACE FUNCTION autodebit_reseal_tokens(max_rows integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cur integer := autodebit._setting('autodebit.data_key_version')::integer;
	agreements integer;
	payments integer;
BEGIN
	IF max_rows IS NULL OR max_rows < 1 THEN
		RAISE EXCEPTION 'max_rows must be positive' USING ERRCODE = '22023';
	END IF;
	WITH todo AS (
		SELECT a.id FROM autodebit.agreement a
		WHERE autodebit._sealed_version(a.access_token_enc) <> cur
		   OR autodebit._sealed_version(a.refresh_token_enc) <> cur
		LIMIT max_rows FOR UPDATE SKIP LOCKED)
	UPDATE autodebit.agreement a
	SET access_token_enc = acc.sealed, access_token_fp = acc.fingerprint,
		refresh_token_enc = coalesce(ref.sealed, a.refresh_token_enc)
	FROM todo
	JOIN autodebit.agreement o ON o.id = todo.id
	CROSS JOIN LATERAL autodebit._reseal(o.access_token_enc, autodebit._token_aad(o.id, 'access')) acc
	LEFT JOIN LATERAL autodebit._reseal(o.refresh_token_enc, autodebit._token_aad(o.id, 'refresh')) ref ON true
	WHERE a.id = todo.id;
	GET DIAGNOSTICS agreements = ROW_COUNT;
	WITH todo AS (
		SELECT p.id FROM autodebit.payment p
		WHERE autodebit._sealed_version(p.token_enc) <> cur
		LIMIT max_rows FOR UPDATE SKIP LOCKED)
	UPDATE autodebit.payment p SET token_enc = tok.sealed
	FROM todo
	JOIN autodebit.payment o ON o.id = todo.id
	CROSS JOIN LATERAL autodebit._reseal(o.token_enc, o.token_aad) tok
	WHERE p.id = todo.id;
	GET DIAGNOSTICS payments = ROW_COUNT;
	RETURN agreements + payments;
END
$$;
