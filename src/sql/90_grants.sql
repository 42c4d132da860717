-- Privileges: nothing for PUBLIC; functions run as the extension owner.
-- Replayable: included in the install script and in every update script.  Everything is first
-- taken from PUBLIC and from our roles, then granted, so that an updated database ends with
-- exactly the grants of a new one (a grant a version dropped does not linger).

REVOKE ALL ON ALL TABLES IN SCHEMA autodebit FROM PUBLIC, autodebit_admin, autodebit_user, autodebit_notify;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA autodebit FROM PUBLIC, autodebit_admin, autodebit_user, autodebit_notify;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA autodebit FROM PUBLIC, autodebit_admin, autodebit_user, autodebit_notify;

REVOKE ALL ON FUNCTION autodebit_merchant_set(text, text, text, text, integer, text, text, text, text, text),
	autodebit_consult(text, text, text, text, text, text),
	autodebit_apply_token(text, text),
	autodebit_pay(text, text, bigint, text, text, text, text, boolean),
	autodebit_revoke(text, text, text),
	autodebit_inquire(text), autodebit_cancel(text), autodebit_refund(text, bigint, text),
	autodebit_inquire_refund(text), autodebit_refresh_token(text, text, text),
	autodebit_reconcile(), autodebit_handle_notification(text, text, text, text, text),
	autodebit_handle_notification(text, text, text, text, bytea), autodebit_reseal_tokens(integer),
	autodebit_merchant_grant(text, name), autodebit_merchant_revoke(text, name),
	autodebit_schedule(text, bigint, text, text, interval, timestamptz, text, text, boolean, interval[]),
	autodebit_schedule_pause(bigint), autodebit_schedule_resume(bigint), autodebit_schedule_cancel(bigint),
	autodebit_events(text, integer), autodebit_metrics()
	FROM PUBLIC, autodebit_admin, autodebit_user, autodebit_notify;

REVOKE ALL ON PROCEDURE autodebit_run(integer) FROM PUBLIC, autodebit_admin, autodebit_user, autodebit_notify;

GRANT USAGE ON SCHEMA autodebit TO autodebit_admin, autodebit_user;

GRANT SELECT ON autodebit.agreements, autodebit.payments, autodebit.refunds, autodebit.schedules,
	autodebit.queue, autodebit.currency, autodebit.wallet, autodebit.transition
	TO autodebit_admin, autodebit_user;

GRANT SELECT ON autodebit.item_error, autodebit.journal_retry, autodebit.merchant_grants,
	autodebit.data_key_use TO autodebit_admin;

GRANT SELECT ON autodebit.merchant, autodebit.exchange_log, autodebit.notification,
	autodebit.schedule_period, autodebit.run TO autodebit_admin;

-- Tenancy: the views read the tables with the reader's rights, so each role needs the views'
-- columns of the tables (never a sealed token or a request body), and row-level security
-- shows it only the rows of merchants it acts for (all of them for autodebit_admin; the
-- extension's owner and superusers are not subject to it).  autodebit._caller_merchants() is
-- evaluated once per query.
GRANT SELECT (id, client_id, app_id, created_at, updated_at) ON autodebit.merchant TO autodebit_user;

GRANT SELECT (id, merchant_id, customer_ref, customer_belongs_to, terminal_type, status,
	access_token_expires_at, refresh_token_expires_at, user_login_id, created_at, updated_at,
	ended_at, end_reason, os_type) ON autodebit.agreement TO autodebit_admin, autodebit_user;

GRANT SELECT (id, merchant_id, payment_request_id, order_ref, attempt, customer_ref,
	customer_belongs_to, agreement_id, amount_minor, currency, description, status, result_code,
	result_message, payment_id, payment_time, refunded_minor, is_orphan, cancel_time, cancel_wanted,
	created_at, updated_at, sent_at, completed_at) ON autodebit.payment TO autodebit_admin, autodebit_user;

GRANT SELECT (id, merchant_id, payment_request_id, refund_request_id, seq, amount_minor, currency,
	reason, status, result_code, result_message, refund_id, refund_time, is_orphan, created_at,
	updated_at) ON autodebit.refund TO autodebit_admin, autodebit_user;

GRANT SELECT ON autodebit.schedule TO autodebit_admin, autodebit_user;

GRANT EXECUTE ON FUNCTION autodebit._caller_merchants(), autodebit._due(timestamptz, interval, integer)
	TO autodebit_admin, autodebit_user;

-- autodebit_run() is a procedure (it commits between batches), so it cannot be SECURITY DEFINER:
-- whoever calls it (the pg_cron job's owner) needs the steps it calls.  It and reconcile act
-- for every merchant: they are the operator's.
GRANT EXECUTE ON PROCEDURE autodebit_run(integer) TO autodebit_admin;

GRANT EXECUTE ON FUNCTION autodebit._run_begin(), autodebit._schedules_open(bigint),
	autodebit._run_claim(bigint, integer), autodebit._run_send(bigint), autodebit._schedules_settle(),
	autodebit._refresh_expiring(), autodebit._run_end(bigint), autodebit._reconcile_journal(integer),
	autodebit._reconcile_payments(integer), autodebit._reconcile_refunds(integer), autodebit._expire_agreements(),
	autodebit._step_failed(text, text, text), autodebit._pin_search_path()
	TO autodebit_admin;

GRANT INSERT, UPDATE, DELETE ON autodebit.wallet, autodebit.currency TO autodebit_admin;

GRANT EXECUTE ON FUNCTION autodebit_merchant_set(text, text, text, text, integer, text, text, text, text, text),
	autodebit_merchant_grant(text, name), autodebit_merchant_revoke(text, name), autodebit_reconcile(),
	autodebit_reseal_tokens(integer)
	TO autodebit_admin;

GRANT EXECUTE ON FUNCTION autodebit_consult(text, text, text, text, text, text),
	autodebit_apply_token(text, text),
	autodebit_pay(text, text, bigint, text, text, text, text, boolean),
	autodebit_revoke(text, text, text),
	autodebit_inquire(text), autodebit_cancel(text), autodebit_refund(text, bigint, text),
	autodebit_inquire_refund(text), autodebit_refresh_token(text, text, text),
	autodebit_schedule(text, bigint, text, text, interval, timestamptz, text, text, boolean, interval[]),
	autodebit_schedule_pause(bigint), autodebit_schedule_resume(bigint), autodebit_schedule_cancel(bigint)
	TO autodebit_admin, autodebit_user;

GRANT EXECUTE ON FUNCTION autodebit_handle_notification(text, text, text, text, text),
	autodebit_handle_notification(text, text, text, text, bytea)
	TO autodebit_notify, autodebit_admin;

GRANT SELECT ON autodebit.events TO autodebit_admin, autodebit_user;

GRANT SELECT ON autodebit.event_consumer TO autodebit_admin;

GRANT EXECUTE ON FUNCTION autodebit_events(text, integer) TO autodebit_admin, autodebit_user;

GRANT EXECUTE ON FUNCTION autodebit._prune_events() TO autodebit_admin;

-- monitoring: for the operator (grant autodebit_metrics() to your exporter's role as well)
GRANT SELECT ON autodebit.health TO autodebit_admin;

GRANT EXECUTE ON FUNCTION autodebit_metrics(), autodebit._prune_history() TO autodebit_admin;
