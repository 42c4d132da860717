/*
 * main.c
 *	  autodebit-sandbox: flags, keys, start-up.  See sandbox.h for the map.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "antsig.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

struct MHD_Daemon;
extern struct MHD_Daemon *server_start(void);

SandboxConfig cfg = {
	.listen_host = "127.0.0.1",
	.port = 8989,
	.key_version = 1,
	.seed = 1,
	.token_ttl = 30L * 86400,
	.refresh_ttl = 365L * 86400,
	.authcode_ttl = 300,
	.settle_ms = 3000,
	.cancel_window = 86400,
	.default_balance = 100000000LL,
	.notify_speedup = 120,
	.threads = 4,
};

static const char usage[] =
"usage: autodebit-sandbox --merchant-public-key FILE --private-key FILE [options]\n"
"\n"
"A local Antom Auto Debit acquirer: the eight /ams/ APIs, a consent page,\n"
"signed notifications, a ledger and fault injection.\n"
"\n"
"  --listen HOST:PORT          address (default 127.0.0.1:8989; port 0 = any free port)\n"
"  --merchant-public-key FILE  verifies requests (SPKI or PKCS#1; PEM or bare base64)\n"
"  --private-key FILE          signs answers (PKCS#1 or PKCS#8; PEM or bare base64)\n"
"  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
"  --client-id ID              accept only this Client-Id\n"
"  --key-version N             keyVersion in answer signatures (default 1)\n"
"  --latency-ms N              delay every /ams/ answer by N ms (default 0)\n"
"  --faults SPEC               KIND=P[:MS][@API],... (latency reset http500 traffic\n"
"                              unknown unsigned badsig truncate slowbody\n"
"                              replay stale deep badutf8 badtime bignum foreignfail)\n"
"  --seed N                    seed of the fault dice (default 1)\n"
"  --token-ttl SECONDS         access token lifetime (default 2592000)\n"
"  --refresh-token-ttl SECONDS refresh token lifetime (default 31536000)\n"
"  --authcode-ttl SECONDS      authCode lifetime (default 300)\n"
"  --settle-ms N               when PAYMENT_IN_PROCESS settles (default 3000)\n"
"  --cancel-window SECONDS     cancel allowed this long after pay (default 86400)\n"
"  --default-balance N         minor units each new user holds (default 100000000)\n"
"  --settlement-currencies L   the merchant's settlement currencies (comma list); with more\n"
"                              than one, pay must name settlementStrategy.settlementCurrency\n"
"  --auth-notify-url URL       notifyAuthorization target when consult names none\n"
"  --notify-speedup N          divide Antom's re-send schedule by N (default 120)\n"
"  --threads N                 HTTP worker threads (default 4)\n"
"  --superapp DIR              serve the super-app simulator in DIR at /sandbox/superapp/\n"
"  --mini-program DIR          the mini program it plays, at /sandbox/superapp/app/\n"
"  --verbose                   a line per request on stderr\n"
"  --help                      this text\n";

/* Print an error and exit with status 2 (bad usage or unreadable input). */
static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "autodebit-sandbox: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

/* Parse a non-negative integer flag value or die. */
static long long
number(const char *flag, const char *value, long long min)
{
	char	   *end;
	long long	n = strtoll(value, &end, 10);

	if (*value == '\0' || *end != '\0' || n < min)
		die("%s needs a whole number in range", flag);
	return n;
}

/* Load a key file with the given loader or die with the reason. */
static EVP_PKEY *
load_key_file(const char *flag, const char *path,
			  EVP_PKEY *(*loader) (const char *, size_t, char *, size_t))
{
	char		err[256];
	char		msg[600];
	size_t		len;
	char	   *text;
	EVP_PKEY   *key;

	if (path == NULL)
		die("%s is required (see --help)", flag);
	text = read_file(path, &len);
	if (text == NULL)
		die("cannot read key file %s", path);
	key = loader(text, len, err, sizeof(err));
	free(text);
	if (key == NULL)
	{
		snprintf(msg, sizeof(msg), "%s %s: %s", flag, path, err);
		die("%s", msg);
	}
	return key;
}

