/*
 * notify.c
 *	  Signed notifications to the merchant (notifyPayment, notifyRefund,
 *	  notifyAuthorization), re-sent on Antom's schedule divided by
 *	  --notify-speedup until the merchant answers with the fixed
 *	  acknowledgement.  Only loopback URLs are ever contacted.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "antsig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

/* Antom's re-send schedule in seconds: 0 s, 2 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h. */
static const double schedule[] = {0, 120, 600, 600, 3600, 7200, 21600, 54000};
#define MAX_ATTEMPTS ((int) (sizeof(schedule) / sizeof(schedule[0])))

typedef enum NotifyKind
{
	NOTIFY_PAYMENT,
	NOTIFY_REFUND,
	NOTIFY_AUTH
} NotifyKind;

/* One notification and its delivery history. */
typedef struct NotifyJob
{
	NotifyKind	kind;
	char	   *url;
	char		path[512];
	char	   *client_id;
	json_t	   *record;			/* payment or refund, read when sending */
	json_t	   *body;			/* fixed body (authorization) */
	char		ref[80];		/* paymentRequestId / refundRequestId / notify type */
	int			attempts;
	double		due;
	bool		done;
	bool		acknowledged;
	char		last[160];		/* outcome of the last attempt */
} NotifyJob;

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notify_cond = PTHREAD_COND_INITIALIZER;
static NotifyJob **jobs;
static size_t njobs;
static size_t jobs_cap;

static const char *const kind_names[] = {"notifyPayment", "notifyRefund", "notifyAuthorization"};

