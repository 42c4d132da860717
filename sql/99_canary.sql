-- Secrets: after the whole suite ran with log_statement = 'all', no access or refresh token
-- appears as plaintext in the server log, a pg_dump, an error, or any table.  The sandbox
-- mints every access token as sbx_at_<hex> and every refresh token as sbx_rt_<hex>: those
-- prefixes are the canary, and sbx_ac_ for authCodes (AUTHCODE_CREATED carries them).
\set VERBOSITY terse
SHOW log_statement;

-- make sure this run has tokens to leak: one more agreement, a refresh-token-bearing answer
SELECT a.status FROM test.authorize('ivy', login => 'ivy-wallet', merchant => 'SANDBOX_SUITE') t,
	 LATERAL autodebit_apply_token(t.auth_state, t.auth_code) a;
SELECT count(*) > 0 AS have_agreements, bool_and(refresh_token_enc IS NOT NULL) AS all_have_refresh
FROM autodebit.agreement;

-- tables: every column of every autodebit table, as text
SELECT c.relname, (xpath('/row/n/text()',
		query_to_xml(format('SELECT count(*) AS n FROM autodebit.%I t WHERE t::text ~ ''sbx_(at|rt|ac)_''', c.relname),
					 false, true, '')))[1]::text AS canaries
FROM pg_class c WHERE c.relnamespace = 'autodebit'::regnamespace AND c.relkind = 'r'
ORDER BY 1;

-- sealed columns, read as raw bytes rather than hex
SELECT count(*) AS sealed_canaries FROM (
	SELECT access_token_enc AS b FROM autodebit.agreement
	UNION ALL SELECT refresh_token_enc FROM autodebit.agreement
	UNION ALL SELECT token_enc FROM autodebit.payment) s
WHERE encode(b, 'escape') ~ 'sbx_(at|rt|ac)_';

-- the send journal records, and every byte of WAL this server holds
SELECT bool_or(body::text ~ 'sbx_(at|rt|ac)_') AS journal_has_canary, count(*) > 0 AS journal_written
FROM test.journal();
SELECT count(*) > 0 AS wal_segments_read,
	   bool_or(position(convert_to('sbx' || '_at_', 'UTF8') in pg_read_binary_file('pg_wal/' || name)) > 0
			   OR position(convert_to('sbx' || '_rt_', 'UTF8') in pg_read_binary_file('pg_wal/' || name)) > 0
			   OR position(convert_to('sbx' || '_ac_', 'UTF8') in pg_read_binary_file('pg_wal/' || name)) > 0) AS wal_has_canary
FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$';

-- the server log: statements are logged (control), tokens are not
SELECT pg_read_file(current_setting('autodebit_test.log_file')) ~ 'statement: .*autodebit_pay' AS log_has_statements,
	   pg_read_file(current_setting('autodebit_test.log_file')) ~ 'sbx_(at|rt|ac)_' AS log_has_canary,
	   pg_read_file(current_setting('autodebit_test.log_file')) ~ 'ERROR' AS log_has_errors;

-- pg_dump of this database: agreement rows are dumped (control), tokens are not
SELECT test.sh(format('%s/pg_dump --data-only --table=autodebit.agreement --host=%s --port=%s %s | grep -c "^COPY autodebit.agreement"',
		current_setting('autodebit_test.bindir'),
		test.shq(test.pg_host()),
		current_setting('port'), current_database())) AS dump_has_agreements;
SELECT test.sh(format('%s/pg_dump --host=%s --port=%s %s | grep -cE "sbx_(at|rt|ac)_" || true',
		current_setting('autodebit_test.bindir'),
		test.shq(test.pg_host()),
		current_setting('port'), current_database())) AS dump_canaries;

-- pg_stat_activity shows the statement text, which never holds a token
SELECT count(*) AS activity_canaries FROM pg_stat_activity WHERE query ~ 'sbx_(at|rt|ac)_';
