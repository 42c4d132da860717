-- What pg_dump keeps.
-- Replayable: included in the install script and in every update script (registering again
-- only sets the filter).

-- pg_dump keeps the state tables' rows (extension tables are otherwise dumped empty) and the
-- position of their id sequences (or a restored database would hand out id 1 again), and of
-- the seeded reference tables only the rows an admin added.  The journal cursor is not dumped:
-- it is a position in this cluster's WAL, meaningless anywhere else; a restored database starts
-- its own at CREATE EXTENSION.  (It is registered with a filter that keeps no row, so that a
-- database updated from 0.1, where it was dumped, and a new one are alike.)  Payment events and
-- their consumers' positions are not dumped either: positions are transaction ids of this
-- cluster, and a restored database's consumers start with the events it makes.
SELECT pg_catalog.pg_extension_config_dump('autodebit.merchant', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.merchant_grant', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.consult_session', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.agreement', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.payment', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.exchange_log', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.refund', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.notification', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.schedule', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.schedule_period', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.run', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.item_error', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.journal_retry', '');
SELECT pg_catalog.pg_extension_config_dump('autodebit.journal_cursor', 'WHERE false');

-- (one call a statement: each updates the extension's catalog row)
SELECT pg_catalog.pg_extension_config_dump('autodebit.merchant_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.agreement_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.payment_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.exchange_log_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.refund_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.notification_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.schedule_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.run_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.item_error_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('autodebit.wallet', 'WHERE NOT seeded');

SELECT pg_catalog.pg_extension_config_dump('autodebit.currency', 'WHERE NOT seeded');
