/*
 * notifyd.c
 *	  autodebit-notifyd: the HTTP endpoint Antom sends notifications to.
 *
 *	  Each POST's path, Client-Id, Request-Time, Signature and raw body go to
 *	  autodebit_handle_notification() in a transaction of their own; the
 *	  answer is sent only after that transaction committed: HTTP 200 with the
 *	  acknowledgement, or 400 when the database refused a signed body it
 *	  cannot store (it is recorded).  Anything else gets an error status, so
 *	  Antom sends again.
 *
 *	  Bodies carry live tokens and authCodes, so they never travel as SQL
 *	  text or as bind parameters (either may be logged, whatever this role
 *	  may SET): each row goes in as COPY data, which PostgreSQL never logs,
 *	  into a temporary table, and the function reads it from there.
 *
 *	  One libpq connection, re-opened whenever it is lost (a database restart
 *	  costs the notifications that arrive meanwhile a 503, nothing more).
 *	  One log line per notification, with every byte outside printable ASCII
 *	  escaped, so nothing a sender puts in a path or header forges a line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <microhttpd.h>

#define MAX_BODY	(256 * 1024)

/* Settings from flags or the config file. */
static char listen_host[64] = "127.0.0.1";
static int	listen_port = 8990;
static char *conninfo = NULL;
static char *path_prefix = "/";

static PGconn *conn = NULL;

/* A request's body as it arrives. */
typedef struct Body
{
	char	   *data;
	size_t		len;
	bool		too_big;
} Body;

/* Print a timestamped log line to stderr. */
static void
log_line(const char *fmt,...)
{
	char		ts[32];
	time_t		t = time(NULL);
	struct tm	tm;
	va_list		ap;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s autodebit-notifyd: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* s with every byte outside printable ASCII as \xHH, at most 200 bytes of it (for log lines). */
static const char *
log_safe(const char *s, char *out, size_t outlen)
{
	size_t		n = 0;

	for (size_t i = 0; s && s[i] && i < 200 && n + 5 < outlen; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[n++] = (char) c;
		else
			n += snprintf(out + n, outlen - n, "\\x%02x", c);
	}
	out[n] = '\0';
	return out;
}

/* Is a header or path value printable ASCII without spaces (what Antom sends)? */
static bool
plain_value(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 2048)
		return false;
	for (; *s; s++)
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
			return false;
	return true;
}

