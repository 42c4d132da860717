/*
 * antom_api.h
 *	  The Antom Auto Debit APIs, in one table shared by the extension and the
 *	  sandbox acquirer: the name autodebit uses, the path under /v1/, whether
 *	  it moves money (the extension journals those before sending), where in
 *	  the request its secret goes, which member of the answer must echo our
 *	  request id, and whether a decline must name it too.
 */
#ifndef ANTOM_API_H
#define ANTOM_API_H

#include <stdbool.h>

typedef struct AntomApi
{
	const char *name;			/* "pay" */
	const char *path;			/* "payments/pay" */
	bool		money;
	const char *secret_path;	/* dotted path of the member holding the secret, or NULL */
	const char *request_id_key; /* answer member naming our request, or NULL */
	bool		decline_names_request;
} AntomApi;

/* Every API, ending with an entry whose name is NULL. */
extern const AntomApi antom_apis[];

/* Index of an API by name or by path in antom_apis[], or -1. */
extern int	antom_api_by_name(const char *name);
extern int	antom_api_by_path(const char *path);

#endif							/* ANTOM_API_H */
