/*
 * notifyd.c
 *	  autodebit-notifyd: the HTTP endpoint Antom sends notifications to.
 *
 *	  Each POST's path, Client-Id, Request-Time, Signature and raw body go to
 *	  autodebit_handle_notification() in a transaction of their own; the
 *	  acknowledgement is answered (HTTP 200) only after that transaction
 *	  committed.  Anything else gets an error status, so Antom sends again.
 *	  One libpq connection, re-opened whenever it is lost (a database restart
 *	  costs the notifications that arrive meanwhile a 503, nothing more).
 *	  One log line per notification.
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

/* A usable database connection, opening or re-opening it as needed; NULL if the database is down. */
static PGconn *
db(void)
{
	PGresult   *res;

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
	/* notification bodies may carry tokens: keep bind parameters out of the server log */
	res = PQexec(conn, "SET log_parameter_max_length = 0; SET log_parameter_max_length_on_error = 0");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_line("warning: could not turn off parameter logging (%s); set it for this role: "
				 "ALTER ROLE ... SET log_parameter_max_length = 0", PQresultErrorMessage(res));
	PQclear(res);
	log_line("connected to the database");
	return conn;
}

/* Pass one notification to the database; returns the HTTP status and the answer body. */
static unsigned int
handle(const char *path, const char *client_id, const char *rtime, const char *sig,
	   const char *body, size_t len, char **answer)
{
	const char *params[5] = {path, client_id, rtime, sig, body};
	int			lengths[5] = {0, 0, 0, 0, (int) len};
	PGconn	   *c = db();
	PGresult   *res;
	unsigned int status;

	*answer = NULL;
	if (c == NULL)
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	res = PQexecParams(c, "SELECT autodebit_handle_notification($1, $2, $3, $4, $5)",
					   5, NULL, params, lengths, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		/* autocommit: the statement's transaction has committed when the result is here */
		*answer = strdup(PQgetvalue(res, 0, 0));
		status = MHD_HTTP_OK;
		log_line("%s client=%s -> 200 acknowledged", path, client_id);
	}
	else
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		if (sqlstate && strcmp(sqlstate, "ZD401") == 0)
			status = MHD_HTTP_UNAUTHORIZED;
		else if (sqlstate && (strcmp(sqlstate, "ZD002") == 0 || strncmp(sqlstate, "22", 2) == 0))
			status = MHD_HTTP_BAD_REQUEST;
		else
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
		log_line("%s client=%s -> %u %s: %s", path, client_id, status,
				 sqlstate ? sqlstate : "-", message ? message : PQerrorMessage(c));
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
	if (client_id == NULL || rtime == NULL || sig == NULL)
	{
		log_line("%s -> 400 missing Client-Id, Request-Time or Signature", url);
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
