/*
 * server.c
 *	  HTTP with libmicrohttpd: read each request, route it (/ams/ APIs, the
 *	  consent page, admin), sign /ams/ answers, and carry out latency and
 *	  faults.  Delayed answers suspend their connection and a timer thread
 *	  resumes it, so a thousand slow answers need no thousand threads.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "antsig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define MAX_BODY	(1024 * 1024)

/* Per-request state, from the first header to the completed answer. */
typedef struct Request
{
	char	   *body;
	size_t		len;
	size_t		cap;
	bool		too_big;
	bool		waiting;		/* suspended until its latency passes */
	bool		close_instead;	/* "reset" fault: close rather than answer */
	struct MHD_Response *response;	/* answer prepared before suspending */
	unsigned int status;
} Request;

/* A body sent in a damaged way (truncate, slowbody). */
typedef struct SlowBody
{
	char	   *data;
	size_t		len;
	size_t		stop_at;		/* truncate: bytes sent before the connection closes */
	int			pause_us;		/* slowbody: pause before each chunk */
	size_t		chunk;
} SlowBody;

/* ---- the timer that resumes suspended connections (a binary min-heap) ---- */

typedef struct Timer
{
	double		due;
	struct MHD_Connection *conn;
} Timer;

static pthread_mutex_t timer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timer_cond = PTHREAD_COND_INITIALIZER;
static Timer *timers;
static size_t ntimers;
static size_t timers_cap;

/* Add a connection to resume at time due. */
static void
timer_add(double due, struct MHD_Connection *conn)
{
	size_t		i;

	pthread_mutex_lock(&timer_lock);
	if (ntimers == timers_cap)
	{
		timers_cap = timers_cap ? timers_cap * 2 : 1024;
		timers = realloc(timers, timers_cap * sizeof(Timer));
	}
	i = ntimers++;
	while (i > 0 && timers[(i - 1) / 2].due > due)
	{
		timers[i] = timers[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	timers[i].due = due;
	timers[i].conn = conn;
	pthread_cond_signal(&timer_cond);
	pthread_mutex_unlock(&timer_lock);
}

/* Remove the earliest timer (timer_lock held, heap not empty). */
static Timer
timer_pop(void)
{
	Timer		top = timers[0];
	Timer		last = timers[--ntimers];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= ntimers)
			break;
		if (c + 1 < ntimers && timers[c + 1].due < timers[c].due)
			c++;
		if (timers[c].due >= last.due)
			break;
		timers[i] = timers[c];
		i = c;
	}
	if (ntimers > 0)
		timers[i] = last;
	return top;
}

/* Thread: resume each suspended connection when its time comes. */
static void *
timer_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&timer_lock);
	for (;;)
	{
		double		now;

		while (ntimers == 0)
			pthread_cond_wait(&timer_cond, &timer_lock);
		now = now_epoch();
		if (timers[0].due > now)
		{
			struct timespec ts;
			double		due = timers[0].due;

			ts.tv_sec = (time_t) due;
			ts.tv_nsec = (long) ((due - (double) ts.tv_sec) * 1e9);
			/* gettimeofday and CLOCK_REALTIME share a clock */
			pthread_cond_timedwait(&timer_cond, &timer_lock, &ts);
			continue;
		}
		{
			Timer		t = timer_pop();

			pthread_mutex_unlock(&timer_lock);
			MHD_resume_connection(t.conn);
			pthread_mutex_lock(&timer_lock);
		}
	}
	return NULL;
}

/* ---- answers ---- */

/* Reader for damaged bodies: stops half way (truncate) or dribbles (slowbody). */
static ssize_t
slow_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	SlowBody   *sb = cls;
	size_t		n;

	if (pos >= sb->stop_at)
		return pos >= sb->len ? MHD_CONTENT_READER_END_OF_STREAM :
			MHD_CONTENT_READER_END_WITH_ERROR;
	if (sb->pause_us > 0)
		usleep(sb->pause_us);
	n = sb->stop_at - pos;
	if (n > max)
		n = max;
	if (n > sb->chunk)
		n = sb->chunk;
	memcpy(buf, sb->data + pos, n);
	return (ssize_t) n;
}

/* Free a damaged body. */
static void
slow_free(void *cls)
{
	SlowBody   *sb = cls;

	free(sb->data);
	free(sb);
}

/* Queue (or, when delayed, park) a response; frees the response reference. */
static enum MHD_Result
send_response(struct MHD_Connection *conn, Request *rq, unsigned int status,
			  struct MHD_Response *resp, int delay_ms, bool close_instead)
{
	enum MHD_Result ret;