/* Queue a notification; a non-loopback URL is recorded and never contacted. */
static void
enqueue(NotifyKind kind, const char *url, const char *client_id, json_t *record,
		json_t *body, double due)
{
	NotifyJob  *job = calloc(1, sizeof(NotifyJob));

	job->kind = kind;
	job->url = strdup(url);
	job->client_id = strdup(client_id ? client_id : "");
	job->record = record ? json_incref(record) : NULL;
	job->body = body;
	job->due = due;
	if (record)
		snprintf(job->ref, sizeof(job->ref), "%s", json_string_value(json_object_get(record,
				 kind == NOTIFY_PAYMENT ? "paymentRequestId" : "refundRequestId")));
	else
		snprintf(job->ref, sizeof(job->ref), "%s",
				 json_string_value(json_object_get(body, "authorizationNotifyType")));
	if (!loopback_url(url, job->path, sizeof(job->path)))
	{
		job->done = true;
		snprintf(job->last, sizeof(job->last), "refused: not a loopback http(s) URL");
	}
	pthread_mutex_lock(&notify_lock);
	if (njobs == jobs_cap)
	{
		jobs_cap = jobs_cap ? jobs_cap * 2 : 64;
		jobs = realloc(jobs, jobs_cap * sizeof(NotifyJob *));
	}
	jobs[njobs++] = job;
	pthread_cond_signal(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
}

/* Send notifyPayment once the payment is final (called with store_lock held). */
void
notify_payment(json_t *payment, const char *url)
{
	double		due = now_epoch();

	if (!payment_is_final(payment))
		due = json_real_value(json_object_get(payment, "settleAt"));
	enqueue(NOTIFY_PAYMENT, url, json_string_value(json_object_get(payment, "clientId")),
			payment, NULL, due);
}

/* Send notifyRefund once the refund is final (called with store_lock held). */
void
notify_refund(json_t *refund, const char *url)
{
	enqueue(NOTIFY_REFUND, url, json_string_value(json_object_get(refund, "clientId")),
			refund, NULL, json_real_value(json_object_get(refund, "settleAt")));
}

/* Send a notifyAuthorization with this body (reference taken); adds its success result. */
void
notify_auth(const char *url, const char *client_id, json_t *body)
{
	json_object_set_new(body, "result", result_object("SUCCESS", "S", "success"));
	enqueue(NOTIFY_AUTH, url, client_id, NULL, body, now_epoch());
}

/* Build the body of a payment or refund notification; NULL while not final. */
static json_t *
record_body(NotifyJob *job)
{
	json_t	   *r = job->record;
	json_t	   *body;
	const char *status;
	char		v[32];

	pthread_mutex_lock(&store_lock);
	if (job->kind == NOTIFY_PAYMENT)
	{
		payment_settle_if_due(r);
		status = json_string_value(json_object_get(r, "status"));
		if (!payment_is_final(r))
			body = NULL;
		else
		{
			bool		ok = strcmp(status, "SUCCESS") == 0;
			bool		closed = strcmp(status, "CANCELLED") == 0;

			snprintf(v, sizeof(v), "%lld", (long long) json_integer_value(json_object_get(r, "amount")));
			body = json_pack("{s:s,s:{s:s,s:s,s:s},s:O,s:O,s:{s:O,s:s},s:O}",
							 "notifyType", "PAYMENT_RESULT",
							 "result",
							 "resultCode", ok ? "SUCCESS" : closed ? "ORDER_IS_CLOSED" :
							 json_string_value(json_object_get(r, "resultCode")),
							 "resultStatus", ok ? "S" : "F",
							 "resultMessage", ok ? "success" : closed ? "the payment was cancelled" :
							 json_string_value(json_object_get(r, "resultMessage")),
							 "paymentRequestId", json_object_get(r, "paymentRequestId"),
							 "paymentId", json_object_get(r, "paymentId"),
							 "paymentAmount", "currency", json_object_get(r, "currency"), "value", v,
							 "paymentCreateTime", json_object_get(r, "paymentCreateTime"));
			if (ok)
				json_object_set(body, "paymentTime", json_object_get(r, "paymentTime"));
		}
	}
	else
	{
		refund_settle_if_due(r);
		status = json_string_value(json_object_get(r, "status"));
		if (strcmp(status, "PROCESSING") == 0)
			body = NULL;
		else
		{
			snprintf(v, sizeof(v), "%lld", (long long) json_integer_value(json_object_get(r, "amount")));
			body = json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:O,s:O,s:{s:O,s:s},s:O}",
							 "notifyType", "REFUND_RESULT",
							 "result", "resultCode", "SUCCESS", "resultStatus", "S",
							 "resultMessage", "success",
							 "refundStatus", status,
							 "refundRequestId", json_object_get(r, "refundRequestId"),
							 "refundId", json_object_get(r, "refundId"),
							 "refundAmount", "currency", json_object_get(r, "currency"), "value", v,
							 "refundTime", json_object_get(r, "refundTime"));
		}
	}
	pthread_mutex_unlock(&store_lock);
	return body;
}

/* Append received bytes to a bounded buffer. */
static size_t
collect(char *data, size_t size, size_t nmemb, void *cls)
{
	char	   *buf = cls;
	size_t		have = strlen(buf);
	size_t		n = size * nmemb;

	if (have + n < 1024)
	{
		memcpy(buf + have, data, n);
		buf[have + n] = '\0';
	}
	return n;
}

