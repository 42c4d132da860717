/*
 * presign.c
 *	  Write N signed Auto Debit pay requests to a file, one a line, for the
 *	  sandbox load test (bench/pay.lua reads them):
 *
 *		<Request-Time> TAB <Signature header value> TAB <body> LF
 *
 *	  Every request has its own paymentRequestId (PREFIX-0000001, ...), pays
 *	  "100" USD with the given wallet and access token, and is signed with
 *	  common/antsig.c over "POST <path>\n<client id>.<time>.<body>".  All lines
 *	  share one Request-Time (the sandbox does not check clock skew), so the
 *	  file can be made well before it is sent.  Signing is spread over -j
 *	  threads; the output order does not depend on it.
 *
 *	  Usage: presign [-j JOBS] KEYFILE CLIENT_ID PATH TOKEN WALLET N PREFIX OUTFILE
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "antsig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Room for one line: time, header and a body with a token of up to 1 KiB. */
#define LINE_MAX_LEN	(64 + ANTSIG_MAX_HEADER + 4096)

/* What every signing thread shares. */
typedef struct Job
{
	EVP_PKEY   *key;
	const char *client_id;
	const char *path;
	const char *token;			/* JSON-escaped */
	const char *wallet;			/* JSON-escaped */
	const char *prefix;			/* JSON-escaped */
	const char *time;
	long		first;			/* this thread's requests: [first, last) */
	long		last;
	char	   *out;			/* their lines, back to back */
	size_t		outlen;
	int			failed;
} Job;

/* Print a message and exit with status 2. */
static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "presign: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

