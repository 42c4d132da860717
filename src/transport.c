/*
 * transport.c
 *	  HTTP POST to the acquirer with libcurl.
 *
 *	  One multi handle per backend keeps the connection cache, so calls reuse a
 *	  kept-alive TCP/TLS connection; each request is an easy handle on it.
 *	  Transfers are driven with libcurl's multi-socket API over an epoll set:
 *	  the work of a wake-up is in proportion to the sockets that are ready, not
 *	  to the thousand a batch keeps in flight.  Waits are 50 ms slices at most,
 *	  so query cancel and statement_timeout interrupt promptly; libcurl's memory
 *	  is malloc'd by libcurl and released on every path, errors included.
 */
#include "autodebit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <curl/curl.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "portability/instr_time.h"
#include "utils/wait_event.h"


/* How many requests a batch prepares (signs) and starts between two reads of the answers. */
#define PREPARE_BURST 8

/* Response bytes collected by libcurl callbacks (malloc'd, never palloc'd). */
typedef struct Collected
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		overflow;
	char	   *signature;
	char	   *response_time;
	char	   *client_id;
} Collected;

/* How many ready sockets one epoll_wait hands over. */
#define READY_EVENTS 64

static CURLM *multi = NULL;	/* holds the connection cache, kept for the backend's life */
static int	epfd = -1;			/* the sockets libcurl asks us to watch */
static bool timer_armed = false;	/* libcurl wants CURL_SOCKET_TIMEOUT at timer_due_ms */
static double timer_due_ms;

/* Milliseconds on the monotonic clock. */
static double
now_ms(void)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	return INSTR_TIME_GET_MILLISEC(now);
}

/* Is the host of url on loopback (127.0.0.0/8, localhost, ::1)? */
static bool
host_is_loopback(const char *host)
{
	struct in_addr a4;

	/* an address, not a name that merely starts like one ("127.0.0.1.example.com") */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return pg_strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
		strcmp(host, "::1") == 0;
}

/* May autodebit send to url?  https anywhere; plain http only to loopback. */
bool
transport_url_allowed(const char *url, char **why)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		ok = false;

	*why = NULL;
	if (u == NULL ||
		curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		*why = "it is not a valid absolute URL";
	else if (strcmp(scheme, "https") == 0)
		ok = true;
	else if (strcmp(scheme, "http") != 0)
		*why = "only https (or http to loopback) is allowed";
	else if (host_is_loopback(host))
		ok = true;
	else
		*why = "plain http is refused except to a loopback address";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* libcurl write callback: append to a bounded malloc'd buffer; stop past the cap. */
static size_t
collect_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Collected  *c = userdata;
	size_t		n = size * nmemb;

	if (c->len + n > c->limit)
	{
		c->overflow = true;
		return 0;				/* makes libcurl fail with CURLE_WRITE_ERROR */
	}
	if (c->len + n + 1 > c->cap)
	{
		size_t		cap = Max(c->cap * 2, c->len + n + 1);
		char	   *grown = realloc(c->data, cap);

		if (grown == NULL)
			return 0;
		c->data = grown;
		c->cap = cap;
	}
	memcpy(c->data + c->len, ptr, n);
	c->len += n;
	c->data[c->len] = '\0';
	return n;
}

/* Store a copy of a header value with surrounding blanks removed. */
static void
keep_header(char **slot, const char *value, size_t len)
{
	while (len > 0 && isspace((unsigned char) *value))
		value++, len--;
	while (len > 0 && isspace((unsigned char) value[len - 1]))
		len--;
	free(*slot);
	*slot = strndup(value, len);
}

/* libcurl header callback: keep signature, response-time and client-id. */
static size_t
collect_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
	Collected  *c = userdata;
	size_t		n = size * nitems;
	static const struct
	{
		const char *name;
		size_t		offset;
	}			wanted[] = {
		{"signature:", offsetof(Collected, signature)},
		{"response-time:", offsetof(Collected, response_time)},
		{"client-id:", offsetof(Collected, client_id)},
	};

	if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		/* a new response (after 100-continue): forget earlier headers */
		for (int i = 0; i < 3; i++)
		{
			char	  **slot = (char **) ((char *) c + wanted[i].offset);

			free(*slot);
			*slot = NULL;
		}
		return n;
	}
	for (int i = 0; i < 3; i++)
	{
		size_t		nl = strlen(wanted[i].name);

		if (n > nl && pg_strncasecmp(buffer, wanted[i].name, nl) == 0)
			keep_header((char **) ((char *) c + wanted[i].offset), buffer + nl, n - nl);
	}
	return n;
}