	if (delay_ms > 0)
	{
		rq->response = resp;
		rq->status = status;
		rq->close_instead = close_instead;
		rq->waiting = true;
		MHD_suspend_connection(conn);
		timer_add(now_epoch() + delay_ms / 1000.0, conn);
		return MHD_YES;
	}
	if (close_instead)
	{
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A plain answer from a malloc'd buffer (taken over). */
static enum MHD_Result
send_plain(struct MHD_Connection *conn, Request *rq, unsigned int status,
		   const char *content_type, char *body, const char *location)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);

	MHD_add_response_header(resp, "Content-Type", content_type);
	if (location)
		MHD_add_response_header(resp, "Location", location);
	return send_response(conn, rq, status, resp, 0, false);
}

/* The last genuine S answer of each API path, for the replay fault. */
typedef struct ReplaySlot
{
	char		path[96];
	char	   *body;
	char		rtime[48];
	char		header[ANTSIG_MAX_HEADER];
} ReplaySlot;

static ReplaySlot replay_slots[16];
static pthread_mutex_t replay_lock = PTHREAD_MUTEX_INITIALIZER;

/* Remember a genuine signed S answer of an API path. */
static void
replay_keep(const char *path, const char *body, const char *rtime, const char *header)
{
	pthread_mutex_lock(&replay_lock);
	for (int i = 0; i < 16; i++)
	{
		ReplaySlot *s = &replay_slots[i];

		if (s->path[0] == '\0' || strcmp(s->path, path) == 0)
		{
			snprintf(s->path, sizeof(s->path), "%s", path);
			free(s->body);
			s->body = strdup(body);
			snprintf(s->rtime, sizeof(s->rtime), "%s", rtime);
			snprintf(s->header, sizeof(s->header), "%s", header);
			break;
		}
	}
	pthread_mutex_unlock(&replay_lock);
}

/* The remembered answer of an API path (malloc'd), its time and signature header; a fresh
 * generic error when there is none. */
static char *
replay_take(const char *path, char *rtime, size_t rtlen, char *header, size_t hlen)
{
	char	   *body = NULL;

	pthread_mutex_lock(&replay_lock);
	for (int i = 0; i < 16 && replay_slots[i].path[0]; i++)
		if (strcmp(replay_slots[i].path, path) == 0)
		{
			body = strdup(replay_slots[i].body);
			snprintf(rtime, rtlen, "%s", replay_slots[i].rtime);
			snprintf(header, hlen, "%s", replay_slots[i].header);
		}
	pthread_mutex_unlock(&replay_lock);
	return body ? body : strdup("{\"result\":{\"resultCode\":\"NO_REPLAY\",\"resultStatus\":\"U\","
								"\"resultMessage\":\"nothing to replay yet\"}}");
}

/* The body of an answer as sent: the JSON, or for the hostile faults a signed body no
 * careful client may act on (malloc'd). */
static char *
hostile_body(json_t *answer, FaultKind kind)
{
	if (kind == FAULT_DEEP)
	{
		int			depth = 100000;
		char	   *b = malloc(depth * 2 + 64);
		char	   *p = b;

		p += sprintf(p, "{\"result\":{\"resultCode\":\"SUCCESS\",\"resultStatus\":\"S\"},\"x\":");
		memset(p, '[', depth);
		p += depth;
		memset(p, ']', depth);
		p += depth;
		strcpy(p, "}");
		return b;
	}
	if (kind == FAULT_BIGNUM)
		return strdup("{\"result\":{\"resultCode\":\"SUCCESS\",\"resultStatus\":\"S\"},\"n\":1e1000000}");
	if (kind == FAULT_BADUTF8)
		json_object_set_new(json_object_get(answer, "result"), "resultMessage", json_string("@@BADUTF8@@"));
	if (kind == FAULT_BADTIME)
	{
		static const char *const times[] = {"paymentTime", "refundTime", "cancelTime", "paymentCreateTime", NULL};

		for (int i = 0; times[i]; i++)
			if (json_object_get(answer, times[i]))
				json_object_set_new(answer, times[i], json_string("the 32nd of Smarch"));
	}
	{
		char	   *b = json_dumps(answer, JSON_COMPACT);
		char	   *at;

		if (kind == FAULT_BADUTF8 && (at = strstr(b, "@@BADUTF8@@")) != NULL)
			memcpy(at, "\xff\xfe\xc3(bad!!\x80\x80", 11);	/* same length: 11 bytes */
		return b;
	}
}

