/*
 * autodebit.c
 *	  Module start-up: settings (GUCs) under the reserved prefix "autodebit".
 */
#include "autodebit.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

char	   *autodebit_key_directory = NULL;
char	   *autodebit_ca_file = NULL;
char	   *autodebit_proxy = NULL;
int			autodebit_connect_timeout_ms = 5000;
int			autodebit_timeout_ms = 15000;
int			autodebit_max_response_bytes = 1024 * 1024;
int			autodebit_data_key_version = 1;
bool		autodebit_journal_enabled = true;
int			autodebit_response_max_age_s = 300;
int			autodebit_max_check_interval_s = 600;
int			autodebit_refresh_window_s = 3600;
int			autodebit_close_grace_s = 120;
int			autodebit_cancel_after_s = 600;
int			autodebit_orphan_policy = 0;
int			autodebit_max_in_flight = 200;
int			autodebit_requests_per_second = 0;
int			autodebit_refresh_batch_size = 10000;
char	   *autodebit_test_now = NULL;
int			autodebit_event_retention_s = 30 * 86400;
int			autodebit_run_retention_s = 90 * 86400;
int			autodebit_exchange_log_retention_s = 90 * 86400;

static const struct config_enum_entry orphan_policies[] = {
	{"cancel", 0, false},
	{"keep", 1, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/* Define the settings and initialise libcurl once per process. */
void
_PG_init(void)
{
	DefineCustomStringVariable("autodebit.key_directory",
							   "Directory holding the merchant private keys and the token data keys.",
							   "A relative path is taken from the data directory. Only the server reads it.",
							   &autodebit_key_directory, "autodebit_keys",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("autodebit.ca_file",
							   "CA bundle used to verify the acquirer's TLS certificate (empty: system default).",
							   NULL, &autodebit_ca_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("autodebit.proxy",
							   "HTTP(S) proxy for acquirer calls (empty: none; environment proxies are ignored).",
							   NULL, &autodebit_proxy, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.connect_timeout_ms",
							"How long to wait for a connection to the acquirer.",
							NULL, &autodebit_connect_timeout_ms, 5000, 1, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.timeout_ms",
							"Total time allowed for one acquirer call; past it the outcome is unknown.",
							NULL, &autodebit_timeout_ms, 15000, 1, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.max_response_bytes",
							"Largest acquirer answer accepted; a larger one is treated as unknown.",
							NULL, &autodebit_max_response_bytes, 1024 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE | GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.data_key_version",
							"Version of the token data key used for new encryptions (file data-N.key).",
							"Older versions stay readable while their files exist.",
							&autodebit_data_key_version, 1, 1, 65535,
							PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomBoolVariable("autodebit.journal",
							 "Write each outgoing money request to the rollback-proof journal before sending.",
							 "Turning it off loses the ability to find debits whose transaction rolled back.",
							 &autodebit_journal_enabled, true,
							 PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.response_max_age",
							"An acquirer answer whose response-time is further than this from now is not believed.",
							"It is then UNKNOWN and settled by inquiry; this bounds the replay of a recorded answer.",
							&autodebit_response_max_age_s, 300, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.max_check_interval",
							"The longest autodebit_reconcile waits before asking again about an unsettled payment or refund.",
							"The wait starts at 5 s and doubles with each inquiry that settles nothing.",
							&autodebit_max_check_interval_s, 600, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.token_refresh_window",
							"autodebit_pay refreshes an access token that expires within this many seconds.",
							NULL, &autodebit_refresh_window_s, 3600, 0, 30 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.order_close_grace",
							"After this long, a payment the acquirer says does not exist is taken as never received.",
							"Antom closes an auto-debit payment one minute after it is sent: keep this above 60 s against Antom.",
							&autodebit_close_grace_s, 120, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.cancel_unknown_after",
							"autodebit_reconcile cancels a payment still unknown or processing this long after it was sent.",
							NULL, &autodebit_cancel_after_s, 600, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomEnumVariable("autodebit.orphan_policy",
							 "What autodebit_reconcile does with a debit whose transaction rolled back: cancel or keep.",
							 "cancel gives the user the money back; keep records the payment as an orphan SUCCESS.",
							 &autodebit_orphan_policy, 0, orphan_policies,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.max_in_flight",
							"How many requests autodebit_run() keeps in flight at once.",
							NULL, &autodebit_max_in_flight, 200, 1, 5000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.requests_per_second",
							"At most this many new requests a second from autodebit_run() (0: no limit).",
							NULL, &autodebit_requests_per_second, 0, 0, 100000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.refresh_batch_size",
							"At most this many expiring tokens autodebit_run() refreshes per merchant and run.",
							"They are sent concurrently, like payments (autodebit.max_in_flight).",
							&autodebit_refresh_batch_size, 10000, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.event_retention",
							"autodebit_run() deletes payment events older than this.",
							"Consumers that fall further behind lose the events in between.",
							&autodebit_event_retention_s, 30 * 86400, 3600, 3650 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.run_retention",
							"autodebit_run() deletes rows of autodebit.run finished longer ago than this.",
							NULL, &autodebit_run_retention_s, 90 * 86400, 3600, 3650 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("autodebit.exchange_log_retention",
							"autodebit_run() deletes rows of autodebit.exchange_log older than this.",
							NULL, &autodebit_exchange_log_retention_s, 90 * 86400, 3600, 3650 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("autodebit.test_now",
							   "Tests only: the time schedules and retries take as now (empty: the real time).",
							   NULL, &autodebit_test_now, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	MarkGUCPrefixReserved("autodebit");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl")));
}

PG_FUNCTION_INFO_V1(autodebit_setting);

/*
 * SQL: autodebit._setting(name) -> the current value of one of our settings, as SHOW prints it.
 * Calling it loads this library, so the setting exists and its default is the one defined above.
 */
Datum
autodebit_setting(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strncmp(name, "autodebit.", 10) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not an autodebit setting", name)));
	PG_RETURN_TEXT_P(cstring_to_text(GetConfigOptionByName(name, NULL, false)));
}