/* Raise the open-file limit so a thousand connections fit. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"listen", required_argument, NULL, 'l'},
		{"merchant-public-key", required_argument, NULL, 'm'},
		{"private-key", required_argument, NULL, 'p'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"client-id", required_argument, NULL, 'c'},
		{"key-version", required_argument, NULL, 'k'},
		{"latency-ms", required_argument, NULL, 'L'},
		{"faults", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},
		{"token-ttl", required_argument, NULL, 't'},
		{"refresh-token-ttl", required_argument, NULL, 'r'},
		{"authcode-ttl", required_argument, NULL, 'a'},
		{"settle-ms", required_argument, NULL, 'S'},
		{"cancel-window", required_argument, NULL, 'w'},
		{"default-balance", required_argument, NULL, 'b'},
		{"settlement-currencies", required_argument, NULL, 'Z'},
		{"auth-notify-url", required_argument, NULL, 'n'},
		{"notify-speedup", required_argument, NULL, 'N'},
		{"threads", required_argument, NULL, 'T'},
		{"superapp", required_argument, NULL, 'U'},
		{"mini-program", required_argument, NULL, 'M'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *merchant_key = NULL;
	const char *private_key = NULL;
	const char *tls_cert = NULL;
	const char *tls_key = NULL;
	char		err[256];
	int			opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1)
	{
		switch (opt)
		{
			case 'l':
				{
					const char *colon = strrchr(optarg, ':');

					if (colon == NULL || colon == optarg ||
						(size_t) (colon - optarg) >= sizeof(cfg.listen_host))
						die("--listen needs HOST:PORT, got \"%s\"", optarg);
					memcpy(cfg.listen_host, optarg, colon - optarg);
					cfg.listen_host[colon - optarg] = '\0';
					cfg.port = (int) number("--listen port", colon + 1, 0);
					if (cfg.port > 65535)
						die("--listen port %s is out of range", colon + 1);
					break;
				}
			case 'm':
				merchant_key = optarg;
				break;
			case 'p':
				private_key = optarg;
				break;
			case 'C':
				tls_cert = optarg;
				break;
			case 'K':
				tls_key = optarg;
				break;
			case 'c':
				cfg.client_id = optarg;
				break;
			case 'k':
				cfg.key_version = (int) number("--key-version", optarg, 1);
				break;
			case 'L':
				cfg.latency_ms = (int) number("--latency-ms", optarg, 0);
				break;
			case 'f':
				cfg.faults = optarg;
				break;
			case 's':
				cfg.seed = (unsigned long) number("--seed", optarg, 0);
				break;
			case 't':
				cfg.token_ttl = (long) number("--token-ttl", optarg, 1);
				break;
			case 'r':
				cfg.refresh_ttl = (long) number("--refresh-token-ttl", optarg, 1);
				break;
			case 'a':
				cfg.authcode_ttl = (long) number("--authcode-ttl", optarg, 1);
				break;
			case 'S':
				cfg.settle_ms = (int) number("--settle-ms", optarg, 0);
				break;
			case 'w':
				cfg.cancel_window = (long) number("--cancel-window", optarg, 0);
				break;
			case 'b':
				cfg.default_balance = number("--default-balance", optarg, 0);
				break;
			case 'Z':
				cfg.settlement_currencies = optarg;
				break;
			case 'n':
				cfg.auth_notify_url = optarg;
				break;
			case 'N':
				cfg.notify_speedup = (double) number("--notify-speedup", optarg, 1);
				break;
			case 'U':
				cfg.superapp_dir = optarg;
				break;
			case 'M':
				cfg.mini_program_dir = optarg;
				break;
			case 'T':
				cfg.threads = (int) number("--threads", optarg, 1);
				break;
			case 'v':
				cfg.verbose = true;
				break;
			case 'h':
				fputs(usage, stdout);
				return 0;
			default:
				die("unknown or incomplete option \"%s\" (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\" (see --help)", argv[optind]);
	if ((tls_cert == NULL) != (tls_key == NULL))
		die("%s", "--tls-cert and --tls-key go together");

	cfg.merchant_key = load_key_file("--merchant-public-key", merchant_key, antsig_load_public);
	cfg.private_key = load_key_file("--private-key", private_key, antsig_load_private);
	if (tls_cert)
	{
		if ((cfg.tls_cert = read_file(tls_cert, NULL)) == NULL)
			die("cannot read --tls-cert %s", tls_cert);
		if ((cfg.tls_key = read_file(tls_key, NULL)) == NULL)
			die("cannot read --tls-key %s", tls_key);
	}
	if (!faults_set_spec(cfg.faults, err, sizeof(err)))
		die("--faults: %s", err);

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	store_init();
	notify_start();
	if (server_start() == NULL)
		return 1;

	printf("autodebit-sandbox listening on %s\n", cfg.base_url);
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}