/* libcurl socket callback: watch (or stop watching) a socket for what the transfer waits on. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct epoll_event ev = {0};

	if (what == CURL_POLL_REMOVE)
	{
		(void) epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);	/* it may be closed already */
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
		(void) epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

/* libcurl timer callback: when to call it with CURL_SOCKET_TIMEOUT (-1: no timer). */
static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	timer_armed = timeout_ms >= 0;
	if (timer_armed)
		timer_due_ms = now_ms() + timeout_ms;
	return 0;
}

/* One transfer of a batch: its request, its libcurl objects and what came back. */
typedef struct Transfer
{
	TransportRequest *req;
	CURL	   *easy;
	struct curl_slist *headers;
	Collected	c;
	char		errbuf[CURL_ERROR_SIZE];
	instr_time	start;
	bool		started;
	bool		done;
} Transfer;

/* Release everything libcurl-side that one transfer allocated. */
static void
release(Transfer *t)
{
	if (t->easy)
	{
		curl_multi_remove_handle(multi, t->easy);
		curl_easy_cleanup(t->easy);
	}
	curl_slist_free_all(t->headers);
	free(t->c.data);
	free(t->c.signature);
	free(t->c.response_time);
	free(t->c.client_id);
	t->easy = NULL;
	t->headers = NULL;
	memset(&t->c, 0, sizeof(t->c));
}

/* A palloc'd copy of a malloc'd string (or NULL). */
static char *
pcopy(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/* Create the easy handle of a transfer and add it to the multi handle. */
static void
start_transfer(Transfer *t)
{
	TransportRequest *r = t->req;
	CURL	   *e = curl_easy_init();

	if (e == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a libcurl handle")));
	t->easy = e;
	for (int i = 0; i <= r->nheaders; i++)
	{
		/*
		 * and "Expect:" (empty): no Expect: 100-continue, whatever libcurl's version would add
		 * for a large body, so the wire does not change with it (a server that never answers
		 * 100 would cost a second a request)
		 */
		struct curl_slist *grown = curl_slist_append(t->headers,
													 i < r->nheaders ? r->headers[i] : "Expect:");

		if (grown == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		t->headers = grown;
	}
	t->c.limit = (size_t) autodebit_max_response_bytes;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) autodebit_connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) autodebit_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (autodebit_ca_file && autodebit_ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, autodebit_ca_file);
	curl_easy_setopt(e, CURLOPT_PROXY, autodebit_proxy ? autodebit_proxy : "");
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) t->c.limit);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &t->c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "autodebit/" AUTODEBIT_VERSION);
	INSTR_TIME_SET_CURRENT(t->start);
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not start a libcurl transfer")));
	t->started = true;
}

/* Move a finished transfer's outcome into its request's result (palloc'd). */
static void
finish_transfer(Transfer *t, CURLcode rc)
{
	TransportResult *result = &t->req->result;
	instr_time	elapsed;

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, t->start);
	result->elapsed_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	if (rc == CURLE_OK)
	{
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &result->http_status);
		result->ok = true;
		result->body = palloc(t->c.len + 1);
		memcpy(result->body, t->c.data ? t->c.data : "", t->c.len);
		result->body[t->c.len] = '\0';
		result->body_len = t->c.len;
		result->signature = pcopy(t->c.signature);
		result->response_time = pcopy(t->c.response_time);
		result->client_id = pcopy(t->c.client_id);
	}
	else if (t->c.overflow || rc == CURLE_FILESIZE_EXCEEDED)
		result->error = psprintf("the answer is larger than autodebit.max_response_bytes (%d)",
								 autodebit_max_response_bytes);
	else
		result->error = psprintf("%s%s%s", curl_easy_strerror(rc),
								 t->errbuf[0] ? ": " : "", t->errbuf);
	t->done = true;
	release(t);
}

/*
 * How many sockets may be open at once: each transfer in flight holds one, on top of the files
 * PostgreSQL keeps (max_safe_fds).  Raises the soft descriptor limit towards the hard one when
 * more are wanted, and never returns more than fit.
 */
static int
socket_budget(int wanted)
{
	struct rlimit rl;
	rlim_t		needed = (rlim_t) wanted + max_safe_fds + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return Min(wanted, 256);
	if (rl.rlim_cur < needed && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = Min(needed, rl.rlim_max);
		(void) setrlimit(RLIMIT_NOFILE, &rl);
		(void) getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= needed)
		return wanted;
	return (int) Max(1, (long) rl.rlim_cur - max_safe_fds - 64);
}

