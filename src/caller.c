/*
 * caller.c
 *	  Who is calling: the role a tenancy check is about.
 *
 *	  The API functions are SECURITY DEFINER, so inside them current_user is
 *	  the extension's owner.  The role that called in is the session's
 *	  current role (the login role, or the one chosen with SET ROLE): the
 *	  "outer" user, which a SECURITY DEFINER call does not change.
 */
#include "autodebit.h"

#include "fmgr.h"
#include "miscadmin.h"

PG_FUNCTION_INFO_V1(autodebit_caller);

/* SQL: autodebit._caller() -> the OID of the role the session acts as. */
Datum
autodebit_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(GetOuterUserId());
}