/* Read a whole file into a fresh NUL-terminated buffer. */
static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;
	size_t		got;

	if (f == NULL)
		die("cannot open %s", path);
	do
	{
		if (n + 4096 + 1 > cap)
		{
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("out of memory reading %s", path);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	if (ferror(f))
		die("cannot read %s", path);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* A copy of s escaped for a JSON string; rejects tabs and line breaks. */
static char *
json_escape(const char *s, const char *what)
{
	char	   *out = malloc(strlen(s) * 6 + 1);
	char	   *o = out;

	if (out == NULL)
		die("out of memory%s", "");
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\t' || *p == '\n' || *p == '\r')
			die("%s must not hold tabs or line breaks", what);
		if (*p == '"' || *p == '\\')
		{
			*o++ = '\\';
			*o++ = (char) *p;
		}
		else if (*p < 0x20)
			o += sprintf(o, "\\u%04x", *p);
		else
			*o++ = (char) *p;
	}
	*o = '\0';
	return out;
}

/* Write the body of request number i into buf; returns its length or -1. */
static int
pay_body(const Job *job, long i, char *buf, size_t buflen)
{
	int			n = snprintf(buf, buflen,
							 "{\"productCode\":\"AGREEMENT_PAYMENT\","
							 "\"paymentRequestId\":\"%s-%07ld\","
							 "\"paymentAmount\":{\"currency\":\"USD\",\"value\":\"100\"},"
							 "\"paymentMethod\":{\"paymentMethodType\":\"%s\",\"paymentMethodId\":\"%s\"},"
							 "\"order\":{\"referenceOrderId\":\"order-%s-%07ld\","
							 "\"orderDescription\":\"sandbox load test\","
							 "\"orderAmount\":{\"currency\":\"USD\",\"value\":\"100\"}},"
							 "\"env\":{\"terminalType\":\"WEB\"}}",
							 job->prefix, i + 1, job->wallet, job->token, job->prefix, i + 1);

	return (n > 0 && (size_t) n < buflen) ? n : -1;
}

/* Sign this thread's share of the requests into job->out. */
static void *
sign_range(void *arg)
{
	Job		   *job = arg;
	char		body[4096];
	char		sig[ANTSIG_MAX_ENCODED];
	char		header[ANTSIG_MAX_HEADER];
	size_t		cap = (size_t) (job->last - job->first) * 1024 + LINE_MAX_LEN;

	job->out = malloc(cap);
	if (job->out == NULL)
	{
		job->failed = 1;
		return NULL;
	}
	for (long i = job->first; i < job->last; i++)
	{
		int			blen = pay_body(job, i, body, sizeof(body));
		AntSigMessage msg = {"POST", job->path, job->client_id, job->time, body, 0};
		int			n;

		if (blen < 0)
		{
			job->failed = 1;
			return NULL;
		}
		msg.body_len = (size_t) blen;
		if (!antsig_sign(job->key, &msg, sig) ||
			!antsig_format_header(header, sizeof(header), 1, sig))
		{
			job->failed = 1;
			return NULL;
		}
		if (job->outlen + LINE_MAX_LEN > cap)
		{
			cap *= 2;
			job->out = realloc(job->out, cap);
			if (job->out == NULL)
			{
				job->failed = 1;
				return NULL;
			}
		}
		n = snprintf(job->out + job->outlen, cap - job->outlen, "%s\t%s\t%s\n",
					 job->time, header, body);
		job->outlen += (size_t) n;
	}
	return NULL;
}

/* Parse the arguments, sign N requests on JOBS threads, write them in order. */
int
main(int argc, char **argv)
{
	int			jobs = 1;
	int			opt;
	char	   *keytext;
	size_t		keylen;
	char		err[256];
	EVP_PKEY   *key;
	long		n;
	char	   *end;
	char		now[32];
	struct timeval tv;
	Job		   *job;
	pthread_t  *tid;
	FILE	   *out;

	while ((opt = getopt(argc, argv, "j:")) != -1)
	{
		if (opt == 'j' && (jobs = atoi(optarg)) >= 1 && jobs <= 256)
			continue;
		fprintf(stderr, "usage: presign [-j JOBS] KEYFILE CLIENT_ID PATH TOKEN WALLET N PREFIX OUTFILE\n");
		return 2;
	}
	if (argc - optind != 8)
	{
		fprintf(stderr, "usage: presign [-j JOBS] KEYFILE CLIENT_ID PATH TOKEN WALLET N PREFIX OUTFILE\n");
		return 2;
	}
	errno = 0;
	n = strtol(argv[optind + 5], &end, 10);
	if (errno || *end || n < 1 || n > 9999999)
		die("N must be 1..9999999, not \"%s\"", argv[optind + 5]);

	keytext = slurp(argv[optind], &keylen);
	key = antsig_load_private(keytext, keylen, err, sizeof(err));
	if (key == NULL)
		die("%s", err);
	free(keytext);

	gettimeofday(&tv, NULL);
	snprintf(now, sizeof(now), "%lld", (long long) tv.tv_sec * 1000 + tv.tv_usec / 1000);

	job = calloc((size_t) jobs, sizeof(Job));
	tid = calloc((size_t) jobs, sizeof(pthread_t));
	if (job == NULL || tid == NULL)
		die("out of memory%s", "");
	for (int t = 0; t < jobs; t++)
	{
		job[t].key = key;
		job[t].client_id = argv[optind + 1];
		job[t].path = argv[optind + 2];
		job[t].token = json_escape(argv[optind + 3], "TOKEN");
		job[t].wallet = json_escape(argv[optind + 4], "WALLET");
		job[t].prefix = json_escape(argv[optind + 6], "PREFIX");
		job[t].time = now;
		job[t].first = n * t / jobs;
		job[t].last = n * (t + 1) / jobs;
		if (strchr(job[t].client_id, '\t') || strchr(job[t].client_id, '\n'))
			die("CLIENT_ID must not hold tabs or line breaks%s", "");
		if (pthread_create(&tid[t], NULL, sign_range, &job[t]) != 0)
			die("cannot start a thread%s", "");
	}

	out = strcmp(argv[optind + 7], "-") == 0 ? stdout : fopen(argv[optind + 7], "wb");
	if (out == NULL)
		die("cannot create %s", argv[optind + 7]);
	for (int t = 0; t < jobs; t++)
	{
		pthread_join(tid[t], NULL);
		if (job[t].failed)
			die("signing failed%s", "");
		if (fwrite(job[t].out, 1, job[t].outlen, out) != job[t].outlen)
			die("cannot write %s", argv[optind + 7]);
		free(job[t].out);
	}
	if (fclose(out) != 0)
		die("cannot write %s", argv[optind + 7]);
	EVP_PKEY_free(key);
	return 0;
}