/*
 * POST every request, at most max_in_flight at a time and at most rps new requests a second
 * (0: no limit), over the backend's connection cache.  Fills each request's result; transport
 * trouble is a result, never an error.  Cancel and statement_timeout interrupt within 50 ms.
 */
void
transport_post_many(TransportRequest *reqs, int n, int max_in_flight, int rps)
{
	Transfer   *volatile xfers = palloc0(sizeof(Transfer) * Max(n, 1));
	const int	limit = socket_budget(Max(Min(max_in_flight, n), 1));
	char	   *why;
	double		begun_ms;

	for (int i = 0; i < n; i++)
	{
		memset(&reqs[i].result, 0, sizeof(TransportResult));
		if (!transport_url_allowed(reqs[i].url, &why))
			ereport(ERROR,
					(errcode(ERRCODE_AUTODEBIT_CONFIG),
					 errmsg("refusing to send to \"%s\"", reqs[i].url),
					 errdetail("%s.", why)));
		xfers[i].req = &reqs[i];
	}
	if (epfd < 0 && (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create an epoll set: %m")));
	if (multi == NULL)
	{
		if ((multi = curl_multi_init()) == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a libcurl multi handle")));
		curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
		curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	}
	begun_ms = now_ms();

	PG_TRY();
	{
		int			next = 0;
		int			in_flight = 0;
		int			finished = 0;

		pgstat_report_wait_start(PG_WAIT_EXTENSION);
		while (finished < n)
		{
			int			running;
			CURLMsg    *msg;
			int			left;

			/*
			 * start what the limits allow; requests signed as they start go a few at a time,
			 * so that the answers of those in flight are read between signatures
			 */
			int			started = 0;

			while (next < n && in_flight < limit &&
				   (xfers[next].req->prepare == NULL || started < PREPARE_BURST))
			{
				if (rps > 0 && (now_ms() - begun_ms) / 1000.0 * rps < next)
					break;
				if (xfers[next].req->prepare)
					xfers[next].req->prepare(xfers[next].req);
				start_transfer(&xfers[next++]);
				in_flight++;
				started++;
			}
			/* libcurl's timers (a new transfer's start among them), then the ready sockets */
			if (timer_armed && now_ms() >= timer_due_ms)
			{
				timer_armed = false;
				curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
			}
			while ((msg = curl_multi_info_read(multi, &left)) != NULL)
			{
				Transfer   *t;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
				finish_transfer(t, msg->data.result);
				in_flight--;
				finished++;
			}
			if (finished < n)
			{
				struct epoll_event ready[READY_EVENTS];
				int			wait_ms = 50;
				int			nready;

				if (timer_armed)
				{
					double		remaining = timer_due_ms - now_ms();

					wait_ms = remaining <= 0 ? 0 : (int) Min(remaining + 1, 50.0);
				}
				nready = epoll_wait(epfd, ready, READY_EVENTS, wait_ms);
				for (int k = 0; k < nready; k++)
				{
					int			flags = 0;

					if (ready[k].events & EPOLLIN)
						flags |= CURL_CSELECT_IN;
					if (ready[k].events & EPOLLOUT)
						flags |= CURL_CSELECT_OUT;
					if (ready[k].events & (EPOLLERR | EPOLLHUP))
						flags |= CURL_CSELECT_ERR;
					curl_multi_socket_action(multi, ready[k].data.fd, flags, &running);
				}
			}
			CHECK_FOR_INTERRUPTS();		/* cancel / statement_timeout: PG_CATCH cleans up */
		}
		pgstat_report_wait_end();
	}
	PG_CATCH();
	{
		pgstat_report_wait_end();
		for (int i = 0; i < n; i++)
			if (xfers[i].started && !xfers[i].done)
				release(&xfers[i]);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pfree(xfers);
}

/* POST one request; see transport_post_many. */
void
transport_post(const char *url, const char *const *headers, int nheaders,
			   const char *body, size_t body_len, TransportResult *result)
{
	TransportRequest req;

	req.url = url;
	req.headers = headers;
	req.nheaders = nheaders;
	req.body = body;
	req.body_len = body_len;
	transport_post_many(&req, 1, 1, 0);
	*result = req.result;
}

PG_FUNCTION_INFO_V1(autodebit_check_url);

/* SQL: autodebit._check_url(url): raise unless autodebit may send to url. */
Datum
autodebit_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *why;

	if (!transport_url_allowed(url, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gateway_url \"%s\" is not allowed", url),
				 errdetail("%s.", why),
				 errhint("Use https://host[:port], or http://127.0.0.1:PORT for the local sandbox.")));
	PG_RETURN_VOID();
}
