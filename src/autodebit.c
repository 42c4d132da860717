/*
 * autodebit.c
 *	  Module start-up: settings (GUCs) under the reserved prefix "autodebit".
 */
#include "autodebit.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "miscadmin.h"
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
	MarkGUCPrefixReserved("autodebit");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl")));
}
