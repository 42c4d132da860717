/*
 * faults.c
 *	  Fault injection: a standing spec rolled per request with seeded dice,
 *	  and a queue of forced faults for the next matching requests.
 *
 *	  Spec grammar: KIND=PROBABILITY[:MS][@API], comma separated.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "antom_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 32

/* One spec entry or one forced fault. */
typedef struct FaultEntry
{
	FaultKind	kind;
	double		probability;
	int			ms;
	char		api[32];		/* "" = every API */
	int			count;			/* forced queue only: requests left */
} FaultEntry;

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static FaultEntry standing[MAX_ENTRIES];
static int	nstanding;
static char standing_spec[1024];
static FaultEntry forced[MAX_ENTRIES];
static int	nforced;
static unsigned short dice[3];
static bool dice_seeded;

static const struct
{
	const char *name;
	FaultKind	kind;
	int			default_ms;
	bool		applied;		/* is the request carried out before the fault? */
}			kinds[] = {
	{"latency", FAULT_LATENCY, 1000, true},
	{"reset", FAULT_RESET, 0, true},
	{"http500", FAULT_HTTP500, 0, false},
	{"traffic", FAULT_TRAFFIC, 0, false},
	{"unknown", FAULT_UNKNOWN, 0, true},
	{"unsigned", FAULT_UNSIGNED, 0, true},
	{"badsig", FAULT_BADSIG, 0, true},
	{"truncate", FAULT_TRUNCATE, 0, true},
	{"slowbody", FAULT_SLOWBODY, 2000, true},
	{"replay", FAULT_REPLAY, 0, true},
	{"stale", FAULT_STALE, 0, true},
	{"deep", FAULT_DEEP, 0, true},
	{"badutf8", FAULT_BADUTF8, 0, true},
	{"badtime", FAULT_BADTIME, 0, true},
	{"bignum", FAULT_BIGNUM, 0, true},
	{"foreignfail", FAULT_FOREIGNFAIL, 0, true},
	{NULL, FAULT_NONE, 0, false}
};


