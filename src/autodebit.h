/*
 * autodebit.h
 *	  Shared declarations of the autodebit extension's C core:
 *
 *	  autodebit.c  module start-up and settings (GUCs)
 *	  keys.c	   merchant private key and acquirer public keys, cached per backend
 *	  transport.c  libcurl: one reused connection cache per backend, timeouts, cancel
 *	  exchange.c   sign -> send -> verify -> classify: the SQL-callable primitive
 *	  answer.c	   whether a verified answer may be believed: parsable, ours, fresh
 *	  vault.c	   AES-256-GCM sealing of tokens at rest; random ids
 *	  journal.c	   the send journal: sealed records in WAL that survive a rollback, and their reader
 *	  caller.c	   the role that called in, for the tenancy checks
 *	  json.c	   reading an outsider's JSON without raising
 */
#ifndef AUTODEBIT_H
#define AUTODEBIT_H

#include "postgres.h"

#include <openssl/evp.h>

/* SQLSTATEs of our own, class "ZD" (listed in the README). */
#define ERRCODE_AUTODEBIT_CONFIG		MAKE_SQLSTATE('Z','D','0','0','1')	/* keys, merchant set-up */

/* Settings (autodebit.c). */
extern char *autodebit_key_directory;
extern char *autodebit_ca_file;
extern char *autodebit_proxy;
extern int	autodebit_connect_timeout_ms;
extern int	autodebit_timeout_ms;
extern int	autodebit_max_response_bytes;
extern int	autodebit_data_key_version;
extern bool autodebit_journal_enabled;
extern int	autodebit_response_max_age_s;

/* keys.c */
extern char *key_path(const char *file_name);
extern EVP_PKEY *keys_private(const char *file_name);
extern EVP_PKEY *keys_acquirer(const char *key_text);
struct stat;
extern char *keys_read_file(const char *path, const struct stat *st, size_t *len);
extern const unsigned char *keys_data_key(int version);
extern const unsigned char *keys_data_key_if_present(int version);

/* transport.c: one HTTP POST; the response body and the headers we need. */
typedef struct TransportResult
{
	bool		ok;				/* a complete HTTP response arrived */
	long		http_status;
	char	   *body;			/* palloc'd, NUL-terminated */
	size_t		body_len;
	char	   *signature;		/* "signature" header, or NULL */
	char	   *response_time;	/* "response-time" header, or NULL */
	char	   *client_id;		/* "client-id" header, or NULL */
	char	   *error;			/* why not ok, for the exchange log */
	double		elapsed_ms;
} TransportResult;

/*
 * One request of a batch, and its result once sent.  With prepare set, the headers and body are
 * made by prepare(req) just before the request starts (a batch signs each request as it goes
 * out, so the signing of one overlaps the round trips of the others); url is known before.
 */
typedef struct TransportRequest
{
	const char *url;
	const char *const *headers;
	int			nheaders;
	const char *body;
	size_t		body_len;
	void		(*prepare) (struct TransportRequest *req);
	void	   *prepare_arg;
	TransportResult result;
} TransportRequest;

extern void transport_post(const char *url, const char *const *headers, int nheaders,
						   const char *body, size_t body_len, TransportResult *result);
extern void transport_post_many(TransportRequest *reqs, int n, int max_in_flight, int rps);
extern bool transport_url_allowed(const char *url, char **why);

/* vault.c */
extern bytea *vault_seal(const char *plain, size_t len, const char *aad);
extern char *vault_open(bytea *sealed, const char *aad, size_t *len);
extern bytea *vault_fingerprint(const char *plain, size_t len);
extern Datum vault_fingerprints(const char *plain, size_t len);

/* journal.c */
/* One outgoing money request, as the journal records it. */
typedef struct JournalEntry
{
	const char *client_id;
	const char *api;
	const char *request_id;
	const char *body;			/* the stored template: no secret */
	const char *meta;			/* JSON object text, or NULL */
} JournalEntry;

extern void journal_append(const JournalEntry *entries, int n);

/* json.c: reading JSON without raising on what an outsider sent */
struct JsonbContainer;
extern bool json_valid(char *text, size_t len);
extern int	json_check(char *text, size_t len);
extern char *jb_string(struct JsonbContainer *c, const char *key);
extern struct JsonbContainer *jb_object(struct JsonbContainer *c, const char *key);

/* answer.c: may a verified answer be believed?  NULL if so, else why not */
extern const char *answer_unparsable(char *body, size_t len);
extern const char *notification_unreadable(char *body, size_t len);
extern const char *answer_unbelievable(struct JsonbContainer *answer, const char *status,
									   const char *code, const char *request_id_key,
									   bool decline_names_request, const char *request_id,
									   const char *response_time);
extern bool parse_time(const char *str, int64 *result);

#endif							/* AUTODEBIT_H */
