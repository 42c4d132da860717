/*
 * superapp.c
 *	  The super-app simulator: a phone-shaped page (sandbox/superapp/) that
 *	  plays a merchant's mini program (examples/mini-program/) with the my.*
 *	  APIs of the seed flow.  Files only: the page does its work in the
 *	  browser, against this sandbox's consent page and the merchant's backend.
 *
 *	  /sandbox/superapp/			 the simulator (--superapp DIR)
 *	  /sandbox/superapp/app/...	 the mini program (--mini-program DIR)
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The content type of a file name; mini-program sources are shown as text. */
static const char *
content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=UTF-8";
	if (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0)
		return "text/javascript; charset=UTF-8";
	if (strcmp(dot, ".css") == 0 || strcmp(dot, ".acss") == 0)
		return "text/css; charset=UTF-8";
	if (strcmp(dot, ".json") == 0)
		return "application/json";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return "text/plain; charset=UTF-8";	/* .axml and the rest */
}

/* True for a relative path of plain names: no "..", no empty or hidden segment. */
static bool
safe_path(const char *p)
{
	if (*p == '\0' || p[strlen(p) - 1] == '/')
		return false;
	for (const char *seg = p; *seg; )
	{
		const char *end = strchrnul(seg, '/');

		if (end == seg || seg[0] == '.')
			return false;
		for (const char *c = seg; c < end; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
				return false;
		seg = *end ? end + 1 : end;
	}
	return true;
}

/*
 * The file a /sandbox/superapp path names (path is what follows that
 * prefix, "/..."), malloc'd with its length and content type; or NULL and
 * why (a line of text for the 404).
 */
char *
superapp_file(const char *path, size_t *len, const char **type, const char **why)
{
	const char *dir = cfg.superapp_dir;
	const char *rel = path + 1;
	char	   *full;
	char	   *text;

	if (strncmp(path, "/app/", 5) == 0)
	{
		dir = cfg.mini_program_dir;
		rel = path + 5;
		if (dir == NULL)
		{
			*why = "no mini program here: start the sandbox with --mini-program DIR\n";
			return NULL;
		}
	}
	else if (dir == NULL)
	{
		*why = "no super-app simulator here: start the sandbox with --superapp DIR\n";
		return NULL;
	}
	if (*rel == '\0')
		rel = "index.html";
	if (!safe_path(rel))
	{
		*why = "not found\n";
		return NULL;
	}
	if (asprintf(&full, "%s/%s", dir, rel) < 0)
	{
		*why = "out of memory\n";
		return NULL;
	}
	text = read_file(full, len);
	free(full);
	if (text == NULL)
	{
		*why = "not found\n";
		return NULL;
	}
	*type = content_type(rel);
	return text;
}
