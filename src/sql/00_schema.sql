-- The schema and the roles.
-- Schema: in the install script; changes to it go into the update scripts.

CREATE SCHEMA autodebit;

REVOKE ALL ON SCHEMA autodebit FROM PUBLIC;

-- Roles: merchants and keys are the admin's; consult/token/pay/revoke the user's.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autodebit_admin') THEN
		CREATE ROLE autodebit_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autodebit_user') THEN
		CREATE ROLE autodebit_user NOLOGIN;
	END IF;
END
$$;

-- the notification receiver's role needs only this
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autodebit_notify') THEN
		CREATE ROLE autodebit_notify NOLOGIN;
	END IF;
END
$$;