/* Build, sign and send the answer to an /ams/ request, honouring its fault. */
static enum MHD_Result
send_ams_answer(struct MHD_Connection *conn, Request *rq, const char *path,
				const char *client_id, json_t *answer, Fault fault)
{
	char	   *body = hostile_body(answer, fault.kind);
	size_t		len = strlen(body);
	char		rtime[48];
	char		sig[ANTSIG_MAX_ENCODED];
	char		header[ANTSIG_MAX_HEADER];
	struct MHD_Response *resp;
	AntSigMessage msg = {"POST", path, client_id, rtime, body, len};
	int			delay = cfg.latency_ms;
	bool		is_success = strcmp(json_string_value(json_object_get(json_object_get(answer, "result"),
																	"resultStatus")) ?: "", "S") == 0;

	iso_time(now_epoch() - (fault.kind == FAULT_STALE ? 3600 : 0), true, rtime, sizeof(rtime));
	if (fault.kind == FAULT_BADSIG)
		msg.time = "1970-01-01T08:00:00.000+08:00";	/* a signature over other content */
	if (fault.kind != FAULT_UNSIGNED &&
		(!antsig_sign(cfg.private_key, &msg, sig) ||
		 !antsig_format_header(header, sizeof(header), cfg.key_version, sig)))
	{
		fprintf(stderr, "autodebit-sandbox: signing failed\n");
		free(body);
		return MHD_NO;
	}
	if (fault.kind == FAULT_REPLAY)
	{
		/* an attacker's copy of an earlier genuine answer: body, time and signature */
		free(body);
		body = replay_take(path, rtime, sizeof(rtime), header, sizeof(header));
		len = strlen(body);
	}
	else if (fault.kind == FAULT_NONE && is_success)
		replay_keep(path, body, rtime, header);

	if (fault.kind == FAULT_TRUNCATE || fault.kind == FAULT_SLOWBODY)
	{
		SlowBody   *sb = calloc(1, sizeof(SlowBody));

		sb->data = body;
		sb->len = len;
		sb->stop_at = fault.kind == FAULT_TRUNCATE ? len / 2 : len;
		sb->chunk = fault.kind == FAULT_TRUNCATE ? len : (len + 9) / 10;
		sb->pause_us = fault.kind == FAULT_SLOWBODY ? fault.ms * 100 : 0;
		resp = MHD_create_response_from_callback(len, 4096, slow_reader, sb, slow_free);
	}
	else
		resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
	MHD_add_response_header(resp, "client-id", client_id);
	MHD_add_response_header(resp, "response-time", rtime);
	if (fault.kind != FAULT_UNSIGNED)
		MHD_add_response_header(resp, "signature", header);
	if (fault.kind == FAULT_LATENCY)
		delay += fault.ms;
	return send_response(conn, rq, MHD_HTTP_OK, resp, delay, fault.kind == FAULT_RESET);
}

/* The short API name ("pay") of an /ams/ API path ("payments/pay"). */
static const char *
api_short_name(const char *api_path)
{
	const char *slash = strrchr(api_path, '/');

	return slash ? slash + 1 : api_path;
}