/* Run one statement that returns no rows; false (and a log line) if it failed. */
static bool
command(PGconn *c, const char *sql)
{
	PGresult   *res = PQexec(c, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		log_line("database error: %s", PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

/* A usable database connection, opening or re-opening it as needed; NULL if the database is down. */
static PGconn *
db(void)
{
	if (conn && PQstatus(conn) == CONNECTION_OK)
		return conn;
	if (conn)
		PQfinish(conn);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		log_line("cannot connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
		return NULL;
	}
	/* where each notification waits, as COPY data, for the function to read it */
	if (!command(conn, "CREATE TEMPORARY TABLE autodebit_inbox (path text, client_id text, "
				 "request_time text, signature text, body bytea) ON COMMIT DELETE ROWS"))
	{
		PQfinish(conn);
		conn = NULL;
		return NULL;
	}
	log_line("connected to the database");
	return conn;
}

/* Append s to a COPY text-format row (the values here are printable ASCII: only \ is special). */
static void
copy_field(char **row, size_t *len, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\\')
			(*row)[(*len)++] = '\\';
		(*row)[(*len)++] = *s;
	}
	(*row)[(*len)++] = '\t';
}

/* The notification as one COPY row: four text fields and the body as bytea hex. */
static char *
copy_row(const char *const *fields, const char *body, size_t body_len, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	size_t		cap = 16 + 2 * body_len;
	char	   *row;

	for (int i = 0; i < 4; i++)
		cap += 2 * strlen(fields[i]) + 1;
	if ((row = malloc(cap)) == NULL)
		return NULL;
	*len = 0;
	for (int i = 0; i < 4; i++)
		copy_field(&row, len, fields[i]);
	memcpy(row + *len, "\\\\x", 3);
	*len += 3;
	for (size_t i = 0; i < body_len; i++)
	{
		row[(*len)++] = hex[(unsigned char) body[i] >> 4];
		row[(*len)++] = hex[(unsigned char) body[i] & 15];
	}
	row[(*len)++] = '\n';
	return row;
}

/* Send one row to a COPY FROM STDIN that has started; true if the server took it. */
static bool
copy_in(PGconn *c, const char *row, size_t len)
{
	PGresult   *res = PQexec(c, "COPY pg_temp.autodebit_inbox FROM STDIN");
	bool		ok = PQresultStatus(res) == PGRES_COPY_IN;

	PQclear(res);
	if (!ok)
		return false;
	ok = PQputCopyData(c, row, (int) len) == 1;
	ok = PQputCopyEnd(c, ok ? NULL : "notifyd could not send the row") == 1 && ok;
	while ((res = PQgetResult(c)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			log_line("database error: %s", PQresultErrorMessage(res));
			ok = false;
		}
		PQclear(res);
	}
	return ok;
}

/* Pass one notification to the database; returns the HTTP status and the answer body. */
static unsigned int
handle(const char *path, const char *client_id, const char *rtime, const char *sig,
	   const char *body, size_t len, char **answer)
{
	const char *fields[4] = {path, client_id, rtime, sig};
	char		safe_path[1024];
	char		safe_client[1024];
	PGconn	   *c = db();
	PGresult   *res = NULL;
	unsigned int status = MHD_HTTP_SERVICE_UNAVAILABLE;
	size_t		row_len;
	char	   *row;

	*answer = NULL;
	log_safe(path, safe_path, sizeof(safe_path));
	log_safe(client_id, safe_client, sizeof(safe_client));
	if (c == NULL)
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	if ((row = copy_row(fields, body, len, &row_len)) == NULL)
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	if (command(c, "BEGIN") && copy_in(c, row, row_len))
		res = PQexec(c, "SELECT h, pg_catalog.jsonb_extract_path_text(h::pg_catalog.jsonb, 'result', 'resultStatus') "
					 "FROM pg_temp.autodebit_inbox i, "
					 "autodebit_handle_notification(i.path, i.client_id, i.request_time, i.signature, i.body) h");
	free(row);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		bool		acknowledged = strcmp(PQgetvalue(res, 0, 1), "S") == 0;

		if (command(c, "COMMIT"))
		{
			/* committed: the notification is recorded (and applied, when acknowledged) */
			*answer = strdup(PQgetvalue(res, 0, 0));
			status = acknowledged ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST;
			log_line("%s client=%s -> %u %s", safe_path, safe_client, status,
					 acknowledged ? "acknowledged" : "refused (recorded as rejected)");
		}
		else
			log_line("%s client=%s -> 503 commit failed", safe_path, safe_client);
	}
	else
	{
		const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *message = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		char		safe_message[1024];

		if (sqlstate && strcmp(sqlstate, "ZD401") == 0)
			status = MHD_HTTP_UNAUTHORIZED;
		else if (sqlstate && strncmp(sqlstate, "22", 2) == 0)
			status = MHD_HTTP_BAD_REQUEST;
		log_line("%s client=%s -> %u %s: %s", safe_path, safe_client, status,
				 sqlstate ? sqlstate : "-", log_safe(message ? message : PQerrorMessage(c),
													 safe_message, sizeof(safe_message)));
		if (PQstatus(c) == CONNECTION_OK)
			command(c, "ROLLBACK");
	}
	PQclear(res);
	if (PQstatus(c) != CONNECTION_OK)
		log_line("lost the database connection; will reconnect");
	return status;
}

/* Queue a response with a copy of text (or a short default). */
static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, char *text)
{
	static const char *const fallback = "{\"error\":\"not processed\"}";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (text == NULL)
		text = strdup(fallback);
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* libmicrohttpd access handler: collect the body, then hand the notification to the database. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
		   const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	Body	   *b = *req_cls;
	const char *client_id;
	const char *rtime;
	const char *sig;
	char	   *answer;
	unsigned int status;

	if (b == NULL)
	{
		*req_cls = calloc(1, sizeof(Body));
		return MHD_YES;
	}
	if (*upload_size > 0)
	{
		if (b->len + *upload_size > MAX_BODY)
			b->too_big = true;
		else
		{
			b->data = realloc(b->data, b->len + *upload_size + 1);
			memcpy(b->data + b->len, upload, *upload_size);
			b->len += *upload_size;
			b->data[b->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0 || strncmp(url, path_prefix, strlen(path_prefix)) != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, NULL);
	if (b->too_big)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
	client_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Client-Id");
	rtime = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Request-Time");
	sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Signature");
	if (!plain_value(url) || !plain_value(client_id) || !plain_value(rtime) || !plain_value(sig))
	{
		char		safe_path[1024];

		log_line("%s -> 400 missing or malformed path, Client-Id, Request-Time or Signature",
				 log_safe(url, safe_path, sizeof(safe_path)));
		return reply(c, MHD_HTTP_BAD_REQUEST, NULL);
	}
	status = handle(url, client_id, rtime, sig, b->data ? b->data : "", b->len, &answer);
	return reply(c, status, answer);
}

/* libmicrohttpd completion callback: free the body. */
static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Body	   *b = *req_cls;

	if (b)
	{
		free(b->data);
		free(b);
		*req_cls = NULL;
	}
}

/* Apply one setting (from a flag or a config file line); false if unknown or bad. */
static bool
set_option(const char *key, const char *value)
{
	if (strcmp(key, "listen") == 0)
	{
		const char *colon = strrchr(value, ':');

		if (colon == NULL || (size_t) (colon - value) >= sizeof(listen_host))
			return false;
		memcpy(listen_host, value, colon - value);
		listen_host[colon - value] = '\0';
		listen_port = atoi(colon + 1);
		return listen_port >= 0 && listen_port <= 65535;
	}
	if (strcmp(key, "db") == 0)
		return (conninfo = strdup(value)) != NULL;
	if (strcmp(key, "path-prefix") == 0 && value[0] == '/')
		return (path_prefix = strdup(value)) != NULL;
	return false;
}

/* Read key = value lines from a config file ('#' starts a comment). */
static bool
read_config(const char *file)
{
	FILE	   *f = fopen(file, "r");
	char		line[1024];
	int			n = 0;

	if (f == NULL)
	{
		fprintf(stderr, "autodebit-notifyd: cannot read %s: %s\n", file, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f))
	{
		char	   *key = line;
		char	   *eq;
		char	   *value;

		n++;
		line[strcspn(line, "#\r\n")] = '\0';
		while (*key == ' ' || *key == '\t')
			key++;
		if (*key == '\0')
			continue;
		if ((eq = strchr(key, '=')) == NULL)
			goto bad;
		value = eq + 1;
		while (eq > key && (eq[-1] == ' ' || eq[-1] == '\t'))
			eq--;
		*eq = '\0';
		while (*value == ' ' || *value == '\t')
			value++;
		for (char *e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t'); e--)
			e[-1] = '\0';
		if (!set_option(key, value))
			goto bad;
	}
	fclose(f);
	return true;
bad:
	fprintf(stderr, "autodebit-notifyd: %s line %d: expected listen = HOST:PORT, db = CONNINFO or path-prefix = /PATH\n",
			file, n);
	fclose(f);
	return false;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"listen", required_argument, NULL, 'l'},
		{"db", required_argument, NULL, 'd'},
		{"path-prefix", required_argument, NULL, 'p'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	struct sockaddr_in addr;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	int			opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1)
	{
		bool		ok = true;

		switch (opt)
		{
			case 'l':
				ok = set_option("listen", optarg);
				break;
			case 'd':
				ok = set_option("db", optarg);
				break;
			case 'p':
				ok = set_option("path-prefix", optarg);
				break;
			case 'c':
				ok = read_config(optarg);
				break;
			case 'h':
				printf("usage: autodebit-notifyd --db CONNINFO [--listen HOST:PORT] [--path-prefix /PATH] [--config FILE]\n"
					   "Receives Antom notifications and passes each to autodebit_handle_notification().\n");
				return 0;
			default:
				ok = false;
		}
		if (!ok)
		{
			fprintf(stderr, "autodebit-notifyd: bad option (see --help)\n");
			return 2;
		}
	}
	if (conninfo == NULL)
	{
		fprintf(stderr, "autodebit-notifyd: --db CONNINFO (or db = in --config) is required\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) listen_port);
	if (inet_pton(AF_INET, listen_host, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "autodebit-notifyd: listen host \"%s\" is not an IPv4 address\n", listen_host);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	db();						/* connect now if we can; each request retries */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
						 on_request, NULL,
						 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
						 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
						 MHD_OPTION_END);
	if (d == NULL)
	{
		fprintf(stderr, "autodebit-notifyd: cannot listen on %s:%d: %s\n", listen_host, listen_port,
				strerror(errno));
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("autodebit-notifyd listening on http://%s:%d%s\n", listen_host,
		   info ? info->port : listen_port, path_prefix);
	fflush(stdout);
	for (;;)
		pause();
}
