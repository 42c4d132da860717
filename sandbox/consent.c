/*
 * consent.c
 *	  The wallet's authorization page behind consult's authUrl.  A person
 *	  reads it and presses Agree or Decline; a script adds &decision=.
 *	  With &reply=json the decision is answered as JSON instead of a 302:
 *	  the super-app simulator's webview reads the redirect's query that way,
 *	  as a real super app intercepts the redirect natively.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static unsigned long next_user = 1;

/* HTML-escape s into a malloc'd string. */
static char *
html_escape(const char *s)
{
	size_t		n = 0;
	char	   *out;
	char	   *o;

	for (const char *p = s; *p; p++)
		n += (*p == '&') ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"') ? 6 : (*p == '\'') ? 5 : 1;
	out = o = malloc(n + 1);
	for (const char *p = s; *p; p++)
	{
		switch (*p)
		{
			case '&':
				o = stpcpy(o, "&amp;");
				break;
			case '<':
				o = stpcpy(o, "&lt;");
				break;
			case '>':
				o = stpcpy(o, "&gt;");
				break;
			case '"':
				o = stpcpy(o, "&quot;");
				break;
			case '\'':
				o = stpcpy(o, "&#39;");
				break;
			default:
				*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* redirect + ("?" or "&") + the query pairs, each value URL-encoded. */
static char *
redirect_with(const char *redirect, const char *k1, const char *v1,
			  const char *k2, const char *v2)
{
	char	   *e1 = curl_easy_escape(NULL, v1, 0);
	char	   *e2 = curl_easy_escape(NULL, v2, 0);
	char	   *out;

	if (asprintf(&out, "%s%s%s=%s&%s=%s", redirect, strchr(redirect, '?') ? "&" : "?",
				 k1, e1, k2, e2) < 0)
		out = NULL;
	curl_free(e1);
	curl_free(e2);
	return out;
}

/* A small HTML page with a title and a message. */
static char *
simple_page(const char *title, const char *message)
{
	char	   *out;

	if (asprintf(&out, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"
				 "<body style=\"font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em\">"
				 "<h1>%s</h1><p>%s</p></body></html>\n", title, title, message) < 0)
		out = NULL;
	return out;
}

/* The scopes array as "A, B" (malloc'd). */
static char *
join_scopes(json_t *scopes)
{
	size_t		n = 1;
	size_t		i;
	json_t	   *v;
	char	   *out;

	json_array_foreach(scopes, i, v)
		n += strlen(json_string_value(v) ? json_string_value(v) : "") + 2;
	out = calloc(1, n);
	json_array_foreach(scopes, i, v)
	{
		if (i > 0)
			strcat(out, ", ");
		strcat(out, json_string_value(v) ? json_string_value(v) : "");
	}
	return out;
}

/* The page that asks the user to agree or decline. */
static char *
ask_page(json_t *session, const char *session_id)
{
	char	   *client = html_escape(json_string_value(json_object_get(session, "clientId")));
	char	   *wallet = html_escape(json_string_value(json_object_get(session, "wallet")));
	char	   *redirect = html_escape(json_string_value(json_object_get(session, "redirect")));
	char	   *scopes_list = join_scopes(json_object_get(session, "scopes"));
	char	   *scopes = html_escape(scopes_list);
	char	   *out;

	if (asprintf(&out,
				 "<!doctype html><html><head><meta charset=\"utf-8\">"
				 "<title>%s wallet: authorize automatic payments</title></head>"
				 "<body style=\"font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em\">"
				 "<p><small>autodebit sandbox wallet</small></p>"
				 "<h1>%s: authorize automatic payments</h1>"
				 "<p>The merchant <b>%s</b> asks to debit your <b>%s</b> wallet "
				 "automatically, without asking you each time (scopes: %s).</p>"
				 "<p>You can cancel this authorization at any time in your wallet.</p>"
				 "<form method=\"get\" action=\"/sandbox/authorize\">"
				 "<input type=\"hidden\" name=\"session\" value=\"%s\">"
				 "<p><label>Wallet user (login id): <input name=\"user\" placeholder=\"a new user\"></label></p>"
				 "<p><button name=\"decision\" value=\"agree\">Agree</button> "
				 "<button name=\"decision\" value=\"decline\">Decline</button></p>"
				 "</form><p><small>Afterwards you go back to %s</small></p></body></html>\n",
				 wallet, wallet, client, wallet, scopes, session_id, redirect) < 0)
		out = NULL;
	free(client);
	free(wallet);
	free(redirect);
	free(scopes_list);
	free(scopes);
	return out;
}

/* Agree: mint a single-use authCode (into code[40]), tell the merchant (if asked), redirect. */
static int
agree(json_t *session, const char *user, char *code, char **body, char **location)
{
	char		login[64];
	const char *state = json_string_value(json_object_get(session, "authState"));
	const char *notify = json_string_value(json_object_get(session, "authNotifyUrl"));

	if (user == NULL || user[0] == '\0')
	{
		snprintf(login, sizeof(login), "sandbox-user-%06lu", next_user++);
		user = login;
	}
	store_user(user);
	random_id("sbx_ac_", 24, code, 40);
	json_object_set_new(store_codes, code,
						json_pack("{s:s,s:s,s:s,s:s,s:s*,s:f,s:b}",
								  "clientId", json_string_value(json_object_get(session, "clientId")),
								  "wallet", json_string_value(json_object_get(session, "wallet")),
								  "authState", state, "userLoginId", user,
								  "authNotifyUrl", notify,
								  "expires", now_epoch() + cfg.authcode_ttl, "used", 0));
	if (notify == NULL)
		notify = cfg.auth_notify_url;
	if (notify)
		notify_auth(notify, json_string_value(json_object_get(session, "clientId")),
					json_pack("{s:s,s:s,s:s,s:s}",
							  "authorizationNotifyType", "AUTHCODE_CREATED",
							  "authCode", code, "authState", state, "userLoginId", user));
	*location = redirect_with(json_string_value(json_object_get(session, "redirect")),
							  "authCode", code, "authState", state);
	*body = simple_page("Authorized", "Returning to the merchant.");
	return 302;
}

/*
 * Answer a decision as JSON instead of its redirect: the redirect's URL and the query pairs it
 * carries replace the page in *body, and there is no Location; returns 200.
 */
static int
as_json(json_t *session, const char *code, const char *error, char **body, char **location)
{
	json_t	   *o = json_pack("{s:s?,s:s?,s:s?,s:s?}", "location", *location,
							  "authState", json_string_value(json_object_get(session, "authState")),
							  "authCode", code, "error", error);

	free(*body);
	*body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(*location);
	*location = NULL;
	return 200;
}

/* Serve the consent page for a session (store_lock held); returns the HTTP status. */
int
consent_page(const char *session_id, const char *decision, const char *user,
			 bool reply_json, char **body, char **location)
{
	json_t	   *session = session_id ? json_object_get(store_sessions, session_id) : NULL;

	*location = NULL;
	if (session == NULL)
	{
		*body = simple_page("Unknown authorization", "This authorization link is not known.");
		return 404;
	}
	if (json_is_true(json_object_get(session, "decided")))
	{
		*body = simple_page("Already decided", "This authorization link has been used already.");
		return 410;
	}
	if (decision == NULL || decision[0] == '\0')
	{
		*body = ask_page(session, session_id);
		return 200;
	}
	if (strcmp(decision, "agree") == 0)
	{
		char		code[40];
		int			status;

		json_object_set_new(session, "decided", json_true());
		status = agree(session, user, code, body, location);
		return reply_json ? as_json(session, code, NULL, body, location) : status;
	}
	if (strcmp(decision, "decline") == 0)
	{
		json_object_set_new(session, "decided", json_true());
		*location = redirect_with(json_string_value(json_object_get(session, "redirect")),
								  "authState",
								  json_string_value(json_object_get(session, "authState")),
								  "error", "USER_DECLINED");
		*body = simple_page("Declined", "Returning to the merchant.");
		return reply_json ? as_json(session, NULL, "USER_DECLINED", body, location) : 302;
	}
	*body = simple_page("Bad decision", "decision must be agree or decline.");
	return 400;
}