/* Serve one /ams/ API request: check headers and signature, roll faults, run the API. */
static enum MHD_Result
serve_ams(struct MHD_Connection *conn, const char *url, const char *method, Request *rq)
{
	const char *api_path = NULL;
	const char *client_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Client-Id");
	const char *rtime = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Request-Time");
	const char *sighdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Signature");
	const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	char		sig[ANTSIG_MAX_ENCODED];
	ApiHandler	handler = NULL;
	json_t	   *answer;
	Fault		fault = {FAULT_NONE, 0};
	const char *api;
	enum MHD_Result ret;

	if (strncmp(url, "/ams/api/v1/", 12) == 0)
		api_path = url + 12;
	else if (strncmp(url, "/ams/sandbox/api/v1/", 20) == 0)
		api_path = url + 20;
	if (api_path)
		handler = api_lookup(api_path);
	api = api_path ? api_short_name(api_path) : "unknown";
	if (client_id == NULL)
		client_id = "";

	if (strcmp(method, "POST") != 0)
		answer = api_result("METHOD_NOT_SUPPORTED", "F", "only POST is supported");
	else if (handler == NULL)
		answer = api_result("NO_INTERFACE_DEF", "F", "no such API");
	else if (client_id[0] == '\0' || (cfg.client_id && strcmp(cfg.client_id, client_id) != 0))
		answer = api_result("INVALID_CLIENT", "F", "the Client-Id header is missing or unknown");
	else if (rtime == NULL || rtime[0] == '\0')
		answer = api_result("PARAM_ILLEGAL", "F", "the Request-Time header is required");
	else if (sighdr == NULL || !antsig_parse_header(sighdr, sig, sizeof(sig)) ||
			 !antsig_verify(cfg.merchant_key,
							&(AntSigMessage)
							{
							"POST", url, client_id, rtime, rq->body ? rq->body : "", rq->len
							}, sig))
		answer = api_result("INVALID_SIGNATURE", "F", "the request signature is missing or does not verify");
	else if (ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0)
		answer = api_result("MEDIA_TYPE_NOT_ACCEPTABLE", "F", "Content-Type must be application/json");
	else
	{
		json_error_t jerr;
		json_t	   *req;

		fault = faults_roll(api);
		if (fault.kind != FAULT_NONE)
		{
			/* every injected fault, by kind, for tests that report how many they met */
			pthread_mutex_lock(&store_lock);
			stats_count("faults", fault_name(fault.kind));
			pthread_mutex_unlock(&store_lock);
		}
		if (fault.kind == FAULT_HTTP500)
		{
			pthread_mutex_lock(&store_lock);
			stats_count(api, "HTTP_500");
			pthread_mutex_unlock(&store_lock);
			return send_plain(conn, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
							  strdup("internal server error (sandbox fault)\n"), NULL);
		}
		if (fault.kind == FAULT_TRAFFIC)
			answer = api_result("REQUEST_TRAFFIC_EXCEED_LIMIT", "U", "too many requests, retry later");
		else if ((req = json_loadb(rq->body ? rq->body : "", rq->len, 0, &jerr)) == NULL ||
				 !json_is_object(req))
		{
			answer = api_result("PARAM_ILLEGAL", "F", "the body is not a JSON object");
			json_decref(req);
		}
		else
		{
			answer = handler(client_id, req);
			json_decref(req);
			if (fault.kind == FAULT_UNKNOWN)
			{
				json_decref(answer);
				answer = api_result("UNKNOWN_EXCEPTION", "U", "unknown exception, retry the same request");
			}
			else if (fault.kind == FAULT_FOREIGNFAIL)
			{
				/* the kind of signed decline an attacker could have recorded elsewhere */
				json_decref(answer);
				answer = api_result("USER_BALANCE_NOT_ENOUGH", "F", "the user's balance is not enough");
			}
		}
	}

	{
		const char *code = json_string_value(json_object_get(json_object_get(answer, "result"),
															 "resultCode"));

		pthread_mutex_lock(&store_lock);
		stats_count(api, code);
		pthread_mutex_unlock(&store_lock);
		if (cfg.verbose)
			fprintf(stderr, "%s %s client=%s result=%s fault=%d\n", method, url, client_id,
					code, (int) fault.kind);
	}
	ret = send_ams_answer(conn, rq, url, client_id, answer, fault);
	json_decref(answer);
	return ret;
}

/* Serve the consent page. */
static enum MHD_Result
serve_consent(struct MHD_Connection *conn, Request *rq)
{
	char	   *body = NULL;
	char	   *location = NULL;
	const char *reply;
	bool		json;
	int			status;
	enum MHD_Result ret;

	pthread_mutex_lock(&store_lock);
	reply = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "reply");
	json = reply != NULL && strcmp(reply, "json") == 0;
	status = consent_page(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "session"),
						  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "decision"),
						  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "user"),
						  json, &body, &location);
	pthread_mutex_unlock(&store_lock);
	ret = send_plain(conn, rq, status,
					 json && status == 200 && body[0] == '{' ? "application/json" : "text/html; charset=UTF-8",
					 body, location);
	free(location);
	return ret;
}

/* Serve a file of the super-app simulator or of the mini program it plays. */
static enum MHD_Result
serve_superapp(struct MHD_Connection *conn, Request *rq, const char *rest)
{
	const char *type = NULL;
	const char *why = NULL;
	size_t		len = 0;
	char	   *body;
	struct MHD_Response *resp;

	if (rest[0] == '\0')
	{
		/* /sandbox/superapp: the directory, so relative links resolve */
		return send_plain(conn, rq, MHD_HTTP_FOUND, "text/plain", strdup("see /sandbox/superapp/\n"),
						  "/sandbox/superapp/");
	}
	body = superapp_file(rest, &len, &type, &why);
	if (body == NULL)
		return send_plain(conn, rq, MHD_HTTP_NOT_FOUND, "text/plain", strdup(why), NULL);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return send_response(conn, rq, MHD_HTTP_OK, resp, 0, false);
}

