-- Checks of arguments, and tenancy: which merchants the calling role acts for.
-- Replayable: included in the install script and in every update script.

-- A required text argument: present, not blank, no control characters, at most max_len.
CREATE OR REPLACE FUNCTION autodebit._check_text(arg_name text, value text, max_len integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR btrim(value) = '' THEN
		RAISE EXCEPTION '% must not be empty', arg_name USING ERRCODE = '22004';
	END IF;
	IF length(value) > max_len THEN
		RAISE EXCEPTION '% is longer than % characters', arg_name, max_len
			USING ERRCODE = '22001', DETAIL = format('It has %s characters.', length(value));
	END IF;
	IF value ~ '[[:cntrl:]]' THEN
		RAISE EXCEPTION '% contains control characters', arg_name USING ERRCODE = '22023';
	END IF;
	RETURN value;
END
$$;

-- A URL handed to the wallet or the acquirer (authRedirectUrl, the notify URLs): https, or http
-- to a loopback address; a real host name or address, without user info; no space, control or
-- line-separator character (it ends up in a page, a redirect and a header).
CREATE OR REPLACE FUNCTION autodebit._check_web_url(arg_name text, url text, max_len integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	authority text;
	host text;
	loopback boolean;
BEGIN
	PERFORM autodebit._check_text(arg_name, url, max_len);
	IF url ~ '[\s\u0085\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]' THEN
		RAISE EXCEPTION '% must not contain spaces or line separators', arg_name
			USING ERRCODE = '22023', HINT = 'Percent-encode them (%20, %E2%80%A8).';
	END IF;
	IF url !~* '^https?://' THEN
		RAISE EXCEPTION '% must be an https URL', arg_name
			USING ERRCODE = '22023',
				  DETAIL = format('It starts with "%s".', left(substring(url from '^[^:/]*:?'), 32));
	END IF;
	authority := substring(url from '^[A-Za-z]+://([^/?#]*)');
	IF authority ~ '@' THEN
		RAISE EXCEPTION '% must not carry user info (user@host)', arg_name USING ERRCODE = '22023';
	END IF;
	host := lower(regexp_replace(authority, ':[0-9]{1,5}$', ''));
	loopback := host ~ '^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$' OR host IN ('localhost', '[::1]');
	IF NOT (loopback
			OR host ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$'
			OR host ~ '^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$') THEN
		RAISE EXCEPTION '% must name a real host', arg_name
			USING ERRCODE = '22023', DETAIL = format('The host part is "%s".', left(host, 64));
	END IF;
	IF lower(url) LIKE 'http://%' AND NOT loopback THEN
		RAISE EXCEPTION '% must use https', arg_name
			USING ERRCODE = '22023', DETAIL = 'Plain http is accepted only to a loopback address.';
	END IF;
	RETURN url;
END
$$;

-- Does the calling role act for every merchant (autodebit_admin, or a superuser)?  Plain SQL
-- with no settings of its own, so the planner inlines it into its callers.
CREATE OR REPLACE FUNCTION autodebit._caller_is_admin() RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT pg_catalog.pg_has_role(autodebit._caller(), 'autodebit_admin', 'MEMBER') $$;

-- The merchants the calling role acts for: granted to it or to a role it is a member of, or
-- all of them for an admin.  Row-level security and every API function ask this.  PL/pgSQL, so
-- its queries are planned once per session.
CREATE OR REPLACE FUNCTION autodebit._caller_merchants() RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF autodebit._caller_is_admin() THEN
		RETURN ARRAY(SELECT id FROM autodebit.merchant ORDER BY id);
	END IF;
	RETURN ARRAY(SELECT DISTINCT g.merchant_id FROM autodebit.merchant_grant g
				 JOIN pg_roles r ON r.oid = g.role
				 WHERE pg_has_role(autodebit._caller(), g.role, 'MEMBER')
				 ORDER BY 1);
END
$$;

-- Refuse (42501) an object of a merchant the calling role does not act for.
CREATE OR REPLACE FUNCTION autodebit._refuse_unless_mine(merchant_id bigint, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT merchant_id = ANY (autodebit._caller_merchants()) THEN
		RAISE EXCEPTION 'permission denied for %', what
			USING ERRCODE = '42501',
				  DETAIL = format('It belongs to a merchant role "%s" does not act for.', autodebit._caller()::regrole),
				  HINT = 'An admin grants a role a merchant with autodebit_merchant_grant().';
	END IF;
END
$$;

-- The merchant named by client_id, or the caller's only merchant when none is named.  A role
-- that does not act for it is refused (42501) whether or not it exists, so merchants of
-- others cannot be probed; admins are told when a merchant is unknown.
CREATE OR REPLACE FUNCTION autodebit._merchant(client_id text) RETURNS autodebit.merchant
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m autodebit.merchant;
	mine bigint[] := autodebit._caller_merchants();
	admin boolean := autodebit._caller_is_admin();
	names text;
BEGIN
	IF client_id IS NOT NULL THEN
		SELECT * INTO m FROM autodebit.merchant x WHERE x.client_id = _merchant.client_id;
		IF FOUND AND m.id = ANY (mine) THEN
			RETURN m;
		ELSIF admin THEN
			RAISE EXCEPTION 'unknown merchant "%"', client_id
				USING ERRCODE = 'ZD002', HINT = 'Register it with autodebit_merchant_set().';
		END IF;
		RAISE EXCEPTION 'permission denied for merchant "%"', client_id
			USING ERRCODE = '42501',
				  DETAIL = format('Role "%s" does not act for it.', autodebit._caller()::regrole),
				  HINT = 'An admin grants a role a merchant with autodebit_merchant_grant().';
	END IF;
	IF cardinality(mine) = 1 THEN
		SELECT * INTO m FROM autodebit.merchant WHERE id = mine[1];
		RETURN m;
	ELSIF cardinality(mine) = 0 AND admin THEN
		RAISE EXCEPTION 'no merchant is registered'
			USING ERRCODE = 'ZD002', HINT = 'Register your Antom client with autodebit_merchant_set().';
	ELSIF cardinality(mine) = 0 THEN
		RAISE EXCEPTION 'role "%" acts for no merchant', autodebit._caller()::regrole
			USING ERRCODE = '42501',
				  HINT = 'An admin grants a role a merchant with autodebit_merchant_grant().';
	END IF;
	SELECT string_agg(x.cid, ', ' ORDER BY x.cid) INTO names
	FROM (SELECT mm.client_id AS cid FROM autodebit.merchant mm WHERE mm.id = ANY (mine)
		  ORDER BY mm.client_id LIMIT 20) x;
	RAISE EXCEPTION '%', CASE WHEN admin THEN 'more than one merchant is registered'
							  ELSE format('role "%s" acts for more than one merchant', autodebit._caller()::regrole) END
		USING ERRCODE = 'ZD003',
			  DETAIL = format('Role "%s" acts for %s%s.', autodebit._caller()::regrole, names,
							  CASE WHEN cardinality(mine) > 20 THEN format(' and %s more', cardinality(mine) - 20) END),
			  HINT = 'Name the merchant (its client_id) in the merchant argument.';
END
$$;

-- The customerBelongsTo for a wallet site name; unknown sites are refused.
CREATE OR REPLACE FUNCTION autodebit._wallet(site text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	w text;
BEGIN
	SELECT customer_belongs_to INTO w FROM autodebit.wallet WHERE site_name = site;
	IF w IS NULL THEN
		RAISE EXCEPTION 'unknown wallet "%"', site
			USING ERRCODE = 'ZD102',
				  DETAIL = 'The wallet is not in autodebit.wallet.',
				  HINT = 'Use the siteName from my.getSiteInfo; an admin can map new sites in autodebit.wallet.';
	END IF;
	RETURN w;
END
$$;