/* Index of a kind name in kinds[], or -1. */
static int
kind_index(const char *name, size_t len)
{
	for (int i = 0; kinds[i].name; i++)
		if (strlen(kinds[i].name) == len && strncmp(kinds[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Index of a kind value in kinds[]. */
static int
kind_slot(FaultKind kind)
{
	for (int i = 0; kinds[i].name; i++)
		if (kinds[i].kind == kind)
			return i;
	return -1;
}

/* The name of a fault kind ("none" for none). */
const char *
fault_name(FaultKind kind)
{
	int			i = kind_slot(kind);

	return i < 0 ? "none" : kinds[i].name;
}

/* Does the fault kind let the request be carried out first? */
bool
fault_applies_request(FaultKind kind)
{
	int			i = kind_slot(kind);

	return i < 0 || kinds[i].applied;
}

/* Is name one of the eight API names (or empty)? */
static bool
api_known(const char *name)
{
	if (name[0] == '\0')
		return true;
	for (int i = 0; antom_apis[i].name; i++)
		if (strcmp(antom_apis[i].name, name) == 0)
			return true;
	return false;
}

/* Parse one KIND=P[:MS][@API] item. */
static bool
parse_item(const char *item, FaultEntry *e, char *err, size_t errlen)
{
	const char *eq = strchr(item, '=');
	const char *at = strchr(item, '@');
	const char *colon;
	char	   *end;
	int			k;

	memset(e, 0, sizeof(*e));
	k = kind_index(item, eq ? (size_t) (eq - item) : (at ? (size_t) (at - item) : strlen(item)));
	if (k < 0)
	{
		snprintf(err, errlen, "unknown fault kind in \"%s\" (latency, reset, http500, traffic, unknown, unsigned, badsig, truncate, slowbody, replay, stale, deep, badutf8, badtime, bignum, foreignfail)", item);
		return false;
	}
	e->kind = kinds[k].kind;
	e->ms = kinds[k].default_ms;
	e->probability = 1.0;
	if (eq)
	{
		e->probability = strtod(eq + 1, &end);
		if (end == eq + 1 || e->probability < 0 || e->probability > 1)
		{
			snprintf(err, errlen, "fault probability in \"%s\" must be between 0 and 1", item);
			return false;
		}
		colon = (*end == ':') ? end : NULL;
		if (colon)
		{
			e->ms = (int) strtol(colon + 1, &end, 10);
			if (end == colon + 1 || e->ms < 0)
			{
				snprintf(err, errlen, "fault milliseconds in \"%s\" must be a non-negative integer", item);
				return false;
			}
		}
		if (*end != '\0' && *end != '@')
		{
			snprintf(err, errlen, "cannot parse fault \"%s\"", item);
			return false;
		}
	}
	if (at)
	{
		snprintf(e->api, sizeof(e->api), "%s", at + 1);
		if (!api_known(e->api))
		{
			snprintf(err, errlen, "unknown API \"%s\" in fault \"%s\"", e->api, item);
			return false;
		}
	}
	return true;
}

/* Replace the standing faults with a parsed spec; false (and err) on a bad spec. */
bool
faults_set_spec(const char *spec, char *err, size_t errlen)
{
	FaultEntry	parsed[MAX_ENTRIES];
	int			n = 0;
	char	   *copy = strdup(spec ? spec : "");
	char	   *save = NULL;

	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
	{
		while (*item == ' ')
			item++;
		if (*item == '\0')
			continue;
		if (n == MAX_ENTRIES || !parse_item(item, &parsed[n], err, errlen))
		{
			if (n == MAX_ENTRIES)
				snprintf(err, errlen, "at most %d fault entries", MAX_ENTRIES);
			free(copy);
			return false;
		}
		n++;
	}
	free(copy);

	pthread_mutex_lock(&fault_lock);
	memcpy(standing, parsed, sizeof(FaultEntry) * n);
	nstanding = n;
	snprintf(standing_spec, sizeof(standing_spec), "%s", spec ? spec : "");
	if (!dice_seeded)
	{
		dice[0] = 0x330E;
		dice[1] = (unsigned short) cfg.seed;
		dice[2] = (unsigned short) (cfg.seed >> 16);
		dice_seeded = true;
	}
	pthread_mutex_unlock(&fault_lock);
	return true;
}

/* Force a fault kind on the next count requests to api ("" = any). */
bool
faults_force(const char *kind, const char *api, int count, char *err, size_t errlen)
{
	char		item[96];
	FaultEntry	e;

	snprintf(item, sizeof(item), "%s%s%s", kind, api && *api ? "@" : "", api ? api : "");
	if (!parse_item(item, &e, err, errlen))
		return false;
	if (count < 1)
	{
		snprintf(err, errlen, "count must be at least 1");
		return false;
	}
	e.count = count;
	pthread_mutex_lock(&fault_lock);
	if (nforced == MAX_ENTRIES)
	{
		pthread_mutex_unlock(&fault_lock);
		snprintf(err, errlen, "at most %d forced faults may wait", MAX_ENTRIES);
		return false;
	}
	forced[nforced++] = e;
	pthread_mutex_unlock(&fault_lock);
	return true;
}

/* Forget every standing and forced fault. */
void
faults_clear(void)
{
	pthread_mutex_lock(&fault_lock);
	nstanding = 0;
	nforced = 0;
	standing_spec[0] = '\0';
	pthread_mutex_unlock(&fault_lock);
}

/* Choose the fault (if any) for one request to api. */
Fault
faults_roll(const char *api)
{
	Fault		f = {FAULT_NONE, 0};

	pthread_mutex_lock(&fault_lock);
	for (int i = 0; i < nforced; i++)
	{
		if (forced[i].api[0] && strcmp(forced[i].api, api) != 0)
			continue;
		f.kind = forced[i].kind;
		f.ms = forced[i].ms;
		if (--forced[i].count == 0)
		{
			memmove(&forced[i], &forced[i + 1], sizeof(FaultEntry) * (nforced - i - 1));
			nforced--;
		}
		pthread_mutex_unlock(&fault_lock);
		return f;
	}
	for (int i = 0; i < nstanding; i++)
	{
		if (standing[i].api[0] && strcmp(standing[i].api, api) != 0)
			continue;
		if (erand48(dice) < standing[i].probability)
		{
			f.kind = standing[i].kind;
			f.ms = standing[i].ms;
			break;
		}
	}
	pthread_mutex_unlock(&fault_lock);
	return f;
}

/* The standing spec and forced queue, for the admin endpoint. */
json_t *
faults_describe(void)
{
	json_t	   *queue = json_array();

	pthread_mutex_lock(&fault_lock);
	for (int i = 0; i < nforced; i++)
		json_array_append_new(queue, json_pack("{s:s,s:s,s:i}",
											   "kind", kinds[kind_slot(forced[i].kind)].name,
											   "api", forced[i].api,
											   "count", forced[i].count));
	pthread_mutex_unlock(&fault_lock);
	return json_pack("{s:s,s:o}", "spec", standing_spec, "next", queue);
}