/*
 * The path of a request target.  Official SDKs (the Python one) send the absolute form, "POST
 * https://host:port/ams/api/v1/payments/pay HTTP/1.1" (RFC 9112 section 3.2.2), as real gateways
 * accept; the path is what was signed and what is routed.
 */
static const char *
target_path(const char *url)
{
	const char *rest;

	if (strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		return url;				/* origin form: the path already */
	rest = strchr(rest, '/');
	return rest ? rest : "/";
}

/* libmicrohttpd access handler: collect the body, then route the request. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
		   const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	Request    *rq = *req_cls;

	(void) cls;
	(void) version;
	url = target_path(url);
	if (rq == NULL)
	{
		/* what a client library adds on its own is counted, for the extension's wire test */
		if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect") != NULL)
		{
			pthread_mutex_lock(&store_lock);
			stats_count("requests", "with_expect_header");
			pthread_mutex_unlock(&store_lock);
		}
		*req_cls = calloc(1, sizeof(Request));
		return MHD_YES;
	}
	if (*upload_size > 0)
	{
		if (rq->len + *upload_size > MAX_BODY)
			rq->too_big = true;
		else
		{
			if (rq->len + *upload_size + 1 > rq->cap)
			{
				rq->cap = (rq->len + *upload_size + 1) * 2;
				rq->body = realloc(rq->body, rq->cap);
			}
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->body[rq->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->waiting)
	{
		/* resumed after its latency: answer (or drop) what was prepared */
		struct MHD_Response *resp = rq->response;

		rq->waiting = false;
		rq->response = NULL;
		return send_response(conn, rq, rq->status, resp, 0, rq->close_instead);
	}
	if (rq->too_big)
		return send_plain(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain",
						  strdup("request body too large\n"), NULL);
	if (strncmp(url, "/ams/", 5) == 0)
		return serve_ams(conn, url, method, rq);
	if (strcmp(url, "/sandbox/authorize") == 0 && strcmp(method, "GET") == 0)
		return serve_consent(conn, rq);
	if (strncmp(url, "/sandbox/superapp", 17) == 0 && strcmp(method, "GET") == 0)
		return serve_superapp(conn, rq, url + 17);
	if (strncmp(url, "/sandbox/admin/", 15) == 0)
	{
		char	   *out = NULL;
		int			status = admin_handle(method, url, rq->body ? rq->body : "", rq->len, &out);

		return send_plain(conn, rq, status, "application/json", out, NULL);
	}
	return send_plain(conn, rq, MHD_HTTP_NOT_FOUND, "text/plain", strdup("not found\n"), NULL);
}

/* libmicrohttpd completion callback: free the request state. */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Request    *rq = *req_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (rq == NULL)
		return;
	if (rq->response)
		MHD_destroy_response(rq->response);
	free(rq->body);
	free(rq);
	*req_cls = NULL;
}

/* Start listening; returns the daemon or NULL (with a message on stderr). */
struct MHD_Daemon *
server_start(void)
{
	struct sockaddr_in addr;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	pthread_t	timer_thread;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
		MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) cfg.port);
	if (inet_pton(AF_INET, strcmp(cfg.listen_host, "localhost") == 0 ? "127.0.0.1" :
				  cfg.listen_host, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "autodebit-sandbox: --listen host \"%s\" is not an IPv4 address\n",
				cfg.listen_host);
		return NULL;
	}
	if (cfg.tls_cert)
		flags |= MHD_USE_TLS;

	pthread_create(&timer_thread, NULL, timer_main, NULL);
	pthread_detach(timer_thread);

	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
						 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
						 MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) cfg.threads,
						 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 20000,
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 120,
						 MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 4096,
						 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
						 cfg.tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cfg.tls_cert,
						 MHD_OPTION_HTTPS_MEM_KEY, cfg.tls_key,
						 MHD_OPTION_END);
	if (d == NULL)
	{
		fprintf(stderr, "autodebit-sandbox: cannot listen on %s:%d: %s\n",
				cfg.listen_host, cfg.port, strerror(errno));
		return NULL;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info)
		cfg.port = info->port;
	snprintf(cfg.base_url, sizeof(cfg.base_url), "%s://%s:%d",
			 cfg.tls_cert ? "https" : "http", cfg.listen_host, cfg.port);
	return d;
}
