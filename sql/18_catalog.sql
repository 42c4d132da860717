-- The catalog explains itself: every table, view and API function of the extension has a
-- comment (\d+, \df+), every setting a description (\dconfig+), and every SQLSTATE of our own
-- that the code raises is in the README's error table.
\set VERBOSITY terse

SELECT count(*) AS objects,
	   count(*) FILTER (WHERE obj_description(c.oid, 'pg_class') IS NULL) AS without_comment
FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'autodebit') AND d.deptype = 'e'
  AND c.relkind IN ('r', 'v');
SELECT c.relname AS table_or_view_without_comment
FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'autodebit') AND d.deptype = 'e'
  AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure AS api_function_without_comment
FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'autodebit') AND d.deptype = 'e'
  AND p.proname LIKE 'autodebit\_%' AND obj_description(p.oid, 'pg_proc') IS NULL;
LOAD 'autodebit';				-- its settings are defined when the library loads
SELECT count(*) AS settings, count(*) FILTER (WHERE coalesce(short_desc, '') = '') AS without_description
FROM pg_settings WHERE name LIKE 'autodebit.%';

-- every ZDnnn the C code or the SQL raises is documented in the README (and the README lists
-- none that nothing raises)
CREATE TEMP TABLE raised AS
SELECT DISTINCT (regexp_matches(test.sh(format('cat %1$s/src/sql/*.sql %1$s/src/*.c %1$s/src/*.h',
		current_setting('autodebit_test.repo'))), 'ZD[0-9]{3}', 'g'))[1] AS code;
CREATE TEMP TABLE documented AS
SELECT DISTINCT (regexp_matches(test.sh(format('sed -n %L %s/README.md', '/^## Errors/,/^## /p',
		current_setting('autodebit_test.repo'))), '`(ZD[0-9]{3})`', 'g'))[1] AS code;
SELECT count(*) > 20 AS codes_found FROM raised;
SELECT code AS raised_but_not_documented FROM raised EXCEPT SELECT code FROM documented ORDER BY 1;
SELECT code AS documented_but_never_raised FROM documented EXCEPT SELECT code FROM raised ORDER BY 1;

-- a wrong acquirer public key is a configuration error that says which key to check, not an
-- "outcome unknown, call again"
SELECT client_id FROM autodebit_merchant_set('SANDBOX_WRONG_KEY', current_setting('autodebit_test.gateway'),
	'merchant-pkcs8.pem',
	pg_read_file(regexp_replace(current_setting('autodebit_test.sandbox_key_file'), 'sandbox\.pem$', 'merchant.pub')));
SELECT split_part(test.err_all($$SELECT * FROM autodebit_consult('wk-1', 'GCASH', 'https://merchant.example/back',
	merchant => 'SANDBOX_WRONG_KEY')$$), ' / ', 1) AS error,
	   split_part(test.err_all($$SELECT * FROM autodebit_consult('wk-1', 'GCASH', 'https://merchant.example/back',
	merchant => 'SANDBOX_WRONG_KEY')$$), ' / ', 3) ~ '^Check acquirer_public_key' AS hint_names_the_key;
-- and nothing was recorded
SELECT count(*) FROM autodebit.consult_session s JOIN autodebit.merchant m ON m.id = s.merchant_id
WHERE m.client_id = 'SANDBOX_WRONG_KEY';
DELETE FROM autodebit.exchange_log WHERE merchant_id = (SELECT id FROM autodebit.merchant WHERE client_id = 'SANDBOX_WRONG_KEY');
DELETE FROM autodebit.merchant WHERE client_id = 'SANDBOX_WRONG_KEY';