/* POST one signed notification; true when the merchant acknowledged it. */
static bool
deliver(NotifyJob *job, const char *body, char *outcome, size_t outlen)
{
	CURL	   *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char		rtime[48];
	char		sig[ANTSIG_MAX_ENCODED];
	char		sighdr[ANTSIG_MAX_HEADER];
	char		line[ANTSIG_MAX_HEADER + 64];
	char		answer[1024] = "";
	long		status = 0;
	CURLcode	rc;
	bool		acked = false;
	AntSigMessage msg = {"POST", job->path, job->client_id, rtime, body, strlen(body)};

	iso_time(now_epoch(), true, rtime, sizeof(rtime));
	antsig_sign(cfg.private_key, &msg, sig);
	antsig_format_header(sighdr, sizeof(sighdr), cfg.key_version, sig);
	headers = curl_slist_append(headers, "Content-Type: application/json; charset=UTF-8");
	snprintf(line, sizeof(line), "Client-Id: %s", job->client_id);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "Request-Time: %s", rtime);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "Signature: %s", sighdr);
	headers = curl_slist_append(headers, line);

	curl_easy_setopt(curl, CURLOPT_URL, job->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		snprintf(outcome, outlen, "transport error: %s", curl_easy_strerror(rc));
	else
	{
		json_t	   *a = json_loads(answer, 0, NULL);
		json_t	   *res = json_object_get(a, "result");
		const char *code = json_string_value(json_object_get(res, "resultCode"));
		const char *st = json_string_value(json_object_get(res, "resultStatus"));

		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		acked = status == 200 && code && st && strcmp(code, "SUCCESS") == 0 && strcmp(st, "S") == 0;
		snprintf(outcome, outlen, "HTTP %ld%s", status, acked ? ", acknowledged" : ", not acknowledged");
		json_decref(a);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return acked;
}

/* The next job due, waiting for one (notify_lock held throughout). */
static NotifyJob *
next_due(void)
{
	for (;;)
	{
		NotifyJob  *best = NULL;
		double		now = now_epoch();

		for (size_t i = 0; i < njobs; i++)
			if (!jobs[i]->done && (best == NULL || jobs[i]->due < best->due))
				best = jobs[i];
		if (best && best->due <= now)
			return best;
		if (best == NULL)
			pthread_cond_wait(&notify_cond, &notify_lock);
		else
		{
			struct timespec ts;

			ts.tv_sec = (time_t) best->due;
			ts.tv_nsec = (long) ((best->due - (double) ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&notify_cond, &notify_lock, &ts);
		}
	}
}

/* Thread: deliver due notifications and schedule re-sends. */
static void *
notify_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&notify_lock);
	for (;;)
	{
		NotifyJob  *job = next_due();
		json_t	   *body;
		char	   *text;
		char		outcome[160];
		bool		acked;

		job->due = 1e18;		/* in progress: not picked again */
		pthread_mutex_unlock(&notify_lock);

		body = job->body ? json_incref(job->body) : record_body(job);
		if (body == NULL)
		{
			/* not final yet: look again a little later */
			pthread_mutex_lock(&notify_lock);
			job->due = now_epoch() + cfg.settle_ms / 1000.0;
			continue;
		}
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		acked = deliver(job, text, outcome, sizeof(outcome));
		free(text);
		if (cfg.verbose)
			fprintf(stderr, "%s to %s: %s\n", kind_names[job->kind], job->url, outcome);

		pthread_mutex_lock(&notify_lock);
		job->attempts++;
		snprintf(job->last, sizeof(job->last), "%s", outcome);
		if (acked || job->attempts >= MAX_ATTEMPTS)
		{
			job->done = true;
			job->acknowledged = acked;
		}
		else
			job->due = now_epoch() + schedule[job->attempts] / cfg.notify_speedup;
	}
	return NULL;
}

/* Start the delivery thread. */
void
notify_start(void)
{
	pthread_t	t;

	pthread_create(&t, NULL, notify_main, NULL);
	pthread_detach(t);
}

/* Every notification and its state, for the admin endpoint. */
json_t *
notify_describe(void)
{
	json_t	   *list = json_array();

	pthread_mutex_lock(&notify_lock);
	for (size_t i = 0; i < njobs; i++)
	{
		NotifyJob  *j = jobs[i];
		json_t	   *e = json_pack("{s:s,s:s,s:i,s:b,s:b,s:s}",
								  "type", kind_names[j->kind], "url", j->url,
								  "attempts", j->attempts, "acknowledged", j->acknowledged,
								  "done", j->done, "last", j->last);

		json_object_set_new(e, j->kind == NOTIFY_PAYMENT ? "paymentRequestId" :
							j->kind == NOTIFY_REFUND ? "refundRequestId" :
							"authorizationNotifyType", json_string(j->ref));
		json_array_append_new(list, e);
	}
	pthread_mutex_unlock(&notify_lock);
	return list;
}
