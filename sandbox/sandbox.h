/*
 * sandbox.h
 *	  autodebit-sandbox: a local Antom Auto Debit acquirer for tests, demos
 *	  and benchmarks.  Shared declarations of its small modules:
 *
 *	  main.c	 flags, keys, start-up
 *	  server.c	 HTTP (libmicrohttpd): routing, answer signing, latency, faults
 *	  faults.c	 fault specs, dice and the forced-fault queue
 *	  api.c		 the eight /ams/ APIs: validation and answers
 *	  store.c	 the wallet: sessions, users, tokens, payments, refunds, ledger
 *	  consent.c	 the authorization (consent) page
 *	  superapp.c the super-app simulator's files and the mini program it plays
 *	  admin.c	 /sandbox/admin/ endpoints
 *	  notify.c	 signed notifications with Antom's re-send schedule (libcurl)
 *	  util.c	 time, ids, field validation, currencies and wallets
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Everything the command line sets. */
typedef struct SandboxConfig
{
	char		listen_host[64];
	int			port;
	EVP_PKEY   *merchant_key;	/* verifies requests */
	EVP_PKEY   *private_key;	/* signs answers and notifications */
	char	   *tls_cert;		/* PEM text, or NULL for plain HTTP */
	char	   *tls_key;
	const char *client_id;		/* only accepted Client-Id, or NULL for any */
	int			key_version;
	int			latency_ms;
	const char *faults;
	unsigned long seed;
	long		token_ttl;
	long		refresh_ttl;
	long		authcode_ttl;
	int			settle_ms;
	long		cancel_window;
	long long	default_balance;
	const char *settlement_currencies;	/* comma list the merchant settles in, or NULL */
	const char *auth_notify_url;
	double		notify_speedup;
	int			threads;
	const char *superapp_dir;	/* the simulator's files, or NULL */
	const char *mini_program_dir;	/* the mini program it plays, or NULL */
	bool		verbose;
	char		base_url[128];	/* http(s)://host:port, known once listening */
} SandboxConfig;

extern SandboxConfig cfg;

/* The kinds of injected fault. */
typedef enum FaultKind
{
	FAULT_NONE = 0,
	FAULT_LATENCY,
	FAULT_RESET,
	FAULT_HTTP500,
	FAULT_TRAFFIC,
	FAULT_UNKNOWN,
	FAULT_UNSIGNED,
	FAULT_BADSIG,
	FAULT_TRUNCATE,
	FAULT_SLOWBODY,
	FAULT_REPLAY,				/* the last signed S answer of this API, verbatim */
	FAULT_STALE,				/* a true answer, signed, with a response-time an hour old */
	FAULT_DEEP,					/* a signed answer nested 100,000 levels deep */
	FAULT_BADUTF8,				/* a signed answer whose resultMessage is not UTF-8 */
	FAULT_BADTIME,				/* a signed S answer whose times do not parse */
	FAULT_BIGNUM,				/* a signed answer holding a number no decoder can hold */
	FAULT_FOREIGNFAIL			/* carried out, answered with a signed F that names no request */
} FaultKind;

/* One fault chosen for one request. */
typedef struct Fault
{
	FaultKind	kind;
	int			ms;				/* latency or slow-body duration */
} Fault;

/* faults.c */
extern const char *fault_name(FaultKind kind);
extern bool faults_set_spec(const char *spec, char *err, size_t errlen);
extern bool faults_force(const char *kind, const char *api, int count,
						 char *err, size_t errlen);
extern void faults_clear(void);
extern Fault faults_roll(const char *api);
extern json_t *faults_describe(void);
extern bool fault_applies_request(FaultKind kind);

/* api.c: one handler per API; returns the answer body (owned by caller). */
typedef json_t *(*ApiHandler) (const char *client_id, json_t *req);
extern ApiHandler api_lookup(const char *name);
extern json_t *api_result(const char *code, const char *status, const char *message);

/* store.c: all wallet state lives behind one mutex. */
extern pthread_mutex_t store_lock;
extern json_t *store_sessions;		/* session id -> consult session */
extern json_t *store_codes;			/* authCode -> code */
extern json_t *store_tokens;		/* live or dead accessToken -> agreement */
extern json_t *store_refresh;		/* refreshToken -> agreement */
extern json_t *store_users;			/* userLoginId -> user */
extern json_t *store_payments;		/* clientId|paymentRequestId -> payment */
extern json_t *store_payment_ids;	/* paymentId -> payment */
extern json_t *store_refunds;		/* clientId|refundRequestId -> refund */
extern json_t *store_refund_ids;	/* refundId -> refund */
extern json_t *ledger_payments;		/* every payment, in order */
extern json_t *ledger_cancels;
extern json_t *ledger_refunds;
extern json_t *store_stats;

extern void store_init(void);
extern json_t *store_user(const char *login);
extern long long user_balance(json_t *user, const char *currency);
extern void user_add(json_t *user, const char *currency, long long delta);
extern void payment_settle_if_due(json_t *payment);
extern void refund_settle_if_due(json_t *refund);
extern bool payment_is_final(json_t *payment);
extern void stats_count(const char *api, const char *code);

/* consent.c */
extern int	consent_page(const char *session_id, const char *decision,
						 const char *user, bool reply_json, char **body, char **location);

/* superapp.c */
extern char *superapp_file(const char *path, size_t *len, const char **type, const char **why);

/* admin.c */
extern int	admin_handle(const char *method, const char *url, const char *body,
						 size_t len, char **out);

/* notify.c */
extern void notify_start(void);
extern void notify_payment(json_t *payment, const char *url);
extern void notify_refund(json_t *refund, const char *url);
extern void notify_auth(const char *url, const char *client_id, json_t *body);	/* adds "result" */
extern json_t *notify_describe(void);

/* util.c */
extern double now_epoch(void);
extern void iso_time(double t, bool millis, char *out, size_t outlen);
extern void random_id(const char *prefix, int hexchars, char *out, size_t outlen);
extern void payment_id(char *out, size_t outlen);
extern bool currency_known(const char *code);
extern json_t *result_object(const char *code, const char *status, const char *message);
extern bool in_comma_list(const char *list, const char *item);
extern bool wallet_known(const char *code);
extern bool loopback_url(const char *url, char *path, size_t pathlen);
extern char *read_file(const char *path, size_t *len);

/* Collects the first validation error of a request. */
typedef struct Check
{
	bool		bad;
	char		msg[256];
} Check;

extern const char *check_str(Check *chk, json_t *obj, const char *key,
							 const char *label, size_t maxlen, bool required);
extern json_t *check_obj(Check *chk, json_t *obj, const char *key,
						 const char *label, bool required);
extern bool check_amount(Check *chk, json_t *obj, const char *key,
						 const char *label, bool required,
						 const char **currency, long long *value);
extern void check_fail(Check *chk, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

#endif							/* SANDBOX_H */
